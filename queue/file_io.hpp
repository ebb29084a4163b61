// The system calls of the queue, wrapped once: complete reads and writes,
// folders made and synced, renames that never replace, the claim lock, and
// reading what a listing needs from a queue file without reading the
// message. Internal to queue/.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "queue/fd.hpp"
#include "queue/message_file.hpp"
#include "queue/store.hpp"

namespace imta::queue::io {

namespace fs = std::filesystem;

inline constexpr mode_t file_mode = 0600;
inline constexpr mode_t folder_mode = 0700;
/// A header larger than this is not ours.
inline constexpr std::size_t max_header_size = 16 * 1024 * 1024;

std::error_code errno_code(int e = errno);
std::string system_error_text(int e);
std::int64_t now_ms();
std::int64_t mtime_ms(const struct stat& st);

/// write(2)/pwrite(2) until everything is written; false with errno set.
bool write_all(int fd, std::string_view data);
bool pwrite_all(int fd, std::string_view data, off_t offset);
/// Reads up to `length` bytes at `offset` (fewer at end of file).
bool pread_some(int fd, std::uint64_t offset, std::size_t length, std::string& out);
bool read_whole(int fd, std::string& out);

/// Opens a folder for *at() calls and fsync.
Fd open_folder(const fs::path& path);
bool sync_folder(const fs::path& path);
/// mkdir that reports an existing folder as success; the parent is synced
/// when a folder is created so that the new entry survives a crash.
std::error_code make_folder(const fs::path& path);
/// Moves `from` to `to` (within or between folders) without ever replacing
/// an existing file: -1 with EEXIST if `to` exists.
int rename_noreplace(int from_dir, const char* from, int to_dir, const char* to);

/// The result of opening and locking a queue file.
struct Locked {
  Fd fd;
  struct stat st {};
};
/// Opens `path` and takes its exclusive lock without waiting, then checks
/// that the path still names the inode we locked: a file renamed or removed
/// between open and flock (by whoever held the lock) is gone, not ours.
std::optional<Locked> lock_file(const fs::path& path, int open_flags, ClaimError* why);

/// Reads what a listing or a master needs from an open queue file: the
/// header (read in growing pieces until its blank line), then the end marker
/// and the history behind the message. The message itself is not read.
/// A read error comes back as corrupt with the system error as text and its
/// errno in `io_error` (0 when the file was read).
/// With `message`: when one read covered the whole file, the message bytes
/// are left there (empty otherwise), so a claim need not read them again.
ParsedFile read_parsed(int fd, int* io_error = nullptr, std::string* message = nullptr);

/// Appends history records to a locked file and makes them durable. A torn
/// record left by an earlier crash is closed with a newline first, so it
/// stays one (ignored) line instead of swallowing the new one. On failure
/// the file is cut back to its old length.
std::error_code append_history(int fd, const std::vector<HistoryRecord>& records);

/// Puts a file's modification time back (history notes must not move the
/// "last attempt" time the scheduler reads from it).
void restore_mtime(int fd, const struct stat& before);

}  // namespace imta::queue::io
