// mail.log writes taken off the SMTP session's path: callers hand records to
// a queue (a mutex, no I/O) and one writer thread appends them with
// MailLogFile: woken by the first record of a batch, it gathers for 2 ms,
// then writes; whatever arrives while it writes goes in the next batch (so
// batches grow with the load), and everything is written before the
// destructor returns. `flush_interval` (100 ms by default) only bounds a
// sleep.
//
// Each record keeps the time it was handed in, not the time it was written.
// What is still queued when the process dies (a crash, SIGKILL) is lost:
// the last lines of the log, never mail, because a message is durable in
// the queue before its 250 and before its E records are even queued.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/log/mail_log_file.hpp"

namespace imta::core::log {

class AsyncMailLog {
 public:
  explicit AsyncMailLog(MailLogFileOptions options,
                        std::chrono::milliseconds flush_interval = std::chrono::milliseconds(100));
  /// Writes everything queued, then stops the writer thread.
  ~AsyncMailLog();
  AsyncMailLog(const AsyncMailLog&) = delete;
  AsyncMailLog& operator=(const AsyncMailLog&) = delete;

  /// Queues records; never waits for the disk.
  void write(LogRecord record);
  /// The same for an event that happened at `when` (a record held back).
  void write(LogRecord record, std::chrono::system_clock::time_point when);
  void write(std::vector<LogRecord> records);
  /// The same, then `after_written` runs on the writer thread once the
  /// records are in mail.log (also when `records` is empty). The SMTP server
  /// tells the job controller of new queue files this way, so an E record
  /// is always in the log before the D record of its delivery can be.
  void write(std::vector<LogRecord> records, std::function<void()> after_written);
  /// Runs on the writer thread after every round that ran `after_written`
  /// actions (e.g. sending the notifications they collected at once). Set it
  /// before the first write.
  void set_after_round(std::function<void()> action);

  /// New LOG_* settings (after a reload): records queued from now on use them.
  void set_options(MailLogFileOptions options);

  /// Blocks until every record queued before the call is written, and its
  /// tracking and counters committed (tests, orderly shutdown).
  void flush();

 private:
  struct Entry {
    std::chrono::system_clock::time_point when;
    LogRecord record;
  };
  void run();
  /// Nothing queued: the writer sleeps (the caller holds mutex_).
  bool idle() const { return queue_.empty() && after_.empty(); }
  void write_batch(std::vector<Entry>& batch);

  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;     // the writer: something to do
  std::condition_variable written_;  // flush(): a batch is done
  std::vector<Entry> queue_;
  std::vector<std::function<void()>> after_;  // after_written actions of the queued records
  std::function<void()> after_round_;
  std::optional<MailLogFileOptions> new_options_;
  std::uint64_t queued_ = 0;   // records ever queued
  std::uint64_t done_ = 0;     // records ever written (or dropped by options)
  int flush_waiters_ = 0;
  bool stopping_ = false;
  // Used only by the writer thread.
  std::unique_ptr<MailLogFile> file_;
  std::chrono::system_clock::time_point stamp_;  // the time the next write() stamps
  std::thread thread_;  // last: starts when everything above is ready
};

}  // namespace imta::core::log
