#include "queue/store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <future>
#include <mutex>
#include <map>
#include <set>
#include <unordered_map>

#include "core/text.hpp"
#include "queue/fd.hpp"
#include "queue/crc32c.hpp"
#include "queue/file_io.hpp"

namespace imta::queue {

using namespace io;  // the queue's system calls, wrapped once

namespace {

constexpr std::string_view temp_prefix = ".tmp.";
constexpr std::string_view bad_folder = ".bad";
constexpr std::string_view recycle_folder_name = ".recycle";
/// Bytes gathered before they are written to the copies (SMTP hands over
/// lines; one write(2) per line and copy would dominate the cost).
constexpr std::size_t write_buffer_size = 64 * 1024;
/// find() tries the names for this many attempts with stat before it reads
/// whole folders.
constexpr unsigned probe_attempts = 48;

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

/// A channel folder name: what imta.cnf allows, and nothing that escapes.
bool valid_channel(std::string_view channel) {
  return !channel.empty() && channel.front() != '.' && channel.find('/') == std::string_view::npos &&
         channel.find('\0') == std::string_view::npos;
}

/// FNV-1a: stable across builds and machines, so an id always maps to the
/// same subfolder.
unsigned subfolder_index(std::string_view id, unsigned subdirs) {
  std::uint32_t hash = 2166136261u;
  for (char c : id) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 16777619u;
  }
  return hash % subdirs;
}

std::string subfolder_name(unsigned index) {
  std::string name;
  core::append_decimal(name, index, 3);
  return name;
}

QueueEntry make_entry(std::string channel, QueueFileName name, fs::path path, const struct stat& st) {
  QueueEntry entry;
  entry.channel = std::move(channel);
  entry.held = name.held;
  entry.file_size = static_cast<std::uint64_t>(st.st_size);
  entry.arrival_ms = id_time_ms(name.id).value_or(mtime_ms(st));
  entry.last_attempt_ms = name.attempts > 0 ? mtime_ms(st) : 0;
  entry.name = std::move(name);
  entry.path = std::move(path);
  return entry;
}

OpResult failure(std::string error) { return {false, std::move(error)}; }
OpResult failure(std::string_view what, int e) { return {false, std::string(what) + ": " + system_error_text(e)}; }

/// Names of the channel folders (directories under queue/ not starting with
/// a dot), sorted.
std::vector<std::string> channel_folders(const fs::path& root) {
  std::vector<std::string> names;
  Dir dir(open_folder(root));
  if (!dir) return names;
  while (auto* ent = ::readdir(dir.get())) {
    std::string_view name = ent->d_name;
    if (name.empty() || name.front() == '.') continue;
    bool is_dir = ent->d_type == DT_DIR;
    if (ent->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir = ::fstatat(dir.fd(), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// writev(2) until everything is written; false with errno set.
bool writev_all(int fd, std::initializer_list<std::string_view> parts) {
  iovec iov[4];
  int count = 0;
  for (auto part : parts)
    if (!part.empty() && count < 4) iov[count++] = {const_cast<char*>(part.data()), part.size()};
  iovec* next = iov;
  while (count > 0) {
    ssize_t n = ::writev(fd, next, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    auto done = static_cast<std::size_t>(n);
    while (count > 0 && done >= next->iov_len) {
      done -= next->iov_len;
      ++next;
      --count;
    }
    if (count > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + done;
      next->iov_len -= done;
    }
  }
  return true;
}

/// Whether linkat(fd, "", ..., AT_EMPTY_PATH) names an unnamed file: Linux
/// 6.10 and later let the process that opened it do so (earlier kernels
/// want CAP_DAC_READ_SEARCH). It saves the walk through /proc that the
/// other way costs on every enqueue. Switched off for good the first time
/// it is refused while /proc/self/fd succeeds.
std::atomic<bool> link_by_descriptor{true};

/// Gives an O_TMPFILE file the name `name` in `dir`; -1 with errno set.
int link_unnamed(int fd, int dir, const char* name) {
  if (link_by_descriptor.load(std::memory_order_relaxed)) {
    if (::linkat(fd, "", dir, name, AT_EMPTY_PATH) == 0) return 0;
    if (errno != ENOENT && errno != EPERM && errno != EINVAL) return -1;  // e.g. EEXIST: the answer
  }
  char self[48];
  std::snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
  if (::linkat(AT_FDCWD, self, dir, name, AT_SYMLINK_FOLLOW) != 0) return -1;
  if (link_by_descriptor.load(std::memory_order_relaxed)) link_by_descriptor.store(false, std::memory_order_relaxed);
  return 0;
}

/// A folder descriptor shared by the store's cache of enqueue folders and
/// the copies being written into it.
class SharedFolder {
 public:
  SharedFolder() = default;
  explicit SharedFolder(std::shared_ptr<const Fd> fd) : fd_(std::move(fd)) {}
  int get() const { return fd_ ? fd_->get() : -1; }
  explicit operator bool() const { return fd_ && *fd_; }

 private:
  std::shared_ptr<const Fd> fd_;
};

/// Whether a file's id record (if any) names the file it is read under. Not
/// so: the old bytes of a recycled file that a crash left under a new name.
bool seal_names(const ParsedFile& parsed, std::string_view id) { return parsed.seal.id.empty() || parsed.seal.id == id; }
std::string stale_text(const ParsedFile& parsed) {
  return "written for id " + parsed.seal.id + ", not this file (the old content of a recycled file left by a crash)";
}

bool is_folder_entry(const dirent* ent, int dirfd) {
  if (ent->d_type == DT_DIR) return true;
  if (ent->d_type != DT_UNKNOWN) return false;
  struct stat st {};
  return ::fstatat(dirfd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string_view claim_error_text(ClaimError e) {
  switch (e) {
    case ClaimError::busy: return "being delivered";
    case ClaimError::gone: return "no such message";
    case ClaimError::incomplete: return "incomplete file (never committed)";
    case ClaimError::corrupt: return "file cannot be parsed";
    case ClaimError::io: break;
  }
  return "I/O error";
}

// --- store internals -----------------------------------------------------------

namespace detail {

/// What transactions need from their store: options and the commit thread.
struct StoreCore {
  StoreOptions options;
  std::mutex commit_mutex;
  Fd root_fd;                              // the file system syncfs covers
  /// Messages on their way: ExpectedMessage tokens (the SMTP session's,
  /// and one per transaction until it is handed to the commit thread,
  /// committed or aborted). The commit thread's batch waits a little for
  /// them.
  std::atomic<int> writing{0};
  std::unique_ptr<GroupCommit> committer;  // destroyed before root_fd and writing

  /// One of `writing` is no longer on its way; `handed_over`: it went to
  /// the commit thread (whose submit() looks at `writing` itself).
  void expected_done(bool handed_over) {
    if (writing.fetch_sub(1, std::memory_order_acq_rel) != 1 || handed_over) return;
    std::lock_guard lock(commit_mutex);
    if (committer) committer->nudge();
  }

  explicit StoreCore(StoreOptions o) : options(std::move(o)) {
    if (!options.unnamed_temporaries) unnamed_files.store(false);
  }

  /// The folders enqueue writes into, kept open: a message would otherwise
  /// pay a mkdir, an open and a close of its folder. A folder removed
  /// behind our back is dead (nothing can be created in it: ENOENT), so
  /// begin() forgets it and opens it anew; no file is ever lost in it.
  std::mutex folders_mutex;
  std::unordered_map<std::string, std::shared_ptr<const Fd>> folders;

  /// The open folder of a copy of `channel` (made when missing).
  /// (`folder` as folder_key() spells it: the cache is keyed by that text.)
  SharedFolder enqueue_folder(std::string_view channel, const std::string& folder, std::error_code& error) {
    {
      std::lock_guard lock(folders_mutex);
      if (auto it = folders.find(folder); it != folders.end()) return SharedFolder(it->second);
    }
    // The channel folder, then its subfolder (never the queue folder itself:
    // a missing queue/ is an error, not something to invent).
    if (auto e = make_folder(options.root / std::string(channel))) {
      error = e;
      return {};
    }
    if (subdirs(channel) > 0)
      if (auto e = make_folder(fs::path(folder))) {
        error = e;
        return {};
      }
    auto fd = std::make_shared<const Fd>(open_folder(fs::path(folder)));
    if (!*fd) {
      error = errno_code();
      return {};
    }
    std::lock_guard lock(folders_mutex);
    auto [it, added] = folders.try_emplace(folder, std::move(fd));
    return SharedFolder(it->second);
  }
  void forget_folder(const std::string& folder) {
    std::lock_guard lock(folders_mutex);
    folders.erase(folder);
  }

  /// Whether copies start as unnamed files (O_TMPFILE) that get their name
  /// with one link at commit: a create and a rename each insert a folder
  /// entry (the rename also removes one); this inserts one and the scan
  /// never sees a temporary. Needs /proc (the link goes through
  /// /proc/self/fd) and a file system that has O_TMPFILE; switched off for
  /// good on the first refusal, and named temporaries are used instead.
  std::atomic<bool> unnamed_files{::access("/proc/self/fd", X_OK) == 0};

  /// The commit thread, started on first use; nullptr (errno set) if the
  /// queue folder cannot be opened.
  GroupCommit* commit_thread() {
    std::lock_guard lock(commit_mutex);
    if (!committer) {
      root_fd = open_folder(options.root);
      if (!root_fd) return nullptr;
      committer = std::make_unique<GroupCommit>(options.group_barrier, root_fd.get(), &writing, options.commit_gather);
    }
    return committer.get();
  }

  // --- recycling (options.recycle; see store.hpp) ---

  /// A recycled file taken for a new copy: locked, ours to overwrite.
  struct Recycled {
    Fd file;
    std::string name;  ///< its slot in queue/.recycle
    std::uint64_t size = 0;
    int dir = -1;  ///< queue/.recycle (open as long as the store)
  };

  std::mutex recycle_mutex;
  Fd recycle_fd;
  bool recycle_unusable = false;
  std::vector<std::string> recycle_pool;  ///< slots seen filled at the last look (begin's side)
  std::chrono::steady_clock::time_point recycle_next_look{};
  std::vector<unsigned> recycle_free;  ///< slots seen free at the last look (complete's side)
  std::chrono::steady_clock::time_point recycle_next_free_look{};

  /// queue/.recycle, opened (and made) on first use; -1 if it cannot be.
  int recycle_dir() {
    std::lock_guard lock(recycle_mutex);
    return recycle_dir_locked();
  }
  int recycle_dir_locked() {
    if (!recycle_fd && !recycle_unusable) {
      const fs::path folder = options.root / std::string(recycle_folder_name);
      if (make_folder(folder)) recycle_unusable = true;
      else recycle_fd = open_folder(folder);
      if (!recycle_fd) recycle_unusable = true;
    }
    return recycle_fd ? recycle_fd.get() : -1;
  }

  /// A recycled file for a new copy, or nullopt (then a new file is made).
  std::optional<Recycled> take_recycled() {
    for (int tries = 0; tries < 4; ++tries) {
      std::string name;
      int dir = -1;
      {
        std::lock_guard lock(recycle_mutex);
        dir = recycle_dir_locked();
        if (dir < 0) return std::nullopt;
        if (recycle_pool.empty()) {
          // One look at the folder finds every filled slot; an empty folder
          // is looked at again 100 ms later, not on every message.
          const auto now = std::chrono::steady_clock::now();
          if (now < recycle_next_look) return std::nullopt;
          look_for_recycled_locked(dir);
          if (recycle_pool.empty()) {
            recycle_next_look = now + std::chrono::milliseconds(100);
            return std::nullopt;
          }
        }
        name = std::move(recycle_pool.back());
        recycle_pool.pop_back();
      }
      Fd file(::openat(dir, name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
      if (!file) continue;  // taken meanwhile
      // Locked, and still the file of that slot (not one another thread
      // took, committed and released meanwhile).
      if (::flock(file.get(), LOCK_EX | LOCK_NB) != 0) continue;
      struct stat st {}, again {};
      if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (::fstatat(dir, name.c_str(), &again, AT_SYMLINK_NOFOLLOW) != 0 || again.st_ino != st.st_ino) continue;
      if (st.st_nlink != 1 || static_cast<std::uint64_t>(st.st_size) > recycle_max_size) {
        // Also linked elsewhere (a machine crash in the middle of a rename,
        // repaired by fsck: the other name may be a queued message) or
        // not one of ours: only the slot's name goes.
        ::unlinkat(dir, name.c_str(), 0);
        continue;
      }
      return Recycled{std::move(file), std::move(name), static_cast<std::uint64_t>(st.st_size), dir};
    }
    return std::nullopt;
  }
  void look_for_recycled_locked(int dir) {
    list_slots(dir, [this](std::string_view name) { recycle_pool.emplace_back(name); });
  }
  /// Calls `visit` with the name of every entry of queue/.recycle (`dir`)
  /// but dot files.
  template <class Visit>
  static void list_slots(int dir, Visit visit) {
    Fd again(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    Dir listing(std::move(again));
    if (!listing) return;
    while (auto* ent = ::readdir(listing.get())) {
      std::string_view name = ent->d_name;
      if (!name.empty() && name.front() != '.') visit(name);
    }
  }

  /// Moves a delivered file into a free slot of queue/.recycle; false if
  /// there is none (or no folder): the caller removes the file.
  bool put_recycled(const fs::path& path) {
    // The free slots come from one look at the folder, as the filled ones
    // do for take_recycled(); a full folder is looked at again 100 ms later,
    // not on every delivery. (Guessing slots instead cost a full folder
    // four failed renames per delivered message.)
    for (int tries = 0; tries < 4; ++tries) {
      unsigned slot = 0;
      int dir = -1;
      {
        std::lock_guard lock(recycle_mutex);
        dir = recycle_dir_locked();
        if (dir < 0) return false;
        if (recycle_free.empty()) {
          const auto now = std::chrono::steady_clock::now();
          if (now < recycle_next_free_look) return false;
          look_for_free_locked(dir);
          if (recycle_free.empty()) {
            recycle_next_free_look = now + std::chrono::milliseconds(100);
            return false;
          }
        }
        slot = recycle_free.back();
        recycle_free.pop_back();
      }
      std::string name;
      core::append_decimal(name, slot, 4);
      if (::renameat2(AT_FDCWD, path.c_str(), dir, name.c_str(), RENAME_NOREPLACE) == 0) return true;
      if (errno != EEXIST) return false;  // EEXIST: filled since the look (another process)
    }
    return false;
  }
  void look_for_free_locked(int dir) {
    std::vector<bool> filled(recycle_slots, false);
    list_slots(dir, [&filled](std::string_view name) {
      unsigned slot = 0;
      auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), slot);
      if (name.size() == 4 && ec == std::errc() && end == name.data() + name.size() && slot < recycle_slots)
        filled[slot] = true;
    });
    // Taken from the back: lowest slot first.
    for (unsigned slot = recycle_slots; slot-- > 0;)
      if (!filled[slot]) recycle_free.push_back(slot);
  }

  unsigned subdirs(std::string_view channel) const {
    if (!options.subdirs) return 0;
    return std::min(options.subdirs(channel), 1000u);
  }

  /// The folder a file of `channel` with `id` belongs in.
  fs::path folder_for(std::string_view channel, std::string_view id) const {
    return fs::path(folder_key(channel, id));
  }
  /// The same as text (root/channel[/NNN]): enqueue builds no fs::path on
  /// its way, each one costing a parse of the components and allocations.
  std::string folder_key(std::string_view channel, std::string_view id) const {
    std::string folder = options.root.native();
    if (!folder.empty() && folder.back() != '/') folder += '/';
    folder += channel;
    if (unsigned n = subdirs(channel); n > 0) {
      folder += '/';
      folder += subfolder_name(subfolder_index(id, n));
    }
    return folder;
  }
};

}  // namespace detail

struct Store::Impl : detail::StoreCore {
  using StoreCore::StoreCore;

  /// The verification the scan does with cleanup on (header and end marker)
  /// is done once per file version: later scans only stat.
  struct Seen {
    dev_t dev;
    ino_t ino;
    off_t size;
    std::int64_t mtime_ns;
    auto operator<=>(const Seen&) const = default;
  };
  /// Each verified file version with the number of the last full scan
  /// that saw it; a full scan forgets what it did not see (files gone), so
  /// a long-running program does not collect every file it ever met.
  mutable std::mutex verified_mutex;
  mutable std::map<Seen, std::uint64_t> verified;
  mutable std::uint64_t scan_number = 0;

  static Seen seen_key(const struct stat& st) {
    return {st.st_dev, st.st_ino, st.st_size,
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  }
  bool is_verified(const struct stat& st) const {
    std::lock_guard lock(verified_mutex);
    auto it = verified.find(seen_key(st));
    if (it == verified.end()) return false;
    it->second = scan_number;
    return true;
  }
  void mark_verified(const struct stat& st) const {
    std::lock_guard lock(verified_mutex);
    verified[seen_key(st)] = scan_number;
  }
  /// Called around a scan of every channel.
  std::uint64_t begin_full_scan() const {
    std::lock_guard lock(verified_mutex);
    return ++scan_number;
  }
  void end_full_scan(std::uint64_t number) const {
    std::lock_guard lock(verified_mutex);
    std::erase_if(verified, [number](const auto& kv) { return kv.second < number; });
  }

  using Note = std::function<void(std::string_view)>;
  void scan_folder(const ScanOptions& so, const std::string& channel, const fs::path& path, bool top,
                   const std::function<void(const QueueEntry&)>& visit, const Note& note) const;
  void remove_stale_temp(int dirfd, const fs::path& folder, const char* name, const Note& note) const;
  bool verify(int dirfd, const fs::path& folder, const std::string& channel, const char* name, std::string_view id,
              const struct stat& st, const Note& note) const;
  void quarantine(int dirfd, const fs::path& folder, const std::string& channel, const char* name,
                  const std::string& why, const Note& note) const;
  std::vector<QueueEntry> find(std::string_view id_or_name, std::string_view channel, bool first_only) const;
};

// --- transactions ------------------------------------------------------------

namespace {

/// One copy being written: its folder, its temporary file (locked from
/// creation to the end of the commit) and the name it gets.
struct CopyFile {
  std::string channel;
  std::string folder;  ///< as StoreCore::folder_key() spells it
  SharedFolder dir;
  Fd file;
  std::string temp_name;
  bool unnamed = false;  ///< an O_TMPFILE file: no temporary name, linked at commit
  QueueFileName name;
  /// The encoded header until the first write to the file: a small message
  /// goes out in one writev (header with its size, message, end marker).
  std::string head;
  bool temp_exists = false;
  bool visible = false;
  /// The seal's CRC-32C over the checked bytes given so far (the header's
  /// after its id line, then the message).
  std::uint32_t crc = 0;
  std::uint64_t written = 0;  ///< bytes written to the file
  /// A recycled file (its slot in queue/.recycle, where it stays until it
  /// is renamed into place) and its size when taken; empty: a new file.
  std::string recycled;
  std::uint64_t recycled_size = 0;
  int recycle_dir = -1;

  std::string path() const {
    std::string out = folder;
    out += '/';
    name.append_to(out);
    return out;
  }

  /// Appends message bytes (after the header, if that is still pending).
  bool write(std::string_view bytes) {
    crc = crc32c(crc, bytes);
    if (head.empty()) {
      if (!write_all(file.get(), bytes)) return false;
      written += bytes.size();
      return true;
    }
    if (!writev_all(file.get(), {head, bytes})) return false;
    written += head.size() + bytes.size();
    head.clear();
    return true;
  }
};

/// The copies of one transaction; shared with the commit thread once the
/// commit is handed over, so the Transaction object may go away first.
struct CopySet {
  std::vector<CopyFile> copies;

  /// Removes whatever exists of the copies (temporaries and files already
  /// renamed into place), then releases the locks.
  void discard() {
    for (auto& c : copies) {
      if (!c.dir) continue;
      if (c.visible && ::unlinkat(c.dir.get(), c.name.str().c_str(), 0) == 0) ::fsync(c.dir.get());
      if (c.temp_exists) ::unlinkat(c.dir.get(), c.temp_name.c_str(), 0);
      c.visible = c.temp_exists = false;
    }
    close();
  }
  void close() {
    for (auto& c : copies) c.file.reset();
  }
  std::vector<QueuePath> paths() const {
    std::vector<QueuePath> out;
    for (const auto& c : copies) out.push_back({c.channel, c.name, c.path()});
    return out;
  }

  /// Writes `tail` (the last buffered message bytes), sets the size and
  /// appends the end marker: the file is complete. A file nothing was
  /// written to yet gets all of it in one writev.
  std::error_code finish(std::uint64_t size, std::string_view tail) {
    char digits[size_field_width];
    core::put_digits(digits, size, size_field_width);
    const std::string_view field(digits, size_field_width);
    for (auto& c : copies) {
      const std::string check = check_digits(crc32c(crc32c(c.crc, tail), end_marker));
      if (!c.head.empty()) {
        c.head.replace(size_field_offset, size_field_width, field);
        c.head.replace(check_field_offset, check_field_width, check);
        if (!writev_all(c.file.get(), {c.head, tail, end_marker})) return errno_code();
        c.written += c.head.size() + tail.size() + end_marker.size();
        c.head.clear();
      } else {
        // The size and check digits are neighbours: one write sets both.
        std::string fields(field);
        fields += "\ncheck ";
        fields += check;
        if (!writev_all(c.file.get(), {tail, end_marker}) || !pwrite_all(c.file.get(), fields, size_field_offset))
          return errno_code();
        c.written += tail.size() + end_marker.size();
      }
      // A recycled file longer than the new content: its old tail goes.
      if (c.recycled_size > c.written && ::ftruncate(c.file.get(), static_cast<off_t>(c.written)) != 0)
        return errno_code();
    }
    return {};
  }

  /// Renames (or links) every copy to its queue name, never over an
  /// existing file.
  std::error_code rename_into_place() {
    for (auto& c : copies) {
      for (int tries = 0;; ++tries) {
        auto target = c.name.str();
        if (!c.recycled.empty()) {
          if (rename_noreplace(c.recycle_dir, c.recycled.c_str(), c.dir.get(), target.c_str()) == 0) break;
        } else if (c.unnamed) {
          if (link_unnamed(c.file.get(), c.dir.get(), target.c_str()) == 0) break;
        } else if (rename_noreplace(c.dir.get(), c.temp_name.c_str(), c.dir.get(), target.c_str()) == 0) {
          break;
        }
        if (errno != EEXIST || tries >= 8) return errno_code();
        // Astronomically rare: someone has this name. The file's id record
        // follows (ids have one length; the seal does not cover the id).
        std::string id = new_queue_id();
        if (id.size() != c.name.id.size() ||
            !pwrite_all(c.file.get(), id, check_field_offset + check_field_width + 1 + 3))
          return std::make_error_code(std::errc::file_exists);
        c.name.id = std::move(id);
      }
      c.temp_exists = false;
      c.recycled.clear();
      c.visible = true;
    }
    return {};
  }

  /// The baseline: each file synced on its own, then each folder.
  std::error_code commit_per_file() {
    for (auto& c : copies)
      if (::fdatasync(c.file.get()) != 0) return errno_code();
    if (auto e = rename_into_place()) return e;
    std::vector<const std::string*> synced;
    for (auto& c : copies) {
      if (std::any_of(synced.begin(), synced.end(), [&](const std::string* p) { return *p == c.folder; })) continue;
      if (::fsync(c.dir.get()) != 0) return errno_code();
      synced.push_back(&c.folder);
    }
    return {};
  }
};

}  // namespace

struct Transaction::Impl {
  detail::StoreCore* store = nullptr;
  std::string id;
  std::shared_ptr<CopySet> set = std::make_shared<CopySet>();
  std::string buffer;
  std::uint64_t size = 0;
  std::error_code error;
  bool finished = false;  // committed, aborted or handed to the commit thread
  /// Until finished, the message counts as on its way (commit gathering).
  ExpectedMessage on_its_way;

  /// Writes the buffered bytes to every copy; an error discards the copies.
  std::error_code flush() {
    if (!buffer.empty()) {
      for (auto& c : set->copies)
        if (!c.write(buffer)) return fail(errno_code());
      buffer.clear();
    }
    return {};
  }
  std::error_code fail(std::error_code e) {
    error = e;
    set->discard();
    end(false);
    return e;
  }
  /// Finished: committed, aborted or handed to the commit thread (once).
  void end(bool handed_over) {
    finished = true;
    if (handed_over) on_its_way.handed_over();
    else on_its_way = {};
  }
};

ExpectedMessage& ExpectedMessage::operator=(ExpectedMessage&& other) noexcept {
  if (this != &other) {
    release(false);
    core_ = std::exchange(other.core_, nullptr);
  }
  return *this;
}

void ExpectedMessage::release(bool handed_over) {
  if (!core_) return;
  std::exchange(core_, nullptr)->expected_done(handed_over);
}

Transaction::Transaction(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Transaction::~Transaction() { abort(); }

const std::string& Transaction::id() const { return impl_->id; }

void Transaction::abort() {
  if (impl_->finished) return;
  impl_->set->discard();
  impl_->end(false);
  if (!impl_->error) impl_->error = std::make_error_code(std::errc::operation_canceled);
}

std::error_code Transaction::write(std::string_view bytes) {
  auto& t = *impl_;
  if (t.finished) return t.error ? t.error : std::make_error_code(std::errc::invalid_argument);
  t.size += bytes.size();
  if (bytes.size() >= write_buffer_size) {
    if (auto e = t.flush()) return e;
    for (auto& c : t.set->copies)
      if (!c.write(bytes)) return t.fail(errno_code());
    return {};
  }
  t.buffer.append(bytes);
  if (t.buffer.size() >= write_buffer_size) return t.flush();
  return {};
}

std::error_code Transaction::commit(std::vector<QueuePath>* committed) {
  auto& t = *impl_;
  if (t.finished) return t.error ? t.error : std::make_error_code(std::errc::invalid_argument);
  if (t.store->options.sync == SyncMode::per_file) {
    if (auto e = t.set->finish(t.size, t.buffer)) return t.fail(e);
    t.buffer.clear();
    if (auto e = t.set->commit_per_file()) return t.fail(e);
    t.end(false);
    if (committed) *committed = t.set->paths();
    t.set->close();
    return {};
  }
  std::promise<std::pair<std::error_code, std::vector<QueuePath>>> promise;
  auto future = promise.get_future();
  commit_async([&promise](std::error_code e, std::vector<QueuePath> paths) {
    promise.set_value({e, std::move(paths)});
  });
  auto [error, paths] = future.get();
  if (error) t.error = error;  // a later call reports the same
  else if (committed) *committed = std::move(paths);
  return error;
}

void Transaction::commit_async(std::function<void(std::error_code, std::vector<QueuePath>)> done) {
  auto& t = *impl_;
  auto* committer = t.store->commit_thread();
  if (!committer) {
    auto e = t.finished ? t.error : t.fail(errno_code());
    done(e ? e : std::make_error_code(std::errc::invalid_argument), {});
    return;
  }
  GroupCommit::Request request;
  auto set = t.set;
  auto report_error = [&](std::error_code e) {
    request.barrier = false;
    request.done = [done, e](std::error_code) { done(e, {}); };
    committer->submit(std::move(request));
  };
  if (t.finished) return report_error(t.error ? t.error : std::make_error_code(std::errc::invalid_argument));
  if (auto e = set->finish(t.size, t.buffer)) return report_error(t.fail(e));
  t.buffer.clear();

  if (t.store->options.sync == SyncMode::per_file) {
    // The baseline has no shared barrier; its syncs run on the commit
    // thread so that the caller never blocks.
    t.end(true);
    request.barrier = false;
    request.done = [set, done](std::error_code) {
      auto e = set->commit_per_file();
      auto paths = set->paths();
      if (e) set->discard(); else set->close();
      done(e, e ? std::vector<QueuePath>{} : std::move(paths));
    };
    committer->submit(std::move(request));
    return;
  }
  // Group commit: the files are complete (end marker written) before they
  // get their queue names; they stay locked until the barrier has made them
  // durable, so no master delivers a file that a crash could still take away.
  if (auto e = set->rename_into_place()) return report_error(t.fail(e));
  t.end(true);
  for (auto& c : set->copies) {
    request.files.push_back(c.file.get());
    request.folders.push_back(c.dir.get());
  }
  request.done = [set, done](std::error_code e) {
    auto paths = set->paths();
    if (e) set->discard(); else set->close();
    done(e, e ? std::vector<QueuePath>{} : std::move(paths));
  };
  committer->submit(std::move(request));
}

// --- store -------------------------------------------------------------------

void apply_queue_sync(StoreOptions& options, std::string_view setting) {
  if (setting == "fdatasync") options.group_barrier = GroupBarrier::fdatasync;
  if (setting == "file") options.sync = SyncMode::per_file;
}

Store::Store(StoreOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

ExpectedMessage Store::expect_message() {
  impl_->writing.fetch_add(1, std::memory_order_relaxed);
  return ExpectedMessage(impl_.get());
}
Store::~Store() = default;

const StoreOptions& Store::options() const { return impl_->options; }

std::unique_ptr<Transaction> Store::begin(const std::vector<Copy>& copies, std::error_code& error) {
  error.clear();
  if (copies.empty()) {
    error = std::make_error_code(std::errc::invalid_argument);
    return nullptr;
  }
  for (const auto& c : copies) {
    if (!valid_channel(c.channel) || c.envelope.recipients.empty()) {
      error = std::make_error_code(std::errc::invalid_argument);
      return nullptr;
    }
  }
  auto impl = std::make_unique<Transaction::Impl>();
  impl->store = impl_.get();
  impl->id = new_queue_id();
  std::set<std::string> channels_used;
  auto fail = [&](std::error_code e) -> std::unique_ptr<Transaction> {
    impl->set->discard();
    error = e;
    return nullptr;
  };
  std::size_t index = 0;
  for (const auto& copy : copies) {
    CopyFile file;
    file.channel = copy.channel;
    // One name per folder: a second copy to the same channel gets its own id.
    file.name.id = channels_used.insert(copy.channel).second ? impl->id : new_queue_id();
    file.folder = impl_->folder_key(copy.channel, file.name.id);
    file.temp_name = std::string(temp_prefix) + file.name.id + "." + std::to_string(index++);
    for (int attempt = 0;; ++attempt) {
      std::error_code e;
      file.dir = impl_->enqueue_folder(copy.channel, file.folder, e);
      if (!file.dir) return fail(e);
      if (impl_->options.recycle && attempt == 0) {
        if (auto r = impl_->take_recycled()) {
          file.file = std::move(r->file);
          file.recycled = std::move(r->name);
          file.recycled_size = r->size;
          file.recycle_dir = r->dir;
          break;
        }
      }
      if (impl_->unnamed_files.load(std::memory_order_relaxed)) {
        file.file = Fd(::openat(file.dir.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, file_mode));
        if (file.file) {
          file.unnamed = true;
          break;
        }
        if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
          impl_->unnamed_files.store(false);  // this file system cannot: named temporaries
          --attempt;
          continue;
        }
      } else {
        file.file = Fd(::openat(file.dir.get(), file.temp_name.c_str(),
                                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, file_mode));
        if (file.file) break;
      }
      // ENOENT: the folder we kept open was removed; make it again, once.
      if (errno != ENOENT || attempt > 0) return fail(errno_code());
      impl_->forget_folder(file.folder);
    }
    file.temp_exists = !file.unnamed;
    auto& added = impl->set->copies.emplace_back(std::move(file));
    // Locked from birth: the scan never removes a temporary someone writes,
    // and after the rename nobody claims the file before it is durable.
    if (::flock(added.file.get(), LOCK_EX | LOCK_NB) != 0) return fail(errno_code());
    // The size field has a fixed width; its value is set at commit (in
    // memory, or patched in the file), whatever the envelope says now.
    added.head = encode_header(copy.envelope, added.name.id);
    added.crc = crc32c(0, std::string_view(added.head).substr(checked_offset(added.head)));
  }
  impl->on_its_way = expect_message();
  return std::unique_ptr<Transaction>(new Transaction(std::move(impl)));
}

// --- scan ----------------------------------------------------------------------

void Store::scan(const ScanOptions& options, const std::function<void(const QueueEntry&)>& visit,
                 const std::function<void(std::string_view)>& note) const {
  std::vector<std::string> channels;
  if (!options.channel.empty()) {
    if (valid_channel(options.channel)) channels.push_back(options.channel);
  } else {
    channels = channel_folders(impl_->options.root);
  }
  const bool full = options.channel.empty() && options.include_held && options.cleanup;
  const auto number = full ? impl_->begin_full_scan() : 0;
  for (const auto& channel : channels)
    impl_->scan_folder(options, channel, impl_->options.root / channel, true, visit, note);
  if (full) impl_->end_full_scan(number);
}

void Store::Impl::scan_folder(const ScanOptions& so, const std::string& channel, const fs::path& path, bool top,
                              const std::function<void(const QueueEntry&)>& visit, const Note& note) const {
  Dir dir(open_folder(path));
  if (!dir) return;
  while (auto* ent = ::readdir(dir.get())) {
    const char* raw = ent->d_name;
    std::string_view name = raw;
    if (name.starts_with(temp_prefix)) {
      if (so.cleanup) remove_stale_temp(dir.fd(), path, raw, note);
      continue;
    }
    if (name.empty() || name.front() == '.') continue;
    auto queue_name = parse_queue_file_name(name);
    if (!queue_name) {
      // Subfolders of `subdirs` channels (one level, whatever their names:
      // the subdirs value may have changed since the files were written).
      if (top && is_folder_entry(ent, dir.fd())) scan_folder(so, channel, path / raw, false, visit, note);
      continue;
    }
    if (queue_name->held && !so.include_held) continue;
    struct stat st {};
    if (::fstatat(dir.fd(), raw, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    if (so.cleanup && !is_verified(st) && !verify(dir.fd(), path, channel, raw, queue_name->id, st, note))
      continue;
    visit(make_entry(channel, std::move(*queue_name), path / raw, st));
  }
}

void Store::Impl::remove_stale_temp(int dirfd, const fs::path& folder, const char* name, const Note& note) const {
  struct stat st {};
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (now_ms() - mtime_ms(st) < std::chrono::milliseconds(options.stale_temp_age).count()) return;
  // A writer holds the lock on its temporary from creation to commit: only
  // the leftovers of dead writers can be locked here.
  Fd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return;
  struct stat again {};
  if (::fstatat(dirfd, name, &again, AT_SYMLINK_NOFOLLOW) != 0 || again.st_ino != st.st_ino) return;
  if (::unlinkat(dirfd, name, 0) != 0) return;
  ::fsync(dirfd);
  if (note) note("removed stale temporary file " + (folder / name).string());
}

// Why an incomplete file is safe to remove here. In group mode a file gets
// its queue name before the barrier, but only after its last byte (the end
// marker) was written, and its writer holds the lock until the barrier is
// over. So while the writer lives the file is complete in the page cache and
// locked; a file under a queue name without its end marker can only be what
// a machine crash left of a commit that never reached its barrier, i.e. a
// message that was never acknowledged. The grace period and the lock test
// cover files someone copies in by hand (cp writes under the final name).
bool Store::Impl::verify(int dirfd, const fs::path& folder, const std::string& channel, const char* name,
                         std::string_view id, const struct stat& st, const Note& note) const {
  Fd fd(::openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return false;  // gone meanwhile
  int io_error = 0;
  auto parsed = read_parsed(fd.get(), &io_error);
  if (parsed.status == ParseStatus::ok && !seal_names(parsed, id)) {
    quarantine(dirfd, folder, channel, name, stale_text(parsed), note);
    return false;
  }
  if (parsed.status == ParseStatus::ok) {
    mark_verified(st);
    return true;
  }
  if (io_error) {
    if (note) note("cannot read " + (folder / name).string() + ": " + parsed.error);
    return false;
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return false;  // someone works on it: next scan
  struct stat now {};
  if (::fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_ino != st.st_ino) return false;
  parsed = read_parsed(fd.get(), &io_error);  // again, under the lock
  if (io_error) return false;
  if (parsed.status == ParseStatus::ok) {
    mark_verified(now);
    return true;
  }
  if (parsed.status == ParseStatus::incomplete) {
    if (now_ms() - mtime_ms(now) < std::chrono::milliseconds(options.incomplete_grace).count()) return false;
    if (::unlinkat(dirfd, name, 0) != 0) return false;
    ::fsync(dirfd);
    if (note) note("removed " + (folder / name).string() + ": never completely written (" + parsed.error + ")");
    return false;
  }
  quarantine(dirfd, folder, channel, name, parsed.error, note);
  return false;
}

void Store::Impl::quarantine(int dirfd, const fs::path& folder, const std::string& channel, const char* name,
                             const std::string& why, const Note& note) const {
  const fs::path bad = options.root / bad_folder;
  if (make_folder(bad)) return;
  Fd bad_fd = open_folder(bad);
  if (!bad_fd) return;
  std::string target = channel + "-" + name;
  for (int n = 1; rename_noreplace(dirfd, name, bad_fd.get(), target.c_str()) != 0; ++n) {
    if (errno != EEXIST || n > 100) {
      if (note) note("cannot move unparseable file " + (folder / name).string() + " to " + bad.string() + ": " +
                     system_error_text(errno));
      return;
    }
    target = channel + "-" + name + "." + std::to_string(n);
  }
  ::fsync(bad_fd.get());
  ::fsync(dirfd);
  if (note) note("moved unparseable file " + (folder / name).string() + " to " + (bad / target).string() + ": " + why);
}

// --- find and read -------------------------------------------------------------

std::vector<QueueEntry> Store::Impl::find(std::string_view id_or_name, std::string_view channel,
                                          bool first_only) const {
  std::vector<QueueEntry> found;
  const std::string wanted = upper(id_or_name);
  auto exact = parse_queue_file_name(wanted);
  // An id is what stands between the retry characters and the suffix.
  if (!exact && !parse_queue_file_name("ZZ" + wanted + ".00")) return found;
  const std::string id = exact ? exact->id : wanted;

  std::vector<std::string> channels;
  if (!channel.empty()) {
    if (valid_channel(channel)) channels.emplace_back(channel);
  } else {
    channels = channel_folders(options.root);
  }
  auto add = [&](const std::string& ch, QueueFileName name, const fs::path& path, const struct stat& st) {
    found.push_back(make_entry(ch, std::move(name), path, st));
  };
  // Probes the names the file most likely has in `folder` with stat alone
  // (the exact name, or the id with few attempts, active or held): cheap
  // even in a folder of 100,000 files, where a readdir is not.
  auto probe = [&](const std::string& ch, const fs::path& folder) {
    std::vector<QueueFileName> names;
    if (exact) {
      names.push_back(*exact);
    } else {
      for (unsigned attempts = 0; attempts < probe_attempts; ++attempts)
        for (bool held : {false, true}) names.push_back({attempts, id, held});
    }
    for (auto& name : names) {
      struct stat st {};
      auto path = folder / name.str();
      if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        add(ch, std::move(name), path, st);
        return true;
      }
    }
    return false;
  };
  // Reads a whole folder for any name with the id.
  auto search = [&](const std::string& ch, const fs::path& folder) {
    if (exact) return probe(ch, folder);
    Dir dir(open_folder(folder));
    bool any = false;
    while (dir) {
      auto* ent = ::readdir(dir.get());
      if (!ent) break;
      auto name = parse_queue_file_name(ent->d_name);
      if (!name || name->id != id) continue;
      struct stat st {};
      if (::fstatat(dir.fd(), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
      add(ch, std::move(*name), folder / ent->d_name, st);
      any = true;
      if (first_only) break;
    }
    return any;
  };
  for (const auto& ch : channels) {
    // A channel holds at most one file with a given id (one name per
    // folder, and a transaction gives a second copy to the same channel an
    // id of its own), normally where the current subdirs value puts it.
    const fs::path top = options.root / ch;
    const fs::path expected = folder_for(ch, id);
    if (probe(ch, expected)) {
      if (first_only) return found;
      continue;
    }
    // Elsewhere: many attempts, or left where an older subdirs value put it.
    std::vector<fs::path> folders{top};
    if (Dir dir(open_folder(top)); dir) {
      while (auto* ent = ::readdir(dir.get())) {
        if (ent->d_name[0] == '.' || parse_queue_file_name(ent->d_name)) continue;
        if (is_folder_entry(ent, dir.fd())) folders.push_back(top / ent->d_name);
      }
    }
    for (const auto& folder : folders) {
      if (exact && folder == expected) continue;  // probed already
      if (search(ch, folder)) {
        if (first_only) return found;
        break;
      }
    }
  }
  return found;
}

std::optional<QueueEntry> Store::find(std::string_view id_or_name, std::string_view channel) const {
  auto found = impl_->find(id_or_name, channel, true);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::vector<QueueEntry> Store::find_all(std::string_view id_or_name, std::string_view channel) const {
  return impl_->find(id_or_name, channel, false);
}

ParsedFile Store::read(const QueueEntry& entry) const {
  Fd fd(::open(entry.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    ParsedFile parsed;
    parsed.status = ParseStatus::corrupt;
    parsed.error = errno == ENOENT ? std::string(claim_error_text(ClaimError::gone)) : system_error_text(errno);
    return parsed;
  }
  return read_parsed(fd.get());
}

// --- claims ----------------------------------------------------------------------

Claim::Claim(Claim&& other) noexcept
    : entry_(std::move(other.entry_)),
      file_(std::move(other.file_)),
      fd_(std::exchange(other.fd_, -1)),
      message_(std::move(other.message_)),
      finished_(other.finished_) {}

Claim& Claim::operator=(Claim&& other) noexcept {
  if (this != &other) {
    Fd closing(std::exchange(fd_, std::exchange(other.fd_, -1)));
    entry_ = std::move(other.entry_);
    file_ = std::move(other.file_);
    message_ = std::move(other.message_);
    finished_ = other.finished_;
  }
  return *this;
}

Claim::~Claim() { Fd closing(fd_); }

std::string Claim::message() const {
  if (!message_.empty() || file_.envelope.size == 0) return message_;
  std::string bytes;
  if (fd_ < 0 || !pread_some(fd_, file_.message_offset, static_cast<std::size_t>(file_.envelope.size), bytes))
    return {};
  return bytes;
}

std::optional<Claim> Store::claim(const QueueEntry& entry, ClaimError* why) const {
  auto locked = lock_file(entry.path, O_RDWR | O_APPEND, why);
  if (!locked) return std::nullopt;
  int io_error = 0;
  std::string message;
  auto parsed = read_parsed(locked->fd.get(), &io_error, &message);
  if (parsed.status == ParseStatus::ok && !seal_names(parsed, entry.name.id)) {
    parsed.status = ParseStatus::corrupt;
    parsed.error = stale_text(parsed);
  }
  if (parsed.status == ParseStatus::corrupt && !io_error) {
    // Damaged, or what a machine crash left of a recycled file (see
    // store.hpp): never delivered; kept for a human in .bad. (The scan
    // reads only headers, so it would bring a wrong check back.)
    const fs::path folder = entry.path.parent_path();
    if (Fd dir = open_folder(folder))
      impl_->quarantine(dir.get(), folder, entry.channel, entry.path.filename().c_str(), parsed.error, nullptr);
  }
  if (parsed.status != ParseStatus::ok) {
    if (why) {
      *why = io_error ? ClaimError::io
             : parsed.status == ParseStatus::incomplete ? ClaimError::incomplete
                                                         : ClaimError::corrupt;
    }
    return std::nullopt;
  }
  QueueEntry current = make_entry(entry.channel, entry.name, entry.path, locked->st);
  return Claim(std::move(current), std::move(parsed), locked->fd.release(), std::move(message));
}

namespace {

OpResult check_claim(const Claim& claim) {
  if (claim.fd() < 0) return failure("not claimed");
  return {true, {}};
}

}  // namespace

OpResult Store::complete(Claim& claim) const {
  if (auto r = check_claim(claim); !r.ok) return r;
  if (claim.finished_) return failure("already completed");
  // Recycled rather than removed where it may be (see store.hpp): the claim
  // still holds the lock, so no enqueue writes into it before we let go.
  const bool recycled = impl_->options.recycle && claim.entry_.file_size <= recycle_max_size &&
                        impl_->put_recycled(claim.entry_.path);
  if (!recycled && ::unlink(claim.entry_.path.c_str()) != 0)
    return failure("cannot remove " + claim.entry_.path.string(), errno);
  claim.finished_ = true;
  // The folder is not synced: an unlink lost in a crash only means the
  // message goes out once more, which SMTP accepts (RFC 5321 §6.1 prefers a
  // duplicate to a loss); a sync here would cost every delivery a journal
  // commit (about 0.7 ms on the job's thread).
  return {true, {}};
}

OpResult Store::retry(Claim& claim, const std::vector<HistoryRecord>& records) const {
  if (auto r = check_claim(claim); !r.ok) return r;
  if (claim.finished_) return failure("already completed");
  auto& entry = claim.entry_;
  if (auto e = append_history(claim.fd_, records))
    return failure("cannot append history to " + entry.path.string(), e.value());
  claim.file_.history.insert(claim.file_.history.end(), records.begin(), records.end());
  QueueFileName next = entry.name;
  next.attempts = std::min(next.attempts + 1, max_attempts);
  const fs::path folder = entry.path.parent_path();
  const fs::path target = folder / next.str();
  if (next.attempts != entry.name.attempts) {
    Fd dir = open_folder(folder);
    if (!dir || rename_noreplace(dir.get(), entry.path.filename().c_str(), dir.get(), next.str().c_str()) != 0)
      return failure("cannot rename " + entry.path.string() + " to " + next.str(), errno);
    if (::fsync(dir.get()) != 0) return failure("cannot sync " + folder.string(), errno);
  }
  struct stat st {};
  ::fstat(claim.fd_, &st);
  entry = make_entry(entry.channel, next, target, st);
  return {true, {}};
}

OpResult Store::note(Claim& claim, const std::vector<HistoryRecord>& records) const {
  if (auto r = check_claim(claim); !r.ok) return r;
  if (claim.finished_) return failure("already completed");
  struct stat before {};
  if (::fstat(claim.fd_, &before) != 0) return failure("cannot stat " + claim.entry_.path.string(), errno);
  if (auto e = append_history(claim.fd_, records))
    return failure("cannot append history to " + claim.entry_.path.string(), e.value());
  restore_mtime(claim.fd_, before);
  claim.file_.history.insert(claim.file_.history.end(), records.begin(), records.end());
  struct stat st {};
  ::fstat(claim.fd_, &st);
  claim.entry_.file_size = static_cast<std::uint64_t>(st.st_size);
  return {true, {}};
}

OpResult Store::partial(Claim& claim, const std::vector<core::Recipient>& remaining,
                        const std::vector<HistoryRecord>& records) const {
  if (auto r = check_claim(claim); !r.ok) return r;
  if (claim.finished_) return failure("already completed");
  if (remaining.empty()) return failure("no recipients remain (complete the file instead)");
  auto& entry = claim.entry_;
  const fs::path folder = entry.path.parent_path();
  Fd dir = open_folder(folder);
  if (!dir) return failure("cannot open " + folder.string(), errno);

  core::Envelope envelope = claim.file_.envelope;
  envelope.recipients = remaining;
  std::string header = encode_header(envelope, entry.name.id);  // size unchanged: same message
  const std::string temp = std::string(temp_prefix) + entry.name.id + ".partial." + std::to_string(::getpid());
  Fd file(::openat(dir.get(), temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, file_mode));
  if (!file) return failure("cannot create " + (folder / temp).string(), errno);
  auto give_up = [&](const std::string& what) {
    int e = errno;
    ::unlinkat(dir.get(), temp.c_str(), 0);
    return failure(what + " " + (folder / temp).string(), e);
  };
  // Locked before it gets the name, so nobody claims it between the rename
  // and the moment the claim moves over to it.
  if (::flock(file.get(), LOCK_EX | LOCK_NB) != 0) return give_up("cannot lock");
  if (!write_all(file.get(), header)) return give_up("cannot write");
  // The message bytes, copied in the kernel where the file system allows.
  off_t from = static_cast<off_t>(claim.file_.message_offset);
  std::uint64_t left = envelope.size;
  while (left > 0) {
    ssize_t n = ::copy_file_range(claim.fd_, &from, file.get(), nullptr, left, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // EXDEV, EINVAL, ...: plain read and write.
      std::string chunk;
      const auto piece = static_cast<std::size_t>(std::min<std::uint64_t>(left, 1 << 20));
      if (!pread_some(claim.fd_, static_cast<std::uint64_t>(from), piece, chunk) ||
          chunk.empty() || !write_all(file.get(), chunk))
        return give_up("cannot copy the message to");
      n = static_cast<ssize_t>(chunk.size());
      from += n;
    }
    left -= static_cast<std::uint64_t>(n);
  }
  std::string tail(end_marker);
  std::vector<HistoryRecord> history = claim.file_.history;
  history.insert(history.end(), records.begin(), records.end());
  for (const auto& r : history) tail += encode_history(r);
  if (!write_all(file.get(), tail) || ::fdatasync(file.get()) != 0) return give_up("cannot write");
  // Same name: the new file replaces the old one in one step.
  if (::renameat(dir.get(), temp.c_str(), dir.get(), entry.path.filename().c_str()) != 0)
    return give_up("cannot rename into place");

  // From here on the claim is the new file, whatever the folder sync says.
  Fd old_file(std::exchange(claim.fd_, file.release()));  // closed here: its lock goes with it
  const bool synced = ::fsync(dir.get()) == 0;
  const int sync_error = errno;
  claim.file_.envelope = std::move(envelope);
  claim.file_.message_offset = header.size();
  claim.file_.history = std::move(history);
  // Keep appending through the new descriptor (claims append at the end).
  int flags = ::fcntl(claim.fd_, F_GETFL);
  if (flags >= 0) ::fcntl(claim.fd_, F_SETFL, flags | O_APPEND);
  struct stat st {};
  ::fstat(claim.fd_, &st);
  entry = make_entry(entry.channel, entry.name, entry.path, st);
  if (!synced) return failure("cannot sync " + folder.string(), sync_error);
  return {true, {}};
}

// --- administration ----------------------------------------------------------------

namespace {

OpResult lock_failure(ClaimError why) { return failure(std::string(claim_error_text(why))); }

/// Renames a locked file to `to` in its folder and syncs the folder.
OpResult rename_locked(const QueueEntry& entry, const QueueFileName& to) {
  ClaimError why{};
  auto locked = lock_file(entry.path, O_RDONLY, &why);
  if (!locked) return lock_failure(why);
  const fs::path folder = entry.path.parent_path();
  Fd dir = open_folder(folder);
  if (!dir || rename_noreplace(dir.get(), entry.path.filename().c_str(), dir.get(), to.str().c_str()) != 0)
    return failure("cannot rename " + entry.path.string() + " to " + to.str(), errno);
  if (::fsync(dir.get()) != 0) return failure("cannot sync " + folder.string(), errno);
  return {true, {}};
}

}  // namespace

OpResult Store::remove(const QueueEntry& entry) const {
  ClaimError why{};
  auto locked = lock_file(entry.path, O_RDONLY, &why);
  if (!locked) return lock_failure(why);
  if (::unlink(entry.path.c_str()) != 0) return failure("cannot remove " + entry.path.string(), errno);
  if (!sync_folder(entry.path.parent_path())) return failure("cannot sync " + entry.path.parent_path().string(), errno);
  return {true, {}};
}

OpResult Store::hold(const QueueEntry& entry) const {
  if (entry.name.held) return failure("already held");
  QueueFileName to = entry.name;
  to.held = true;
  return rename_locked(entry, to);
}

OpResult Store::release(const QueueEntry& entry) const {
  if (!entry.name.held) return failure("not held");
  QueueFileName to = entry.name;
  to.held = false;
  return rename_locked(entry, to);
}

}  // namespace imta::queue
