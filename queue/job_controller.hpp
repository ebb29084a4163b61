// The job controller: knows every queued file (the queue cache), decides
// when each is due, and runs channel masters as jobs to deliver them.
//
// It learns of files from a full scan of the queue (at start and every
// SYNCH_TIME seconds: that finds files dropped in by hand and forgets files
// removed behind its back) and from the notifications of whoever enqueued
// them (enqueued()). A file is offered to a job only once it is due: at
// once when new, else when its channel's backoff after its last attempt has
// passed (queue/backoff.hpp); `.HELD` files are never in the cache.
//
// A job runs Masters over files of its channel, one thread (with its own
// Master) per delivery at once: each takes the next due file, claims it (a
// file another program holds is skipped and tried again a minute later),
// delivers it, acts on the report (queue/outcome.hpp), and goes on while
// files are due; when none is, it lingers a moment for new ones, then calls
// its master's idle() and ends; the job ends with its last thread. One
// delivery runs for every `threaddepth` files due: threads are added to
// running jobs first (up to MAX_CLIENT_THREADS per job for SMTP channels,
// one for the others), then jobs start within each channel's `maxjobs` and
// its pool's JOB_LIMIT; channels marked `periodic` run
// only on the periodic sweep (each rescan) or `imta submit`.
//
// This class is the scheduler only: no sockets, no signals, and the clock is
// injected, so tests drive it by calling scan()/enqueued()/schedule() and
// stepping the clock. The daemon around it is queue/job_daemon.hpp.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "queue/job_cache.hpp"
#include "queue/job_policy.hpp"
#include "queue/job_runner.hpp"
#include "queue/master.hpp"
#include "queue/notify.hpp"
#include "queue/store.hpp"

namespace imta::core::log {
class AsyncMailLog;
}

namespace imta::queue {

class EnqueueNotifier;
class Submitter;

struct JobControllerOptions {
  std::filesystem::path instance_root;  ///< for MasterServices::instance
  Store* store = nullptr;
  core::log::AsyncMailLog* log = nullptr;  ///< mail.log (may be null: no records)
  EnqueueNotifier* notifier = nullptr;     ///< given to the Submitters (may be null)
  MasterFactory factory;
  /// The clock (Unix ms); empty = the system clock.
  std::function<std::int64_t()> now_ms;
  /// Events worth the daemon log (a channel without master, unreadable
  /// files, failed queue operations).
  std::function<void(std::string_view)> log_line;
  /// The masters' and jobs' per-recipient lines too; also on when
  /// job_controller.cnf sets DEBUG.
  bool trace = false;
  /// How long (real time) a job with nothing to do waits for new files.
  std::chrono::milliseconds linger{1000};
  /// When a file another program holds (or whose queue operation failed)
  /// is tried again.
  std::int64_t busy_retry_ms = 60'000;
};

/// A running job, for `imta qm jobs`.
struct JobInfo {
  std::uint64_t id = 0;
  std::string channel;
  std::string pool;
  std::vector<std::string> delivering;  ///< the files its threads deliver now (none between files)
  std::int64_t started_ms = 0;  ///< controller clock
  std::uint64_t files = 0;      ///< files done so far
  unsigned threads = 1;         ///< deliveries running at once (MAX_CLIENT_THREADS caps them)
};

/// One channel's numbers, for `imta cache -view` and the daemon log.
struct ChannelSummary {
  std::string channel;
  std::size_t files = 0, waiting = 0, ready = 0, running = 0;
  unsigned jobs = 0;
  bool immediate = true;
  bool has_master = true;
};

class JobController {
 public:
  JobController(JobControllerOptions options, std::shared_ptr<const config::Snapshot> snapshot);
  /// Stops (see stop()).
  ~JobController();
  JobController(const JobController&) = delete;
  JobController& operator=(const JobController&) = delete;

  // --- learning about files ------------------------------------------------
  /// A full scan of the queue (streaming, held files skipped): adds new
  /// files, takes over new names of files tried by someone else, forgets
  /// files that went. Also the periodic sweep: periodic channels with due
  /// files run. Returns the number of files cached.
  std::size_t scan();
  /// A file was just enqueued (a notification).
  void enqueued(std::string_view channel, const std::filesystem::path& path);
  /// The enqueued lines of one or more datagrams at once: one lock, one
  /// wake-up of the lingering jobs, one scheduling pass (submit lines are
  /// acted on too).
  void enqueued(const std::vector<Notification>& notes);

  // --- running ---------------------------------------------------------------
  /// Runs `channel` now (every channel when empty): its due files are
  /// offered even when the channel is periodic. Backoff still applies.
  void submit(std::string_view channel);
  /// Starts the jobs that may start now (call after stepping the clock).
  void schedule();
  /// When the next waiting file falls due (for the daemon's sleep), if any.
  std::optional<std::int64_t> next_due_ms();
  /// A new configuration: new jobs use it; running ones finish with theirs.
  void reload(std::shared_ptr<const config::Snapshot> snapshot);
  /// No new jobs; running jobs end after their current file. Waits for them.
  void stop();
  /// Waits until no job runs (tests).
  void wait_idle();

  // --- what it holds ---------------------------------------------------------
  std::vector<JobInfo> jobs() const;
  /// The cached files of `channel` (every channel when empty), by channel,
  /// then due time.
  std::vector<CachedFile> files(std::string_view channel) const;
  /// The same a piece at a time, for very big caches: calls `visit` (under
  /// the controller's lock: keep it short) for the files of `channel` in
  /// cache slots [cursor, cursor + max) and advances `cursor`; false when
  /// the channel has no more.
  bool visit_files(std::string_view channel, std::uint32_t& cursor, std::uint32_t max,
                   const std::function<void(const CachedFile&)>& visit) const;
  /// The channels the cache has files of.
  std::vector<std::string> channels() const;
  std::vector<ChannelSummary> summary() const;
  std::size_t cached() const;
  /// Bytes held by the cache's structures.
  std::size_t memory_bytes() const;
  std::int64_t now() const;

 private:
  struct Generation;
  struct Job;
  struct Taken {
    ChannelCache::Slot slot;
    QueueEntry entry;
  };
  enum class Growth { none, thread, job };
  void schedule_locked(std::unique_lock<std::mutex>& lock);
  const ChannelPolicy& policy_locked(const std::string& channel);
  /// What `channel` may get now for its `ready` due files.
  Growth growth_locked(const std::string& channel, const ChannelPolicy& policy, std::size_t ready, std::int64_t t);
  /// A running job of `channel` that may take one more thread, or null.
  Job* job_with_room_locked(const std::string& channel, std::int64_t t);
  void start_job_locked(const std::string& channel, const ChannelPolicy& policy);
  void add_worker_locked(Job& job);
  void run_worker(Job* job, std::list<std::thread>::iterator self);
  std::optional<Taken> next_file(Job* job);
  void file_done(Job* job, const Taken& taken, const FileAttempt& attempt, std::optional<QueueEntry> found);
  void worker_done(Job* job, std::list<std::thread>::iterator self);
  void reap();
  /// Wakes lingering threads of `channel` for this many new files.
  void wake_locked(std::string_view channel, std::size_t files);
  void add_locked(const QueueEntry& entry, std::int64_t now, const RetrySchedule* schedule = nullptr);
  static std::optional<QueueEntry> entry_of(std::string_view channel, const std::filesystem::path& path);
  void log(std::string_view line) const;

  JobControllerOptions options_;
  core::Instance instance_;
  mutable std::mutex mutex_;
  std::mutex scan_mutex_;         // one scan at a time (each has its epoch)
  /// The lingering threads of one channel's jobs wait here for its new
  /// files (or stop); never erased, so references stay valid.
  struct Waiters {
    std::condition_variable work;
    std::size_t lingering = 0;
  };
  std::map<std::string, Waiters, std::less<>> waiters_;
  std::condition_variable idle_;  // a job ended
  std::shared_ptr<Generation> generation_;
  QueueCache cache_;
  std::map<std::string, ChannelPolicy, std::less<>> policies_;  // of generation_
  std::map<std::string, unsigned, std::less<>> channel_jobs_;
  std::map<std::string, unsigned, std::less<>> channel_workers_;  // threads of its jobs
  std::map<std::string, unsigned, std::less<>> pool_jobs_;      // by upper-case pool name
  std::set<std::string, std::less<>> requested_;  // channels asked to run (sweep, submit)
  std::set<std::string, std::less<>> no_master_;  // until the next reload
  std::list<Job> jobs_;
  std::vector<std::thread> finished_;             // threads of ended jobs, to join
  std::atomic<bool> stopping_{false};
  std::uint8_t epoch_ = 0;
  std::uint64_t next_job_id_ = 1;
};

}  // namespace imta::queue
