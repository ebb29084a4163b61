// Owners for kernel handles: a file descriptor and an open directory stream.
// Code that opens them holds them here, so every early return releases what
// it opened (and with it any flock lock).
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <utility>

namespace imta::core {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  /// Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

/// A directory being read with readdir(3).
class Dir {
 public:
  Dir() = default;
  /// Takes ownership of `fd` (an O_DIRECTORY descriptor) on success; on
  /// failure the descriptor is closed and the Dir is empty.
  explicit Dir(Fd fd) {
    if (!fd) return;
    dir_ = ::fdopendir(fd.get());
    if (dir_) fd.release();
  }
  Dir(Dir&& other) noexcept : dir_(std::exchange(other.dir_, nullptr)) {}
  Dir& operator=(Dir&& other) noexcept {
    if (this != &other) {
      if (dir_) ::closedir(dir_);
      dir_ = std::exchange(other.dir_, nullptr);
    }
    return *this;
  }
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  ~Dir() {
    if (dir_) ::closedir(dir_);
  }

  explicit operator bool() const { return dir_ != nullptr; }
  DIR* get() const { return dir_; }
  int fd() const { return dir_ ? ::dirfd(dir_) : -1; }

 private:
  DIR* dir_ = nullptr;
};

}  // namespace imta::core
