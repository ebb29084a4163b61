// The queue store: the only code that creates, renames or removes queue files.
//
//   queue/<channel>/[NNN/]<retry><id>.00      (.HELD when held)
//
// Enqueue writes each copy under a hidden temporary name in its target
// folder, then makes it durable and visible (see SyncMode), and only then
// reports success: the caller's 250 comes after that. Masters claim files
// with an exclusive lock and report outcomes; the store renames (retry),
// rewrites (partial) or removes (complete) the files. Everything here works
// without the daemon and between processes: the locks are flock(2) locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/envelope.hpp"
#include "queue/message_file.hpp"
#include "queue/queue_name.hpp"

namespace imta::queue {

namespace fs = std::filesystem;

/// How enqueue makes a copy durable before reporting success.
enum class SyncMode : std::uint8_t {
  /// Group commit (default): write the file, rename it into place, then one
  /// barrier (syncfs of the queue file system) shared by every enqueue that
  /// is waiting at that moment. A crash before the barrier can leave a file
  /// without its end marker; the scan removes it (it was never acknowledged).
  group,
  /// Baseline: fdatasync each file, rename, fsync the folder, per message.
  per_file,
};

struct StoreOptions {
  fs::path root;  ///< the instance's queue/ directory
  SyncMode sync = SyncMode::group;
  /// The channel's `subdirs` keyword (0 = files directly in the channel folder).
  std::function<unsigned(std::string_view channel)> subdirs;
  /// Temporary files older than this are removed by the scan (crash leftovers).
  std::chrono::seconds stale_temp_age{300};
};

/// A new unique id: 18 base-36 characters; starts with the creation time in
/// milliseconds (so ids sort by arrival and encode it), then process and
/// counter parts. Unique across processes and restarts; never reused.
std::string new_queue_id();
/// Arrival time encoded in an id (Unix ms), nullopt if the id is not ours.
std::optional<std::int64_t> id_time_ms(std::string_view id);

/// Where a file of `channel` with `name` lives (subdirs taken into account).
struct QueuePath {
  std::string channel;
  QueueFileName name;
  fs::path path;  ///< full path
};

/// One copy to enqueue: its destination channel and its envelope.
struct Copy {
  std::string channel;
  core::Envelope envelope;
};

class Store;

/// One message being enqueued to one or more copies. Stream the message
/// bytes with write(); commit() makes every copy durable and visible or none.
/// Destroying an uncommitted transaction aborts it (temporary files removed).
class Transaction {
 public:
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  /// Appends message bytes (CRLF, not dot-stuffed) to every copy.
  std::error_code write(std::string_view bytes);
  /// Finishes every copy (size, end marker), renames them into place and
  /// waits for durability; blocks the calling thread. On error nothing stays
  /// visible. Returns the paths of the committed files.
  std::error_code commit(std::vector<QueuePath>* committed = nullptr);
  /// The same without blocking: `done` runs on the store's commit thread
  /// once the copies are durable (or failed and were removed). The SMTP
  /// server posts it back to its own executor.
  void commit_async(std::function<void(std::error_code, std::vector<QueuePath>)> done);
  /// Removes everything written so far.
  void abort();

  /// The id shared by the copies (each copy file has its own name).
  const std::string& id() const;

 private:
  friend class Store;
  struct Impl;
  explicit Transaction(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// What the scan reports for one file (from its name and stat, without
/// reading it).
struct QueueEntry {
  std::string channel;
  QueueFileName name;
  fs::path path;
  std::uint64_t file_size = 0;
  std::int64_t arrival_ms = 0;       ///< from the id
  std::int64_t last_attempt_ms = 0;  ///< mtime (history appends update it); 0 if never tried
  bool held = false;
};

struct ScanOptions {
  std::string channel;       ///< empty = every channel
  bool include_held = true;
  bool cleanup = true;       ///< remove stale temporaries and unacknowledged files, quarantine corrupt ones
};

/// A file claimed by a master: holds its exclusive lock until destroyed.
/// While claimed, no other process can claim, delete, hold or release it.
class Claim {
 public:
  Claim(Claim&&) noexcept;
  Claim& operator=(Claim&&) noexcept;
  ~Claim();
  const QueueEntry& entry() const { return entry_; }
  /// The parsed file (envelope, message offset, history).
  const ParsedFile& file() const { return file_; }
  /// Reads the message bytes (the whole message) from the claimed file.
  std::string message() const;
  int fd() const { return fd_; }

 private:
  friend class Store;
  Claim(QueueEntry entry, ParsedFile file, int fd) : entry_(std::move(entry)), file_(std::move(file)), fd_(fd) {}
  QueueEntry entry_;
  ParsedFile file_;
  int fd_ = -1;
};

enum class ClaimError { busy, gone, incomplete, corrupt, io };
std::string_view claim_error_text(ClaimError e);

/// The result of the operations below that act on one file.
struct OpResult {
  bool ok = false;
  std::string error;  ///< e.g. "being delivered", "no such message"
};

class Store {
 public:
  explicit Store(StoreOptions options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const StoreOptions& options() const;

  // --- enqueue ---------------------------------------------------------------
  /// Starts an enqueue of one message to `copies` (at least one). Creates the
  /// temporary files now; an I/O error (disk full, permissions) is returned
  /// in `error` and nothing is left behind. Such errors map to 452 4.3.1.
  std::unique_ptr<Transaction> begin(std::vector<Copy> copies, std::error_code& error);

  // --- scan --------------------------------------------------------------
  /// Calls `visit` for every queue file, channel by channel, as it is found
  /// (streaming: nothing is collected first). With options.cleanup, stale
  /// temporaries are removed, files without end marker (never acknowledged)
  /// removed and files that do not parse moved to queue/.bad/; `note` hears
  /// about each such action (for logging).
  void scan(const ScanOptions& options, const std::function<void(const QueueEntry&)>& visit,
            const std::function<void(std::string_view)>& note = {}) const;
  /// Finds a file by id or by file name in any channel (or in `channel`).
  std::optional<QueueEntry> find(std::string_view id_or_name, std::string_view channel = {}) const;
  /// Reads and parses a file without locking it (for listings).
  ParsedFile read(const QueueEntry& entry) const;

  // --- masters -----------------------------------------------------------
  /// Takes the file's exclusive lock without waiting.
  std::optional<Claim> claim(const QueueEntry& entry, ClaimError* why = nullptr) const;
  /// Delivered (or returned) for every recipient: remove the file.
  OpResult complete(Claim& claim) const;
  /// Temporary failure: append `records`, rename to the next retry name.
  OpResult retry(Claim& claim, const std::vector<HistoryRecord>& records) const;
  /// Some recipients done: write a new file for `remaining` (same message,
  /// same id, history carried over plus `records`), then remove the old one.
  OpResult partial(Claim& claim, const std::vector<core::Recipient>& remaining,
                   const std::vector<HistoryRecord>& records) const;
  /// Appends history records without renaming (e.g. "warned").
  OpResult note(Claim& claim, const std::vector<HistoryRecord>& records) const;

  // --- administration (imta qm): take the lock, refuse files in delivery ---
  OpResult remove(const QueueEntry& entry) const;
  OpResult hold(const QueueEntry& entry) const;
  OpResult release(const QueueEntry& entry) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imta::queue
