// `imta purge`: removing old versions of the per-program log files.
//
// What counts as a version: a regular file directly in log/ whose name is
// `<name>.log-<id>` with a non-empty <id> (Sun's `tcp_local_master.log-01ABC`,
// `dispatcher.log-2`, `return.log-20261121`): debug and diagnostic output a
// program writes once per run. Files of one <name>.log are versions of the
// same log. Nothing else is ever touched: not mail.log, mail.log_current,
// mail.log_yesterday, connection.log*, return.log, nor hidden files.
//
// Rules (one per run): keep the newest N versions of each log (`-num=N`,
// the default with N = 5), or remove versions last modified more than N days
// (`-day=N`) or hours (`-hour=N`) ago. Newest means latest modification time,
// then the greater name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imta::core::log {

/// `tcp_local_master.log` for `tcp_local_master.log-01ABC`; nullopt for a
/// name that is not a log version.
std::optional<std::string> log_version_group(std::string_view file_name);

struct LogVersion {
    std::string name;           ///< file name in log/
    std::int64_t modified = 0;  ///< seconds since the epoch
};

struct PurgeRule {
    std::optional<int> keep_newest = {};              ///< -num=N
    std::optional<std::int64_t> older_than = {};      ///< -day / -hour, in seconds
};

/// The names to remove among `versions` (names that are not versions are
/// ignored), sorted. Pure.
std::vector<std::string> versions_to_purge(const std::vector<LogVersion>& versions, const PurgeRule& rule,
                                           std::int64_t now);

struct PurgeReport {
    std::vector<std::string> removed;  ///< file names (or, dry run, to be removed)
    std::vector<std::string> errors;
};

/// Applies `rule` to the versions in `log_dir` whose name matches the shell
/// pattern `pattern` (fnmatch; "*" for all).
PurgeReport purge_log_versions(const std::filesystem::path& log_dir, const PurgeRule& rule,
                               const std::string& pattern = "*", bool dry_run = false);

}  // namespace imta::core::log
