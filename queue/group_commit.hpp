// Group commit: one thread that makes batches of queue files durable with a
// single barrier. Writers hand in their finished (already renamed) files and
// a callback; the thread takes everything that is waiting, runs one barrier
// for the whole batch, then calls every callback. While a barrier runs, new
// arrivals gather for the next one, so the number of barriers per second
// stays near what the disk can do while the messages per barrier grow with
// the load. A batch may also wait a little for messages still being
// written (see run()). Internal to queue/.
#pragma once

#include <atomic>
#include <chrono>
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
  /// must outlive this object. `writing`, if given, counts the messages on
  /// their way that will be handed in (the store's ExpectedMessage tokens:
  /// SMTP transactions past MAIL FROM, open transactions); it must outlive
  /// this object too. `gather`: see gather_files.
  GroupCommit(GroupBarrier barrier, int fs_fd, const std::atomic<int>* writing = nullptr,
              std::chrono::microseconds gather = std::chrono::microseconds(400));
  /// Finishes every request already submitted, then stops the thread.
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  void submit(Request request);
  /// A message on its way was given up (`writing` went down without a
  /// submit): a batch waiting for it need not wait any longer.
  void nudge();

  /// Before a batch's barrier starts, the thread waits until the batch has
  /// gather_files requests, or nothing else is on its way (`writing` is
  /// 0), or `gather` has passed (run()).
  static constexpr std::size_t gather_files = 16;

 private:
  void run();
  std::error_code barrier(const std::vector<Request>& batch) const;

  /// Threads the fdatasync barrier issues its calls from (with the commit thread).
  static constexpr unsigned sync_helpers = 7;
  const GroupBarrier kind_;
  const int fs_fd_;
  const std::atomic<int>* const writing_;
  const std::chrono::microseconds gather_;
  std::unique_ptr<SyncPool> pool_;  // fdatasync barriers only
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Request> waiting_;
  bool barrier_waiting_ = false;  ///< a request in waiting_ needs a barrier
  bool stopping_ = false;
  std::thread thread_;  // last: starts after everything above is ready
};

}  // namespace imta::queue
