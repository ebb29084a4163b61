#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace imta::core {

namespace {

// Closes the descriptor it owns; the one place in this file that closes fds.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  /// Closes now, reporting the error close() may carry for buffered writes.
  bool close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

std::string failure(const std::string& what, const std::filesystem::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
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

}  // namespace

std::string write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                              mode_t mode) {
  auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  auto temp = dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()));

  Fd file(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (file.get() < 0) return failure("cannot create", temp);
  if (!write_all(file.get(), contents) || ::fsync(file.get()) != 0 || !file.close()) {
    auto message = failure("cannot write", temp);
    ::unlink(temp.c_str());
    return message;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    auto message = failure("cannot rename into place", path);
    ::unlink(temp.c_str());
    return message;
  }
  Fd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.get() < 0 || ::fsync(directory.get()) != 0) return failure("cannot sync directory", dir);
  return {};
}

}  // namespace imta::core
