// The buffered mail.log writer; see async_log.hpp.
#include "core/log/async_log.hpp"

#include <span>

namespace imta::core::log {

namespace {

/// Write at once when this many records wait (a burst).
constexpr std::size_t kEagerBatch = 2048;

/// The writer is woken by the first record of a batch, then gathers what
/// comes for this long before it writes: a few hundred rounds a second at
/// most, rather than one wake-up (a futex call and a context switch on a
/// busy machine) per record. It bounds how late a line is written and how
/// late the SMTP server's notifications (write(records, after_written))
/// reach the job controller.
constexpr std::chrono::milliseconds kGather{2};

}  // namespace

AsyncMailLog::AsyncMailLog(MailLogFileOptions options, std::chrono::milliseconds flush_interval)
    : interval_(flush_interval) {
  // Records are stamped with the time they were queued: the writer sets
  // stamp_ before each group it hands to the file.
  options.clock = [this] { return stamp_; };
  file_ = std::make_unique<MailLogFile>(std::move(options));
  thread_ = std::thread([this] { run(); });
}

AsyncMailLog::~AsyncMailLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void AsyncMailLog::write(LogRecord record) { write(std::move(record), std::chrono::system_clock::now()); }

void AsyncMailLog::write(LogRecord record, std::chrono::system_clock::time_point now) {
  bool eager;
  {
    std::lock_guard lock(mutex_);
    eager = idle() || queue_.size() + 1 >= kEagerBatch;
    queue_.push_back({now, std::move(record)});
    ++queued_;
  }
  if (eager) wake_.notify_one();
}

void AsyncMailLog::write(std::vector<LogRecord> records) { write(std::move(records), nullptr); }

void AsyncMailLog::write(std::vector<LogRecord> records, std::function<void()> after_written) {
  if (records.empty() && !after_written) return;
  auto now = std::chrono::system_clock::now();
  bool eager;
  {
    std::lock_guard lock(mutex_);
    eager = idle() || queue_.size() + records.size() >= kEagerBatch;
    for (auto& r : records) queue_.push_back({now, std::move(r)});
    queued_ += records.size();
    if (after_written) after_.push_back(std::move(after_written));
  }
  if (eager) wake_.notify_one();
}

void AsyncMailLog::set_after_round(std::function<void()> action) {
  std::lock_guard lock(mutex_);
  after_round_ = std::move(action);
}

void AsyncMailLog::set_options(MailLogFileOptions options) {
  std::lock_guard lock(mutex_);
  new_options_ = std::move(options);
}

void AsyncMailLog::flush() {
  std::unique_lock lock(mutex_);
  const auto target = queued_;
  ++flush_waiters_;
  wake_.notify_one();
  written_.wait(lock, [&] { return done_ >= target; });
  --flush_waiters_;
}

void AsyncMailLog::run() {
  std::vector<Entry> batch;
  std::vector<std::function<void()>> after;
  std::unique_lock lock(mutex_);
  auto urgent = [&] { return stopping_ || (flush_waiters_ > 0 && done_ < queued_) || queue_.size() >= kEagerBatch; };
  for (;;) {
    // As soon as something waits (write(): the first of a batch wakes the
    // writer), a flush() or the end; the interval only bounds the wait
    // should a wake-up be missed. Then gather for kGather unless something
    // is urgent.
    wake_.wait_for(lock, interval_, [&] { return urgent() || !queue_.empty() || !after_.empty(); });
    if (!urgent() && (!queue_.empty() || !after_.empty())) wake_.wait_for(lock, kGather, urgent);
    batch.swap(queue_);
    after.swap(after_);
    auto after_round = after.empty() ? std::function<void()>() : after_round_;
    auto fresh = std::move(new_options_);
    new_options_.reset();
    const bool stop = stopping_;
    const bool flushing = flush_waiters_ > 0;
    lock.unlock();
    if (fresh) {
      fresh->clock = [this] { return stamp_; };
      file_ = std::make_unique<MailLogFile>(std::move(*fresh));
    }
    write_batch(batch);
    for (auto& action : after) action();
    after.clear();
    if (after_round) after_round();
    // flush() also waits for the databases (tests, shutdown: never the hot path).
    if (flushing) file_->flush_databases();
    const auto n = batch.size();
    batch.clear();
    lock.lock();
    done_ += n;
    written_.notify_all();
    if (stop && queue_.empty() && after_.empty()) return;
  }
}

void AsyncMailLog::write_batch(std::vector<Entry>& batch) {
  // The whole batch goes to the databases' thread in one hand-over.
  MailLogFile::Batch databases(*file_);
  // Records queued within the same hundredth of a second share a stamp, so
  // they go to the file together.
  std::vector<LogRecord> group;
  auto centis = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() / 10;
  };
  std::size_t i = 0;
  while (i < batch.size()) {
    auto key = centis(batch[i].when);
    stamp_ = batch[i].when;
    group.clear();
    while (i < batch.size() && centis(batch[i].when) == key) group.push_back(std::move(batch[i++].record));
    file_->write_owned(group);  // a write error loses these lines, never mail
  }
}

}  // namespace imta::core::log
