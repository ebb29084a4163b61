// Inside `imta qm`: what its subcommands share. The listing subcommands live
// in imta_qm_show.cpp (directory, summarize, read, history), the ones that
// change the queue in imta_qm_act.cpp (delete, hold, release, clean); the
// dispatcher is imta_qm.cpp. Everything that touches queue files goes through
// queue::Store, so qm takes the same locks as the channel masters and works
// whether or not the daemon runs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "queue/backoff.hpp"
#include "queue/store.hpp"
#include "tools/command_line.hpp"

namespace imta::tools::qm {

/// The instance, its compiled configuration and its queue, for one run.
class QueueManager {
 public:
  QueueManager(core::Instance instance, config::Snapshot snapshot);
  QueueManager(const QueueManager&) = delete;
  QueueManager& operator=(const QueueManager&) = delete;

  const core::Instance& instance() const { return instance_; }
  const config::Snapshot& config() const { return snapshot_; }
  const queue::Store& store() const { return *store_; }
  /// "Now" for the whole run (taken once), Unix ms: ages and retry times are relative to it.
  std::int64_t now_ms() const { return now_ms_; }
  /// The retry schedule of a channel (normal priority), computed once per channel.
  const queue::RetrySchedule& schedule(const std::string& channel) const;
  /// True when `channel` is a channel of imta.cnf or has a queue folder.
  bool known_channel(std::string_view channel) const;

 private:
  core::Instance instance_;
  config::Snapshot snapshot_;  // declared before store_: the store's subdirs callback reads it
  std::unique_ptr<queue::Store> store_;
  std::int64_t now_ms_;
  mutable std::map<std::string, queue::RetrySchedule, std::less<>> schedules_;
};

/// Opens the instance named by the context and loads its compiled
/// configuration; prints why and returns nullptr when that fails.
std::unique_ptr<QueueManager> open_queue(const CommandContext& context);

/// A queue file with its parsed contents (envelope and history).
struct Message {
  queue::QueueEntry entry;
  queue::ParsedFile file;
};

/// Why load_message() did not return a message.
enum class LoadFailure { vanished, unreadable };

/// Reads `entry` (without locking it). A file that disappeared meanwhile
/// (delivered, or renamed by a retry) is `vanished`; one that does not parse is
/// `unreadable`, with the reason in `error`.
std::optional<Message> load_message(const QueueManager& qm, const queue::QueueEntry& entry,
                                    LoadFailure* failure = nullptr, std::string* error = nullptr);

/// `channel/file` (the file's place under queue/, without subfolders).
std::string display_name(const queue::QueueEntry& entry);

/// The message bytes of a queue file. With `headers_only`, stops after the
/// header section (its empty line); nullopt when the file cannot be read.
std::optional<std::string> read_message(const Message& m, bool headers_only);

/// The first value of header field `name` in `headers` (CRLF or LF), unfolded.
std::optional<std::string> header_value(std::string_view headers, std::string_view name);

/// The last error recorded for `r` (deferred or bounced, for it or for the
/// whole file), or "" when it has none.
std::string last_error(const core::Recipient& r, const std::vector<queue::HistoryRecord>& history);

/// When the message is due again (Unix ms), or nullopt when it is held.
std::optional<std::int64_t> next_retry(const QueueManager& qm, const queue::QueueEntry& entry);

/// `21-Nov-2026 10:31:05` in the local time zone.
std::string local_time(std::int64_t unix_ms);
/// A compact duration: `45s`, `12m05s`, `3h04m`, `2d07h`.
std::string duration_text(std::int64_t ms);
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
