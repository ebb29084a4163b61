// The databases kept from mail.log records (tracking.hpp with LOG_TRACKING,
// counters.hpp with LOG_COUNTERS), fed from a thread of their own so that
// SQLite never delays mail.log: the mail.log writer hands over the records
// it wrote (a move under a mutex, once per batch) and goes on; this thread
// turns them into tracking updates and counter changes and commits them.
//
// Why a thread and a delay. A commit costs far more than a row (the WAL
// frames of every page touched, the locks): committed with the mail.log
// writer's own batches, which hold a record or a few when it keeps up,
// tracking and counters cost 40-90 us of CPU a record, against about 11 us
// in commits of a hundred or more (bench_log_writer.cpp). So records are
// gathered for kGather (1 s) after the first of a batch, or until kEager
// wait, and committed together: at a few thousand messages a second that is
// several hundred records a commit. And a commit may wait for another
// process's write lock (the dispatcher and the job controller write the
// same files), which must not hold up mail.log, whose E records must
// precede the job controller's D records.
//
// What it costs. A crash loses the records not yet committed (under a
// second of them), never mail nor log lines. Each process commits on its own
// schedule, so records of different processes can reach a database out of
// order (a D before its E); tracking and counters take that into account
// (tracking.cpp, counters.cpp). Should the databases fall far behind (more
// than kMaxPending records waiting), new records are dropped with a
// diagnostic rather than let memory grow.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/log/mail_log.hpp"

namespace imta::core::log {

class TrackingDb;
class CountersDb;

/// A record as written to mail.log, with the time it was stamped with.
struct WrittenRecord {
    LogRecord record;
    std::chrono::system_clock::time_point when;
};

/// Whether a record concerns the databases (message records; not connection
/// or B records).
bool feeds_log_databases(RecordCode code);

class LogDatabases {
public:
    struct Options {
        std::filesystem::path db_dir;  ///< where tracking.sqlite and counters.sqlite live
        bool tracking = false;         ///< LOG_TRACKING
        bool counters = false;         ///< LOG_COUNTERS
        std::int64_t block_size = 1024;
        std::function<void(const std::string&)> diagnostic;
    };
    // One commit a second at most (unless 8192 records wait): the key
    // indexes take random inserts, and every commit writes each page it
    // touched to the WAL once — fewer, larger commits write far less for the
    // same records (with QUEUE_SYNC=syncfs the queue's group commit flushes
    // those writes too, so they delay the 250s).
    static constexpr std::chrono::milliseconds kGather{1000};
    static constexpr std::size_t kEager = 8192;
    static constexpr std::size_t kMaxPending = 50000;

    explicit LogDatabases(Options options);
    /// Commits everything handed over, then stops the thread.
    ~LogDatabases();
    LogDatabases(const LogDatabases&) = delete;
    LogDatabases& operator=(const LogDatabases&) = delete;

    /// Hands records over (the vector is moved from, left empty); never
    /// waits for the databases.
    void add(std::vector<WrittenRecord>& records);
    /// Blocks until everything handed over before the call is committed (or
    /// dropped): tests, tools, orderly shutdown.
    void flush();

private:
    using Chunk = std::vector<WrittenRecord>;  // one hand-over, kept whole (no record is moved again)
    void run();
    void apply(std::vector<Chunk>& batch);

    const Options options_;
    std::mutex mutex_;
    std::condition_variable wake_;  // the thread: something to do
    std::condition_variable done_;  // flush(): a batch is committed
    std::vector<Chunk> pending_;
    std::size_t pending_records_ = 0;
    std::chrono::steady_clock::time_point first_at_;  // when pending_ became non-empty
    std::uint64_t handed_ = 0;    // records ever handed over (or dropped)
    std::uint64_t committed_ = 0; // records ever committed (or dropped)
    std::uint64_t dropped_ = 0;   // records dropped since the last diagnostic
    int flush_waiters_ = 0;
    bool stopping_ = false;
    // Used only by the thread.
    std::unique_ptr<TrackingDb> tracking_;
    std::unique_ptr<CountersDb> counters_;
    std::thread thread_;  // last: starts when everything above is ready
};

}  // namespace imta::core::log
