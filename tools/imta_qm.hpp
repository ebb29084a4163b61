// Inside `imta qm`: what its subcommands share. The listing subcommands live
// in imta_qm_show.cpp (directory, summarize, read, history), the ones that
// change the queue in imta_qm_act.cpp (delete, hold, release, clean); the
// dispatcher is imta_qm.cpp. Reading the queue for listings, which mailq(1)
// does too, is in queue_listing.hpp. Everything that touches queue files goes
// through queue::Store, so qm takes the same locks as the channel masters and
// works whether or not the daemon runs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/command_line.hpp"
#include "tools/queue_listing.hpp"

namespace imta::tools::qm {

/// Opens the instance named by the context and loads its compiled
/// configuration; prints why and returns nullptr when that fails.
std::unique_ptr<QueueManager> open_queue(const CommandContext& context);

/// The message bytes of a queue file. With `headers_only`, stops after the
/// header section (its empty line); nullopt when the file cannot be read.
std::optional<std::string> read_message(const Message& m, bool headers_only);

/// The first value of header field `name` in `headers` (CRLF or LF), unfolded.
std::optional<std::string> header_value(std::string_view headers, std::string_view name);

/// A duration given on the command line: a number with a unit (`90s`,
/// `30m`, `2h`, `3d`, `1w`) or an ISO 8601 duration (`PT1H30M`). Milliseconds.
std::optional<std::int64_t> parse_duration_ms(std::string_view text);

/// ASCII case-insensitive substring test.
bool contains_nocase(std::string_view haystack, std::string_view needle);

/// The channel named by a positional CHANNEL or -channel= (they must agree);
/// empty when neither is given. Throws UsageError naming `subcommand`.
std::string channel_argument(const po::variables_map& vm, std::string_view subcommand);

// The subcommands; `args` are the words after the subcommand's name.
int qm_directory(const CommandContext& context, const std::vector<std::string>& args);
int qm_summarize(const CommandContext& context, const std::vector<std::string>& args);
int qm_read(const CommandContext& context, const std::vector<std::string>& args);
int qm_history(const CommandContext& context, const std::vector<std::string>& args);
int qm_delete(const CommandContext& context, const std::vector<std::string>& args);
int qm_hold(const CommandContext& context, const std::vector<std::string>& args);
int qm_release(const CommandContext& context, const std::vector<std::string>& args);
int qm_clean(const CommandContext& context, const std::vector<std::string>& args);
int qm_jobs(const CommandContext& context, const std::vector<std::string>& args);  // imta_delivery.cpp
int qm_return(const CommandContext& context, const std::vector<std::string>& args);  // imta_qm_return.cpp

/// The IDs of `read`/`history`/`delete`/...: words as given, `-` replaced by
/// the words of standard input, duplicates dropped, paths cut to their file
/// name. A bare `all` is a usage error pointing at `-all`.
std::vector<std::string> collect_ids(const std::vector<std::string>& words);

/// Every file of the message `id` (one per channel copy), restricted to
/// `channel` when given.
std::vector<queue::QueueEntry> find_message(const QueueManager& qm, std::string_view id,
                                            std::string_view channel);

}  // namespace imta::tools::qm
