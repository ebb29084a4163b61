// Group commit: one thread that makes batches of queue files durable with a
// single barrier. Writers hand in their finished (already renamed) files and
// a callback; the thread takes everything that is waiting, runs one barrier
// for the whole batch, then calls every callback. While a barrier runs, new
// arrivals gather for the next one, so the number of barriers per second
// stays near what the disk can do while the messages per barrier grow with
// the load. Internal to queue/.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace imta::queue {

/// What one barrier does.
enum class GroupBarrier : std::uint8_t {
  /// syncfs(2) on the queue file system: one call covers every file and
  /// folder of the batch (and, as a side effect, anything else dirty there).
  syncfs,
  /// fdatasync of every file and one fsync per distinct folder, issued side
  /// by side from a few threads (only what the batch wrote is flushed).
  fdatasync,
};

class SyncPool;

class GroupCommit {
 public:
  struct Request {
    /// Files and folders the barrier must cover (descriptors stay owned by
    /// the caller and must stay open until `done` runs).
    std::vector<int> files;
    std::vector<int> folders;
    /// False for work that only needs to run on the commit thread in order
    /// (e.g. reporting an error from the commit thread): no barrier.
    bool barrier = true;
    /// Runs on the commit thread with the barrier's result.
    std::function<void(std::error_code)> done;
  };

  /// `fs_fd` is any descriptor on the queue file system (for syncfs); it
  /// must outlive this object.
  GroupCommit(GroupBarrier barrier, int fs_fd);
  /// Finishes every request already submitted, then stops the thread.
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  void submit(Request request);

 private:
  void run();
  std::error_code barrier(const std::vector<Request>& batch) const;

  /// Threads the fdatasync barrier issues its calls from (with the commit thread).
  static constexpr unsigned sync_helpers = 7;
  /// How much nicer than its process the commit thread runs (group_commit.cpp):
  /// measured against 0, 5, 15 and 19 with tests/bench (half the syncfs calls,
  /// about a tenth less CPU per message, 4-6% more messages a second).
  static constexpr int commit_nice = 10;

  const GroupBarrier kind_;
  const int fs_fd_;
  std::unique_ptr<SyncPool> pool_;  // fdatasync barriers only
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Request> waiting_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after everything above is ready
};

}  // namespace imta::queue
