#include "core/log/roll_lock.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace imta::core::log {

RollLock::RollLock(std::filesystem::path log_dir) : path_(std::move(log_dir) / kRollLockName) {}

RollLock::~RollLock() {
    if (fd_ >= 0) ::close(fd_);
}

int RollLock::descriptor() {
    if (fd_ >= 0) return fd_;
    // Read-only is enough for flock(2), and mode 0644 lets every user that
    // writes the log (root running `imta qm`, the daemons) open the file
    // whoever created it.
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0 && errno == ENOENT) {
        std::error_code ignored;
        std::filesystem::create_directories(path_.parent_path(), ignored);
        fd_ = ::open(path_.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    }
    return fd_;
}

RollLock::Guard::Guard(RollLock& lock, bool exclusive) {
    const int fd = lock.descriptor();
    if (fd < 0) return;
    int rc;
    do {
        rc = ::flock(fd, exclusive ? LOCK_EX : LOCK_SH);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) fd_ = fd;
}

RollLock::Guard::~Guard() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
}

}  // namespace imta::core::log
