// Old log versions; see log_purge.hpp.
#include "core/log/log_purge.hpp"

#include <algorithm>
#include <chrono>
#include <fnmatch.h>
#include <map>
#include <sys/stat.h>

namespace imta::core::log {

namespace fs = std::filesystem;

std::optional<std::string> log_version_group(std::string_view name) {
    if (name.empty() || name.front() == '.') return std::nullopt;
    const auto at = name.rfind(".log-");
    if (at == std::string_view::npos || at == 0) return std::nullopt;
    const std::string_view id = name.substr(at + 5);
    if (id.empty() || id.find('/') != std::string_view::npos) return std::nullopt;
    return std::string(name.substr(0, at + 4));
}

std::vector<std::string> versions_to_purge(const std::vector<LogVersion>& versions, const PurgeRule& rule,
                                           std::int64_t now) {
    std::map<std::string, std::vector<const LogVersion*>> groups;
    for (const auto& v : versions)
        if (auto g = log_version_group(v.name)) groups[*g].push_back(&v);
    std::vector<std::string> out;
    for (auto& [group, list] : groups) {
        std::sort(list.begin(), list.end(), [](const LogVersion* a, const LogVersion* b) {
            if (a->modified != b->modified) return a->modified > b->modified;
            return a->name > b->name;
        });
        for (std::size_t i = 0; i < list.size(); ++i) {
            bool remove = false;
            if (rule.older_than)
                remove = list[i]->modified < now - *rule.older_than;
            else
                remove = i >= static_cast<std::size_t>(std::max(0, rule.keep_newest.value_or(5)));
            if (remove) out.push_back(list[i]->name);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

PurgeReport purge_log_versions(const fs::path& log_dir, const PurgeRule& rule, const std::string& pattern,
                               bool dry_run) {
    PurgeReport report;
    std::vector<LogVersion> versions;
    std::error_code ec;
    for (fs::directory_iterator it(log_dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!log_version_group(name) || ::fnmatch(pattern.c_str(), name.c_str(), 0) != 0) continue;
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        versions.push_back({name, static_cast<std::int64_t>(st.st_mtime)});
    }
    if (ec) {
        report.errors.push_back("cannot read " + log_dir.string() + ": " + ec.message());
        return report;
    }
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    for (const auto& name : versions_to_purge(versions, rule, now)) {
        if (!dry_run) {
            std::error_code rm;
            fs::remove(log_dir / name, rm);
            if (rm) {
                report.errors.push_back("cannot remove " + (log_dir / name).string() + ": " + rm.message());
                continue;
            }
        }
        report.removed.push_back(name);
    }
    return report;
}

}  // namespace imta::core::log
