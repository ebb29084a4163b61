// Per-channel message counters (Sun's `imsimta counters`), kept in
// db/counters.sqlite so they survive restarts, and updated from the same
// records that go to mail.log (applied in batches by the databases' thread,
// log_databases.hpp, as for tracking.hpp; a failure drops the batch's changes
// with a diagnostic and never touches the log).
//
// For each channel:
//   received   E records naming it as destination: recipients, messages
//              (distinct queue files) and blocks (each message's size once)
//   delivered  D records written by it: the same three
//   failed     R records (recipients returned to their sender)
//   rejected   J records (recipients the channel's SMTP server refused)
//   deferred   Q and Z records (delivery attempts to try again)
//   removed    K records
//   warned     W records
//   queued     messages and recipients in its queue now, as the records tell
//              it: a recipient counts from the E record that put it in the
//              channel's queue file until a D, R or K record of that channel
//              for that file and recipient, or an E record by which the channel
//              passed it on (process writes no D records). A channel without
//              `logging` writes no records, so its queue is not seen.
// Blocks are BLOCK_SIZE bytes, as in mail.log. `-clear` zeroes everything but
// the queued figures and restarts `since`.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/log/mail_log.hpp"

namespace imta::core::log {

inline constexpr std::string_view kCountersDbName = "counters.sqlite";

struct ChannelCounters {
    std::string channel;
    std::int64_t messages_in = 0, recipients_in = 0, blocks_in = 0;
    std::int64_t messages_out = 0, recipients_out = 0, blocks_out = 0;
    std::int64_t failed = 0, rejected = 0, deferred = 0, removed = 0, warned = 0;
    std::int64_t queued_messages = 0, queued_recipients = 0;
    std::int64_t since = 0;  ///< seconds since the epoch: created or last cleared
};

/// What one batch of records changes, before it is written (a pure
/// accumulation, so it can be tested without a database).
class CounterDeltas {
public:
    explicit CounterDeltas(std::int64_t block_size = 1024) : block_size_(block_size) {}
    void add(const LogRecord& record);
    bool empty() const { return channels_.empty() && changes_.empty(); }
    void clear();

    /// A change to the queue figures, applied in order.
    struct QueueChange {
        enum class Kind { enqueued, taken_out, passed_on } kind;
        std::string channel, queue_id, message_id, orig_to, active_to;
        std::int64_t blocks = 0;  ///< enqueued: the message's size in blocks
    };
    /// Per channel: the traffic counters (messages and blocks in and out of
    /// queue files are in received_files() and delivered_files()).
    const std::map<std::string, ChannelCounters>& channels() const { return channels_; }
    const std::vector<QueueChange>& queue_changes() const { return changes_; }
    /// Per (channel, queue id): files delivered from (D records) in this batch, with their blocks.
    const std::map<std::pair<std::string, std::string>, std::int64_t>& delivered_files() const { return delivered_; }
    /// The same for files queued (E records): each a message in. A file's E
    /// records are written together, so one batch holds them all.
    const std::map<std::pair<std::string, std::string>, std::int64_t>& received_files() const { return received_; }

private:
    ChannelCounters& of(const std::string& channel);
    std::int64_t block_size_;
    std::map<std::string, ChannelCounters> channels_;
    std::vector<QueueChange> changes_;
    std::map<std::pair<std::string, std::string>, std::int64_t> delivered_;
    std::map<std::pair<std::string, std::string>, std::int64_t> received_;
};

template <class Statements>
class DerivedDb;

/// Writes batches of deltas (failures: derived_db.hpp); one thread at a
/// time (the databases' thread, log_databases.hpp).
class CountersDb {
public:
    CountersDb(std::filesystem::path path, std::int64_t block_size,
               std::function<void(const std::string&)> diagnostic);
    ~CountersDb();
    CountersDb(const CountersDb&) = delete;
    CountersDb& operator=(const CountersDb&) = delete;

    void add(const LogRecord& record) { deltas_.add(record); }
    /// Applies what was added since the last commit in one transaction.
    void commit(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

private:
    struct Statements;
    CounterDeltas deltas_;
    std::unique_ptr<DerivedDb<Statements>> db_;
};

/// The counters of every channel (or of `channel`), by channel name. Throws sqlite::Error.
std::vector<ChannelCounters> read_counters(const std::filesystem::path& db,
                                           const std::optional<std::string>& channel = std::nullopt);
/// Zeroes the traffic counters of every channel (or of `channel`); the
/// queued figures stay. Throws sqlite::Error.
void clear_counters(const std::filesystem::path& db, const std::optional<std::string>& channel,
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace imta::core::log
