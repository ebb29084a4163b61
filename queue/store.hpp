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
#include <utility>
#include <vector>

#include "core/envelope.hpp"
#include "queue/group_commit.hpp"
#include "queue/message_file.hpp"
#include "queue/queue_name.hpp"

namespace imta::queue {

namespace fs = std::filesystem;

/// How enqueue makes a copy durable before reporting success.
enum class SyncMode : std::uint8_t {
  /// Group commit (default): write the file, rename it into place, then one
  /// barrier (see GroupBarrier) shared by every enqueue that is waiting at
  /// that moment. A crash before the barrier can leave a file without its
  /// end marker; the scan removes it (it was never acknowledged).
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
  /// A file under a queue name without its end marker (left by a machine
  /// crash before the commit barrier) is removed by the scan once it is this
  /// old and nobody holds its lock.
  std::chrono::seconds incomplete_grace{60};
  /// The barrier SyncMode::group runs for each batch. Both measured alike
  /// on a busy shared disk (tests/bench/bench_enqueue.cpp); syncfs is one
  /// call and one flush, and was far ahead when the disk was quiet.
  GroupBarrier group_barrier = GroupBarrier::syncfs;
  /// How long the commit thread may wait for messages on their way before
  /// it starts a batch's barrier (group_commit.hpp: gathering). Tests set
  /// it long to see the wait; there is no option for it.
  std::chrono::microseconds commit_gather{400};
  /// Copies start as unnamed files (O_TMPFILE) linked into place at commit,
  /// where the system allows it; false: always hidden named temporaries
  /// (.tmp.*) renamed into place. (Both are crash-safe; unnamed is cheaper.)
  bool unnamed_temporaries = true;
  /// Recycling (QUEUE_RECYCLE): complete() moves a delivered file of at most
  /// recycle_max_size bytes into one of recycle_slots slots of
  /// queue/.recycle (a free slot; none free: removed as before), and begin()
  /// writes new copies into such files before it makes new ones. A file
  /// reused this way costs no inode and block allocation (and its freeing
  /// no truncation, block release and discard), and on ext4 without a
  /// journal no walk over every inode freed in the last minute, which each
  /// creation pays while a busy queue deletes what it delivered. Crash
  /// safety comes from the seal (message_file.hpp): a recycled file renamed
  /// into place whose new bytes did not reach the disk shows another id or
  /// a wrong check and is moved to .bad, never delivered.
  bool recycle = false;
};

inline constexpr unsigned recycle_slots = 1024;
inline constexpr std::uint64_t recycle_max_size = 64 * 1024;

/// Sets `options` from the QUEUE_SYNC option (option.dat): "syncfs" (the
/// default), "fdatasync" or "file".
void apply_queue_sync(StoreOptions& options, std::string_view setting);

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
  std::string path;  ///< full path (a string: made for every enqueued file, and fs::path splits it into parts)
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
  /// visible. Returns the paths of the committed files. Not to be called
  /// from a commit_async callback (it would wait for its own thread).
  std::error_code commit(std::vector<QueuePath>* committed = nullptr);
  /// The same without blocking: `done` runs on the store's commit thread
  /// once the copies are durable (or failed and were removed). The SMTP
  /// server posts it back to its own executor. The last bytes, the end
  /// marker and (group mode) the rename are written before this returns;
  /// only the waiting for the disk happens on the commit thread. The
  /// Transaction may be destroyed before `done` runs; the Store may not.
  void commit_async(std::function<void(std::error_code, std::vector<QueuePath>)> done);
  /// Removes everything written so far.
  void abort();

  /// The id shared by the copies (each copy file has its own name). Copies
  /// to the same channel get an id of their own after the first (one name
  /// per folder); the paths commit() reports are the truth.
  const std::string& id() const;

 private:
  friend class Store;
  struct Impl;
  explicit Transaction(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

namespace detail {
struct StoreCore;
}

/// A message that is on its way to the store (an SMTP transaction past MAIL
/// FROM, say): while such messages exist, a commit batch waits a little for
/// them (group_commit.hpp: gathering). Held from the moment a message is
/// expected until handed_over() (just before its commit) or destruction (the
/// message will not come: RSET, refusal, the session ends). Movable.
class ExpectedMessage {
 public:
  ExpectedMessage() = default;
  ExpectedMessage(ExpectedMessage&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}
  ExpectedMessage& operator=(ExpectedMessage&& other) noexcept;
  ~ExpectedMessage() { release(false); }
  /// The message is being committed now: released without waking the
  /// commit thread (the commit itself does).
  void handed_over() { release(true); }

 private:
  friend class Store;
  explicit ExpectedMessage(detail::StoreCore* core) : core_(core) {}
  void release(bool handed_over);
  detail::StoreCore* core_ = nullptr;
};

/// What the scan reports for one file (from its name and stat, without
/// reading it).
struct QueueEntry {
  std::string channel;
  QueueFileName name;
  fs::path path;
  std::uint64_t file_size = 0;
  std::int64_t arrival_ms = 0;       ///< from the id
  std::int64_t last_attempt_ms = 0;  ///< mtime (set by retry(), kept by note()); 0 if never tried
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
  Claim(QueueEntry entry, ParsedFile file, int fd, std::string message = {})
      : entry_(std::move(entry)), file_(std::move(file)), fd_(fd), message_(std::move(message)) {}
  QueueEntry entry_;
  ParsedFile file_;
  int fd_ = -1;
  /// The message bytes when the claim's first read covered the whole file
  /// (small messages); empty otherwise: message() reads them then.
  std::string message_;
  bool finished_ = false;  ///< completed: the file is gone
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
  std::unique_ptr<Transaction> begin(const std::vector<Copy>& copies, std::error_code& error);
  /// Announces a message that will most likely be enqueued soon (see
  /// ExpectedMessage). Cheap: one atomic increment.
  ExpectedMessage expect_message();

  // --- scan --------------------------------------------------------------
  /// Calls `visit` for every queue file, channel by channel, as it is found
  /// (streaming: nothing is collected first). With options.cleanup, stale
  /// temporaries are removed, files without end marker (never acknowledged)
  /// removed and files that do not parse moved to queue/.bad/; `note` hears
  /// about each such action (for logging).
  void scan(const ScanOptions& options, const std::function<void(const QueueEntry&)>& visit,
            const std::function<void(std::string_view)>& note = {}) const;
  /// Finds a file by id or by file name in any channel (or in `channel`).
  /// Ids are not case sensitive. The copies of one message in different
  /// channels share the id: this returns the first (channels in name order).
  std::optional<QueueEntry> find(std::string_view id_or_name, std::string_view channel = {}) const;
  /// Every file with that id or name (one per channel copy).
  std::vector<QueueEntry> find_all(std::string_view id_or_name, std::string_view channel = {}) const;
  /// Reads and parses a file without locking it (for listings). Reads the
  /// header and what follows the message (end marker, history), not the
  /// message itself. A file that cannot be opened comes back as corrupt
  /// with error "no such message" (ENOENT) or the system error.
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
  /// The new file keeps the name (attempts unchanged) and replaces the old
  /// one in a single rename, so a crash leaves one or the other, never both;
  /// the claim continues on the new file (call retry() to count an attempt).
  OpResult partial(Claim& claim, const std::vector<core::Recipient>& remaining,
                   const std::vector<HistoryRecord>& records) const;
  /// Appends history records without renaming (e.g. "warned"); the file's
  /// modification time (the last attempt time) stays as it was.
  OpResult note(Claim& claim, const std::vector<HistoryRecord>& records) const;

  // --- administration (imta qm): take the lock, refuse files in delivery ---
  /// Removes the file (no history, no notification: the caller logs).
  OpResult remove(const QueueEntry& entry) const;
  /// Renames <name>.00 to <name>.HELD ("already held" if it is).
  OpResult hold(const QueueEntry& entry) const;
  /// Renames <name>.HELD back to <name>.00 ("not held" if it is not).
  OpResult release(const QueueEntry& entry) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imta::queue
