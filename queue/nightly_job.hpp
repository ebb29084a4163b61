// The job controller's nightly work, at job_controller.cnf's RETURN_TIME
// (hourly with RETURN_UNITS=1), as the original MTA's return job did it:
//   1. the return job: delay warnings and returns by the channels' notices
//      (queue/return_job.hpp);
//   2. the log roll: mail.log_current -> mail.log_yesterday -> appended to
//      mail.log, the same for connection.log_* (core/log/log_roll.hpp);
//   3. the site's hook bin/daily_cleanup, under DAILY_CLEANUP_TIMEOUT
//      (core/log/daily_cleanup.hpp);
//   4. tracking rows older than LOG_TRACKING_DAYS pruned.
// Runs on a thread of its own so deliveries go on meanwhile.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "queue/store.hpp"

namespace imta::core::log {
class AsyncMailLog;
}

namespace imta::queue {

class EnqueueNotifier;

class NightlyJob {
 public:
  struct Inputs {
    core::Instance instance{""};
    Store* store = nullptr;
    core::log::AsyncMailLog* log = nullptr;
    EnqueueNotifier* notifier = nullptr;
    std::function<std::shared_ptr<const config::Snapshot>()> snapshot;  ///< the one in force
    std::function<void(const std::string&)> log_line;                   ///< the daemon's own log
  };
  explicit NightlyJob(Inputs inputs);
  /// Stops waiting; a run in progress acts on no further file, then ends.
  ~NightlyJob();
  NightlyJob(const NightlyJob&) = delete;
  NightlyJob& operator=(const NightlyJob&) = delete;

  /// One complete run now (what the thread does at RETURN_TIME).
  void run_once();

 private:
  void loop();
  Inputs in_;
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;  // last: starts when everything above is ready
};

}  // namespace imta::queue
