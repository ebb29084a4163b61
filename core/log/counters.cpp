// Per-channel counters; see counters.hpp.
#include "core/log/counters.hpp"

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
)";

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
                change(QueueChange::Kind::enqueued, r.dest_channel);
            }
            // The source channel passed the message on (process, conversion).
            if (!message_id.empty() && r.source_channel != r.dest_channel)
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

struct CountersDb::Impl {
    sqlite::Connection db;
    sqlite::Statement ensure, add, file_known, enqueue, take_out, pass_on;

    explicit Impl(sqlite::Connection c)
        : db(std::move(c)),
          ensure(db.prepare("INSERT INTO counters (channel, since) VALUES (?1, ?2) ON CONFLICT (channel) DO NOTHING")),
          add(db.prepare(
              "UPDATE counters SET messages_in = messages_in + ?2, recipients_in = recipients_in + ?3, "
              "blocks_in = blocks_in + ?4, messages_out = messages_out + ?5, recipients_out = recipients_out + ?6, "
              "blocks_out = blocks_out + ?7, failed = failed + ?8, rejected = rejected + ?9, "
              "deferred = deferred + ?10, removed = removed + ?11, warned = warned + ?12 WHERE channel = ?1")),
          file_known(db.prepare("SELECT 1 FROM queued WHERE channel = ?1 AND queue_id = ?2 LIMIT 1")),
          enqueue(db.prepare(
              "INSERT INTO queued (channel, queue_id, orig_to, active_to, message_id) VALUES (?1, ?2, ?3, ?4, ?5) "
              "ON CONFLICT DO NOTHING")),
          take_out(db.prepare(
              "DELETE FROM queued WHERE channel = ?1 AND queue_id = ?2 AND orig_to = ?3 AND active_to = ?4")),
          pass_on(db.prepare("DELETE FROM queued WHERE channel = ?1 AND message_id = ?2 AND orig_to = ?3")) {}

    static std::unique_ptr<Impl> open(const fs::path& path) {
        sqlite::Connection::Options o;
        o.create = true;
        o.create_mode = 0640;
        auto db = sqlite::Connection::open(path, o);
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = NORMAL");
        {
            sqlite::Transaction t(db);
            db.exec(kSchema);
            t.commit();
        }
        return std::make_unique<Impl>(std::move(db));
    }

    bool known(const std::string& channel, const std::string& qid) {
        sqlite::Statement::Use s(file_known);
        s->bind(1, channel).bind(2, qid);
        return s->step();
    }

    void apply(const CounterDeltas& d, std::int64_t now) {
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
        using Kind = CounterDeltas::QueueChange::Kind;
        for (const auto& q : d.queue_changes()) {
            switch (q.kind) {
                case Kind::enqueued: {
                    // A file's first recipient makes it a message in.
                    if (!known(q.channel, q.queue_id)) {
                        of(q.channel).messages_in += 1;
                        of(q.channel).blocks_in += q.blocks;
                    }
                    sqlite::Statement::Use s(enqueue);
                    s->bind(1, q.channel).bind(2, q.queue_id).bind(3, q.orig_to).bind(4, q.active_to);
                    s->bind(5, q.message_id);
                    s->run();
                    break;
                }
                case Kind::taken_out: {
                    sqlite::Statement::Use s(take_out);
                    s->bind(1, q.channel).bind(2, q.queue_id).bind(3, q.orig_to).bind(4, q.active_to);
                    s->run();
                    break;
                }
                case Kind::passed_on: {
                    sqlite::Statement::Use s(pass_on);
                    s->bind(1, q.channel).bind(2, q.message_id).bind(3, q.orig_to);
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
    }
};

CountersDb::CountersDb(fs::path path, std::int64_t block_size, std::function<void(const std::string&)> diagnostic)
    : path_(std::move(path)), diagnostic_(std::move(diagnostic)), deltas_(block_size) {}

CountersDb::~CountersDb() = default;

void CountersDb::commit(std::chrono::system_clock::time_point wall) {
    if (deltas_.empty()) return;
    const auto now = std::chrono::steady_clock::now();
    try {
        if (!impl_) {
            if (now < retry_after_) {
                deltas_.clear();
                return;
            }
            impl_ = Impl::open(path_);
        }
        sqlite::Transaction t(impl_->db);
        impl_->apply(deltas_, seconds_of(wall));
        t.commit();
    } catch (const std::exception& e) {
        impl_.reset();
        retry_after_ = now + std::chrono::seconds(10);
        if (diagnostic_ && now >= last_diagnostic_) {
            diagnostic_(std::string("counters: a batch of changes lost: ") + e.what());
            last_diagnostic_ = now + std::chrono::minutes(1);
        }
    }
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
