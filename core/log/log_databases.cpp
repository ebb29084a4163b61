// The tracking and counters databases' own thread; see log_databases.hpp.
#include "core/log/log_databases.hpp"

#include <pthread.h>

#include "core/log/counters.hpp"
#include "core/log/tracking.hpp"

namespace imta::core::log {

bool feeds_log_databases(RecordCode code) { return code != RecordCode::BadCommand && !is_connection_record(code); }

LogDatabases::LogDatabases(Options options) : options_(std::move(options)) {
    if (options_.tracking)
        tracking_ = std::make_unique<TrackingDb>(options_.db_dir / kTrackingDbName, options_.diagnostic);
    if (options_.counters)
        counters_ = std::make_unique<CountersDb>(options_.db_dir / kCountersDbName, options_.block_size,
                                                 options_.diagnostic);
    thread_ = std::thread([this] { run(); });
    // Named so that its CPU can be told apart (top -H, /proc/PID/task/*/comm;
    // tests/bench/bench_tracking.sh).
    ::pthread_setname_np(thread_.native_handle(), "imta-logdb");
}

LogDatabases::~LogDatabases() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void LogDatabases::add(std::vector<WrittenRecord>& records) {
    if (records.empty()) return;
    const auto n = records.size();
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        handed_ += n;
        if (pending_records_ + n > kMaxPending) {
            dropped_ += n;
            committed_ += n;
            wake = true;  // the thread reports it
        } else {
            // The thread needs waking only to start its gathering delay, or
            // when enough wait to commit at once.
            wake = pending_.empty() || (pending_records_ < kEager && pending_records_ + n >= kEager);
            if (pending_.empty()) first_at_ = std::chrono::steady_clock::now();
            pending_.push_back(std::move(records));
            pending_records_ += n;
        }
    }
    records.clear();
    if (wake) wake_.notify_one();
}

void LogDatabases::flush() {
    std::unique_lock lock(mutex_);
    const auto target = handed_;
    ++flush_waiters_;
    wake_.notify_one();
    done_.wait(lock, [&] { return committed_ >= target; });
    --flush_waiters_;
}

void LogDatabases::run() {
    std::vector<Chunk> batch;
    std::uint64_t unreported = 0;  // records dropped, told at most once a minute
    std::chrono::steady_clock::time_point next_report{};
    std::unique_lock lock(mutex_);
    for (;;) {
        auto now_due = [&] {
            return stopping_ || flush_waiters_ > 0 || pending_records_ >= kEager || dropped_ > 0;
        };
        wake_.wait(lock, [&] { return now_due() || !pending_.empty(); });
        if (!now_due()) wake_.wait_until(lock, first_at_ + kGather, now_due);
        batch.swap(pending_);
        const auto n = pending_records_;
        pending_records_ = 0;
        const auto dropped = dropped_;
        dropped_ = 0;
        const bool stop = stopping_;
        lock.unlock();
        unreported += dropped;
        if (unreported > 0 && options_.diagnostic && std::chrono::steady_clock::now() >= next_report) {
            options_.diagnostic("tracking and counters: " + std::to_string(unreported) +
                                " records not applied: the databases are too far behind");
            unreported = 0;
            next_report = std::chrono::steady_clock::now() + std::chrono::minutes(1);
        }
        apply(batch);
        batch.clear();
        lock.lock();
        committed_ += n;
        done_.notify_all();
        if (stop && pending_.empty()) return;
    }
}

void LogDatabases::apply(std::vector<Chunk>& batch) {
    if (batch.empty()) return;
    for (auto& chunk : batch)
        for (auto& w : chunk) {
            // The counters read the record; tracking then takes its texts
            // (the record is not used again).
            if (counters_) counters_->add(w.record);
            if (tracking_)
                if (auto u = tracking_update(std::move(w.record), w.when)) tracking_->add(std::move(*u));
        }
    if (tracking_) tracking_->commit();
    if (counters_) counters_->commit();
}

}  // namespace imta::core::log
