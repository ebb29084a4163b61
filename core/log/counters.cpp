// Per-channel counters; see counters.hpp.
#include "core/log/counters.hpp"

#include <map>

#include "core/log/derived_db.hpp"
#include "core/log/tracking.hpp"
#include "core/sqlite.hpp"

namespace imta::core::log {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS counters (
  channel TEXT PRIMARY KEY,
  messages_in INTEGER NOT NULL DEFAULT 0,
  recipients_in INTEGER NOT NULL DEFAULT 0,
  blocks_in INTEGER NOT NULL DEFAULT 0,
  messages_out INTEGER NOT NULL DEFAULT 0,
  recipients_out INTEGER NOT NULL DEFAULT 0,
  blocks_out INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  rejected INTEGER NOT NULL DEFAULT 0,
  deferred INTEGER NOT NULL DEFAULT 0,
  removed INTEGER NOT NULL DEFAULT 0,
  warned INTEGER NOT NULL DEFAULT 0,
  since INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queued (
  channel TEXT NOT NULL,
  queue_id TEXT NOT NULL,
  orig_to TEXT NOT NULL,
  active_to TEXT NOT NULL,
  message_id TEXT NOT NULL,
  PRIMARY KEY (channel, queue_id, orig_to, active_to)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS queued_by_message ON queued(channel, message_id, orig_to);
CREATE TABLE IF NOT EXISTS taken_early (
  channel TEXT NOT NULL,
  queue_id TEXT NOT NULL,
  orig_to TEXT NOT NULL,
  active_to TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (channel, queue_id, orig_to, active_to)
) WITHOUT ROWID;
)";

// A taken_early row is kept this long: its E comes within seconds, or never
// (a channel without logging, counters turned on while the copy was queued).
constexpr std::int64_t kEarlyKeptSeconds = 86400;

std::int64_t seconds_of(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

ChannelCounters& CounterDeltas::of(const std::string& channel) {
    auto& c = channels_[channel];
    c.channel = channel;
    return c;
}

void CounterDeltas::clear() {
    channels_.clear();
    changes_.clear();
    delivered_.clear();
    received_.clear();
}

void CounterDeltas::add(const LogRecord& r) {
    const auto blocks = static_cast<std::int64_t>(size_in_blocks(r.size_bytes, block_size_));
    const std::string qid = queue_id_of(r);
    const std::string message_id = r.message_ids.empty() ? std::string() : r.message_ids.front();
    auto change = [&](QueueChange::Kind kind, const std::string& channel) {
        changes_.push_back({kind, channel, qid, message_id, r.orig_to, r.active_to, blocks});
    };
    auto take_out = [&] {
        if (!qid.empty()) change(QueueChange::Kind::taken_out, r.source_channel);
    };
    switch (r.code) {
        case RecordCode::Enqueue: {
            auto& c = of(r.dest_channel);
            c.recipients_in += 1;
            if (qid.empty()) {
                // No file to tell messages apart: count each record as one.
                c.messages_in += 1;
                c.blocks_in += blocks;
            } else {
                // A file's E records are written together (one enqueue, one
                // write), so they are in one batch: the file is a message in.
                received_[{r.dest_channel, qid}] = blocks;
                change(QueueChange::Kind::enqueued, r.dest_channel);
            }
            // The source channel passed the message on (process, conversion);
            // not an SMTP server's channel, which received it from a client.
            if (!message_id.empty() && r.source_channel != r.dest_channel && client_ip_of(r).empty())
                change(QueueChange::Kind::passed_on, r.source_channel);
            break;
        }
        case RecordCode::Dequeue: {
            auto& c = of(r.source_channel);
            c.recipients_out += 1;
            if (qid.empty()) {
                c.messages_out += 1;
                c.blocks_out += blocks;
            } else {
                delivered_[{r.source_channel, qid}] = blocks;
            }
            take_out();
            break;
        }
        case RecordCode::Return:
            of(r.source_channel).failed += 1;
            take_out();
            break;
        case RecordCode::Removed:
            of(r.source_channel).removed += 1;
            take_out();
            break;
        case RecordCode::Refused: of(r.source_channel).rejected += 1; break;
        case RecordCode::Requeue:
        case RecordCode::PartialRequeue: of(r.source_channel).deferred += 1; break;
        case RecordCode::Warned: of(r.source_channel).warned += 1; break;
        default: break;
    }
}

// Records reach the database in the order each process commits them
// (log_databases.hpp): the D of a fast delivery (job controller) may come
// before the E that queued the copy (dispatcher). A D, R or K that finds no
// queued recipient to take out leaves a taken_early row; the E that comes
// later for it removes that row instead of queuing the recipient. Rows
// whose E never comes (a channel without logging, counters turned on while
// the copy was queued) are forgotten after a day.
struct CountersDb::Statements {
    sqlite::Connection& db;
    sqlite::Statement ensure, add, any_early, early, enqueue, take_out, taken_early, pass_on, forget_early;
    std::int64_t forgotten_at = 0;  // the last clean-up of taken_early

    explicit Statements(sqlite::Connection& c)
        : db(c),
          ensure(db.prepare("INSERT INTO counters (channel, since) VALUES (?1, ?2) ON CONFLICT (channel) DO NOTHING")),
          add(db.prepare(
              "UPDATE counters SET messages_in = messages_in + ?2, recipients_in = recipients_in + ?3, "
              "blocks_in = blocks_in + ?4, messages_out = messages_out + ?5, recipients_out = recipients_out + ?6, "
              "blocks_out = blocks_out + ?7, failed = failed + ?8, rejected = rejected + ?9, "
              "deferred = deferred + ?10, removed = removed + ?11, warned = warned + ?12 WHERE channel = ?1")),
          any_early(db.prepare("SELECT 1 FROM taken_early LIMIT 1")),
          early(db.prepare(
              "DELETE FROM taken_early WHERE channel = ?1 AND queue_id = ?2 AND orig_to = ?3 AND active_to = ?4")),
          enqueue(db.prepare(
              "INSERT INTO queued (channel, queue_id, orig_to, active_to, message_id) VALUES (?1, ?2, ?3, ?4, ?5) "
              "ON CONFLICT DO NOTHING")),
          take_out(db.prepare(
              "DELETE FROM queued WHERE channel = ?1 AND queue_id = ?2 AND orig_to = ?3 AND active_to = ?4")),
          taken_early(db.prepare(
              "INSERT INTO taken_early (channel, queue_id, orig_to, active_to, at) VALUES (?1, ?2, ?3, ?4, ?5) "
              "ON CONFLICT DO NOTHING")),
          pass_on(db.prepare("DELETE FROM queued WHERE channel = ?1 AND message_id = ?2 AND orig_to = ?3")),
          forget_early(db.prepare("DELETE FROM taken_early WHERE at < ?1")) {}

    // Runs `statement` on the recipient of `q`; true if it changed a row.
    bool on_recipient(sqlite::Statement& statement, const CounterDeltas::QueueChange& q) {
        {
            sqlite::Statement::Use s(statement);
            s->bind_view(1, q.channel).bind_view(2, q.queue_id).bind_view(3, q.orig_to).bind_view(4, q.active_to);
            s->run();
        }
        return db.changes() > 0;
    }

    void apply(const CounterDeltas& d, std::int64_t now) {
        // The E path is the hot one (the SMTP server's records): one statement
        // per recipient. Whether taken_early has rows at all (almost never)
        // is asked once, not for each E.
        bool early_rows = false;
        {
            sqlite::Statement::Use s(any_early);
            early_rows = s->step();
        }
        std::map<std::string, ChannelCounters> totals = d.channels();
        auto of = [&](const std::string& channel) -> ChannelCounters& {
            auto& c = totals[channel];
            c.channel = channel;
            return c;
        };
        for (const auto& [key, blocks] : d.delivered_files()) {
            of(key.first).messages_out += 1;
            of(key.first).blocks_out += blocks;
        }
        for (const auto& [key, blocks] : d.received_files()) {
            of(key.first).messages_in += 1;
            of(key.first).blocks_in += blocks;
        }
        using Kind = CounterDeltas::QueueChange::Kind;
        for (const auto& q : d.queue_changes()) {
            switch (q.kind) {
                case Kind::enqueued: {
                    if (early_rows && on_recipient(early, q)) break;  // already taken out again
                    sqlite::Statement::Use s(enqueue);
                    s->bind_view(1, q.channel).bind_view(2, q.queue_id).bind_view(3, q.orig_to);
                    s->bind_view(4, q.active_to).bind_view(5, q.message_id);
                    s->run();
                    break;
                }
                case Kind::taken_out: {
                    if (on_recipient(take_out, q)) break;
                    early_rows = true;
                    sqlite::Statement::Use s(taken_early);
                    s->bind_view(1, q.channel).bind_view(2, q.queue_id).bind_view(3, q.orig_to);
                    s->bind_view(4, q.active_to).bind(5, now);
                    s->run();
                    break;
                }
                case Kind::passed_on: {
                    sqlite::Statement::Use s(pass_on);
                    s->bind_view(1, q.channel).bind_view(2, q.message_id).bind_view(3, q.orig_to);
                    s->run();
                    break;
                }
            }
        }
        for (const auto& [channel, c] : totals) {
            {
                sqlite::Statement::Use s(ensure);
                s->bind(1, channel).bind(2, now);
                s->run();
            }
            sqlite::Statement::Use s(add);
            s->bind(1, channel).bind(2, c.messages_in).bind(3, c.recipients_in).bind(4, c.blocks_in);
            s->bind(5, c.messages_out).bind(6, c.recipients_out).bind(7, c.blocks_out).bind(8, c.failed);
            s->bind(9, c.rejected).bind(10, c.deferred).bind(11, c.removed).bind(12, c.warned);
            s->run();
        }
        if (now - forgotten_at >= 3600) {  // hourly: the table has no index on `at`
            sqlite::Statement::Use s(forget_early);
            s->bind(1, now - kEarlyKeptSeconds);
            s->run();
            forgotten_at = now;
        }
    }
};

CountersDb::CountersDb(fs::path path, std::int64_t block_size, std::function<void(const std::string&)> diagnostic)
    : deltas_(block_size),
      db_(std::make_unique<DerivedDb<Statements>>(std::move(path), kSchema, 0, std::move(diagnostic))) {}

CountersDb::~CountersDb() = default;

void CountersDb::commit(std::chrono::system_clock::time_point wall) {
    if (deltas_.empty()) return;
    db_->write([&](Statements& s) { s.apply(deltas_, seconds_of(wall)); },
               [] { return std::string("counters: a batch of changes lost"); });
    deltas_.clear();
}

std::vector<ChannelCounters> read_counters(const fs::path& path, const std::optional<std::string>& channel) {
    sqlite::Connection::Options o;
    auto db = sqlite::Connection::open(path, o);
    std::map<std::string, ChannelCounters> by_name;
    {
        auto s = db.prepare(
            "SELECT channel, messages_in, recipients_in, blocks_in, messages_out, recipients_out, blocks_out, "
            "failed, rejected, deferred, removed, warned, since FROM counters WHERE ?1 IS NULL OR channel = ?1");
        if (channel)
            s.bind(1, *channel);
        else
            s.bind_null(1);
        while (s.step()) {
            ChannelCounters c;
            c.channel = s.text(0);
            c.messages_in = s.integer(1);
            c.recipients_in = s.integer(2);
            c.blocks_in = s.integer(3);
            c.messages_out = s.integer(4);
            c.recipients_out = s.integer(5);
            c.blocks_out = s.integer(6);
            c.failed = s.integer(7);
            c.rejected = s.integer(8);
            c.deferred = s.integer(9);
            c.removed = s.integer(10);
            c.warned = s.integer(11);
            c.since = s.integer(12);
            by_name[c.channel] = std::move(c);
        }
        s.reset();
    }
    {
        auto s = db.prepare(
            "SELECT channel, count(DISTINCT queue_id), count(*) FROM queued WHERE ?1 IS NULL OR channel = ?1 "
            "GROUP BY channel");
        if (channel)
            s.bind(1, *channel);
        else
            s.bind_null(1);
        while (s.step()) {
            auto& c = by_name[std::string(s.text(0))];
            c.channel = s.text(0);
            c.queued_messages = s.integer(1);
            c.queued_recipients = s.integer(2);
        }
        s.reset();
    }
    std::vector<ChannelCounters> out;
    for (auto& [name, c] : by_name) out.push_back(std::move(c));
    return out;
}

void clear_counters(const fs::path& path, const std::optional<std::string>& channel,
                    std::chrono::system_clock::time_point now) {
    sqlite::Connection::Options o;
    auto db = sqlite::Connection::open(path, o);
    auto s = db.prepare(
        "UPDATE counters SET messages_in = 0, recipients_in = 0, blocks_in = 0, messages_out = 0, "
        "recipients_out = 0, blocks_out = 0, failed = 0, rejected = 0, deferred = 0, removed = 0, warned = 0, "
        "since = ?2 WHERE ?1 IS NULL OR channel = ?1");
    if (channel)
        s.bind(1, *channel);
    else
        s.bind_null(1);
    s.bind(2, seconds_of(now));
    s.run();
    s.reset();
}

}  // namespace imta::core::log
