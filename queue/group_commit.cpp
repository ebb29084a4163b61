#include "queue/group_commit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace imta::queue {

namespace {

std::error_code last_error() { return {errno, std::system_category()}; }

}  // namespace

/// A few threads that run fdatasync/fsync calls of one barrier side by side.
class SyncPool {
 public:
  struct Item {
    int fd;
    bool folder;  ///< fsync (a folder) rather than fdatasync (a file)
  };

  explicit SyncPool(unsigned helpers) {
    for (unsigned i = 0; i < helpers; ++i) threads_.emplace_back([this] { help(); });
  }
  ~SyncPool() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  SyncPool(const SyncPool&) = delete;
  SyncPool& operator=(const SyncPool&) = delete;

  /// Runs every item (the calling thread takes part); the first error.
  std::error_code run(const std::vector<Item>& items) {
    if (items.empty()) return {};
    std::unique_lock lock(mutex_);
    items_ = &items;
    next_ = done_ = 0;
    error_ = {};
    ++generation_;
    wake_.notify_all();
    drain(lock);
    finished_.wait(lock, [&] { return done_ == items.size(); });
    items_ = nullptr;
    return error_;
  }

 private:
  void help() {
    std::uint64_t seen = 0;
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      drain(lock);
    }
  }
  /// Takes items until none is left; called with the lock held.
  void drain(std::unique_lock<std::mutex>& lock) {
    while (items_ && next_ < items_->size()) {
      const Item item = (*items_)[next_++];
      lock.unlock();
      const int rc = item.folder ? ::fsync(item.fd) : ::fdatasync(item.fd);
      const std::error_code e = rc == 0 ? std::error_code{} : last_error();
      lock.lock();
      if (e && !error_) error_ = e;
      if (++done_ == items_->size()) finished_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  const std::vector<Item>* items_ = nullptr;
  std::size_t next_ = 0;
  std::size_t done_ = 0;
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
  std::error_code error_;
  std::vector<std::thread> threads_;  // last: they use everything above
};

GroupCommit::GroupCommit(GroupBarrier barrier, int fs_fd)
    : kind_(barrier),
      fs_fd_(fs_fd),
      pool_(barrier == GroupBarrier::fdatasync ? std::make_unique<SyncPool>(sync_helpers) : nullptr),
      thread_([this] { run(); }) {}

GroupCommit::~GroupCommit() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void GroupCommit::submit(Request request) {
  {
    std::lock_guard lock(mutex_);
    waiting_.push_back(std::move(request));
  }
  wake_.notify_one();
}

void GroupCommit::run() {
  std::vector<Request> batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
      if (waiting_.empty()) return;  // stopping, and nothing left to finish
      batch.swap(waiting_);
    }
    bool any_barrier = std::any_of(batch.begin(), batch.end(), [](const Request& r) { return r.barrier; });
    std::error_code result;
    if (any_barrier) result = barrier(batch);
    for (auto& request : batch) {
      // A callback must not take the commit thread down with it: the other
      // writers of the batch are still waiting for theirs.
      try {
        request.done(request.barrier ? result : std::error_code{});
      } catch (...) {
      }
    }
    batch.clear();
  }
}

std::error_code GroupCommit::barrier(const std::vector<Request>& batch) const {
  if (kind_ == GroupBarrier::syncfs) {
    // syncfs reports write-back errors on this file system since Linux 5.8.
    if (::syncfs(fs_fd_) != 0) return last_error();
    return {};
  }
  // Every file's fdatasync and one fsync per distinct folder, all at once
  // from a few threads: the kernel merges concurrent journal commits and
  // cache flushes, where one call after the other pays for each.
  std::vector<SyncPool::Item> items;
  std::vector<std::pair<dev_t, ino_t>> seen;
  std::error_code result;
  for (const auto& r : batch) {
    if (!r.barrier) continue;
    for (int fd : r.files) items.push_back({fd, false});
    for (int fd : r.folders) {
      struct stat st {};
      if (::fstat(fd, &st) != 0) {
        if (!result) result = last_error();
        continue;
      }
      std::pair key{st.st_dev, st.st_ino};
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
      seen.push_back(key);
      items.push_back({fd, true});
    }
  }
  auto synced = pool_->run(items);
  return result ? result : synced;
}

}  // namespace imta::queue
