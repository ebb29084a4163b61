#include "queue/file_io.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace imta::queue::io {

std::error_code errno_code(int e) { return {e, std::system_category()}; }

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t mtime_ms(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool pwrite_all(int fd, std::string_view data, off_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += n;
  }
  return true;
}

bool pread_some(int fd, std::uint64_t offset, std::size_t length, std::string& out) {
  out.resize(length);
  std::size_t got = 0;
  while (got < length) {
    ssize_t n = ::pread(fd, out.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
    // A short read of a regular file is its end: no second call to hear 0.
    // (Queue files only grow under the lock their readers hold.)
    if (got < length) break;
  }
  out.resize(got);
  return true;
}

bool read_whole(int fd, std::string& out) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return pread_some(fd, 0, static_cast<std::size_t>(st.st_size), out);
}

Fd open_folder(const fs::path& path) {
  return Fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

bool sync_folder(const fs::path& path) {
  Fd folder = open_folder(path);
  return folder && ::fsync(folder.get()) == 0;
}

std::error_code make_folder(const fs::path& path) {
  if (::mkdir(path.c_str(), folder_mode) == 0) {
    if (!sync_folder(path.parent_path())) return errno_code();
    return {};
  }
  if (errno != EEXIST) return errno_code();
  return {};
}

int rename_noreplace(int from_dir, const char* from, int to_dir, const char* to) {
  if (::renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  // File systems without RENAME_NOREPLACE: link refuses an existing target too.
  if (::linkat(from_dir, from, to_dir, to, 0) != 0) return -1;
  ::unlinkat(from_dir, from, 0);
  return 0;
}

std::string system_error_text(int e) { return std::strerror(e); }

std::optional<Locked> lock_file(const fs::path& path, int open_flags, ClaimError* why) {
  auto failed = [why](ClaimError e) {
    if (why) *why = e;
    return std::nullopt;
  };
  Locked locked;
  locked.fd = Fd(::open(path.c_str(), open_flags | O_CLOEXEC | O_NOFOLLOW));
  if (!locked.fd) return failed(errno == ENOENT || errno == ENOTDIR ? ClaimError::gone : ClaimError::io);
  while (::flock(locked.fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    return failed(errno == EWOULDBLOCK ? ClaimError::busy : ClaimError::io);
  }
  struct stat now {};
  if (::fstat(locked.fd.get(), &locked.st) != 0) return failed(ClaimError::io);
  if (::stat(path.c_str(), &now) != 0) return failed(errno == ENOENT ? ClaimError::gone : ClaimError::io);
  if (now.st_dev != locked.st.st_dev || now.st_ino != locked.st.st_ino) return failed(ClaimError::gone);
  return locked;
}

ParsedFile read_parsed(int fd, int* io_error, std::string* message) {
  ParsedFile parsed;
  if (io_error) *io_error = 0;
  if (message) message->clear();
  auto read_failed = [&] {
    if (io_error) *io_error = errno;
    parsed.status = ParseStatus::corrupt;
    parsed.error = system_error_text(errno);
    return parsed;
  };
  std::string head;
  std::size_t want = 4096;
  std::optional<std::size_t> header_end;
  while (true) {
    if (!pread_some(fd, 0, want, head)) return read_failed();
    header_end = find_header_end(head);
    if (header_end || head.size() < want || want >= max_header_size) break;
    want *= 4;
  }
  std::size_t message_offset = 0;
  std::string error;
  auto envelope = header_end ? parse_header(head, &error, &message_offset, &parsed.seal) : std::nullopt;
  if (!envelope) {
    // Rare: classify with the whole file (incomplete or damaged).
    std::string whole;
    if (!read_whole(fd, whole)) return read_failed();
    return parse_file(whole);
  }
  const std::uint64_t message_end = message_offset + envelope->size;
  std::string trailer;
  if (head.size() < want) {
    // The first read reached the end of the file: everything is in `head`.
    if (message_end > head.size()) {
      parsed.status = ParseStatus::incomplete;
      parsed.error = "file shorter than its size record";
      return parsed;
    }
    trailer = head.substr(static_cast<std::size_t>(message_end));
    // The message is in memory already: a claim keeps it rather than
    // reading it again.
    if (message) message->assign(head, message_offset, static_cast<std::size_t>(envelope->size));
  } else {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return read_failed();
    const auto file_size = static_cast<std::uint64_t>(st.st_size);
    if (message_end > file_size) {
      parsed.status = ParseStatus::incomplete;
      parsed.error = "file shorter than its size record";
      return parsed;
    }
    if (!pread_some(fd, message_end, static_cast<std::size_t>(file_size - message_end), trailer))
      return read_failed();
    if (message && parsed.seal.check) {
      // A claim of a sealed file checks the seal before anything goes out:
      // the whole message is read now (the master reads it anyway).
      if (message_end > head.size()) {
        std::string rest;
        if (!pread_some(fd, head.size(), static_cast<std::size_t>(message_end - head.size()), rest))
          return read_failed();
        head += rest;
      }
      message->assign(head, message_offset, static_cast<std::size_t>(envelope->size));
    }
  }
  if (!parse_trailer(trailer, parsed.history)) {
    parsed.status = ParseStatus::incomplete;
    parsed.error = "no end marker after the message";
    parsed.history.clear();
    if (message) message->clear();
    return parsed;
  }
  // A claim's head holds the file from its start through the message; the
  // end marker (checked above) is the start of the trailer.
  if (message && !seal_matches(head, parsed.seal, static_cast<std::size_t>(message_end))) {
    parsed.status = ParseStatus::corrupt;
    parsed.error = seal_mismatch_error;
    parsed.history.clear();
    message->clear();
    return parsed;
  }
  parsed.status = ParseStatus::ok;
  parsed.envelope = std::move(*envelope);
  parsed.message_offset = message_offset;
  return parsed;
}

std::error_code append_history(int fd, const std::vector<HistoryRecord>& records) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_code();
  std::string text;
  if (st.st_size > 0) {
    std::string last;
    if (!pread_some(fd, static_cast<std::uint64_t>(st.st_size - 1), 1, last)) return errno_code();
    if (last != "\n") text += '\n';
  }
  for (const auto& r : records) text += encode_history(r);
  if (!pwrite_all(fd, text, st.st_size) || ::fdatasync(fd) != 0) {
    auto error = errno_code();
    if (::ftruncate(fd, st.st_size) == 0) ::fdatasync(fd);
    return error;
  }
  return {};
}

void restore_mtime(int fd, const struct stat& before) {
  struct timespec times[2] = {{0, UTIME_OMIT}, before.st_mtim};
  ::futimens(fd, times);
}

}  // namespace imta::queue::io
