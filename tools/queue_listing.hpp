// Reading the queue for listings: what `imta qm` (directory, summarize, read,
// history, ...) and mailq(1) share. Compiled into both the imta and the
// sendmail programs. Queue files are read without locking them, so a listing
// never gets in a master's way, and nothing is cleaned up here (that is the
// scheduler's scan).
#pragma once

#include <cstdint>
#include <functional>
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

/// Loads the compiled configuration of `instance` and opens its queue, the
/// root made absolute so listings name files unambiguously. Throws
/// config::ImageError when the image is missing or unusable.
std::unique_ptr<QueueManager> open_listing(const core::Instance& instance);

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

/// Every queue file of `channel` (every channel when empty), in scan order,
/// read and handed to `visit`. `wanted`, when set, decides from the name and
/// stat alone whether a file is read at all. Files that vanish meanwhile are
/// skipped; one that cannot be read is reported on standard error as
/// "<who>: channel/file: cannot be read: why". Returns false when any was.
bool scan_messages(const QueueManager& qm, const std::string& channel, std::string_view who,
                   const std::function<bool(const queue::QueueEntry&)>& wanted,
                   const std::function<void(Message&&)>& visit);

/// `channel/file` (the file's place under queue/, without subfolders).
std::string display_name(const queue::QueueEntry& entry);

/// The envelope sender, or `<>` for the null sender.
std::string sender_text(const core::Envelope& e);

/// The last error recorded for `r` (deferred or bounced, for it or for the
/// whole file), or "" when it has none.
std::string last_error(const core::Recipient& r, const std::vector<queue::HistoryRecord>& history);

/// When the message is due again (Unix ms), or nullopt when it is held.
std::optional<std::int64_t> next_retry(const QueueManager& qm, const queue::QueueEntry& entry);

/// One line (without the newline) of `imta qm directory --json`, which
/// `mailq --json` prints too: file, channel, id, path, arrival_time, size,
/// sender, message_id, recipients [{address, original, last_error}],
/// attempts, last_attempt_time, next_retry_time, held. Times in Unix seconds.
std::string directory_json(const QueueManager& qm, const Message& m);

/// `21-Nov-2026 10:31:05` in the local time zone.
std::string local_time(std::int64_t unix_ms);
/// A compact duration: `45s`, `12m05s`, `3h04m`, `2d07h`.
std::string duration_text(std::int64_t ms);

}  // namespace imta::tools::qm
