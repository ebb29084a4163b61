// Message tracking; see tracking.hpp.
#include "core/log/tracking.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>

#include "core/json.hpp"
#include "core/log/derived_db.hpp"
#include "core/sqlite.hpp"

namespace imta::core::log {
namespace {

namespace fs = std::filesystem;

constexpr int kSchemaVersion = 2;

// Rows are found by (arrival, message_key, orig_to), the message's arrival
// first: every record of a message carries the same arrival, and a new
// message's key then lands at the end of the index, where the recent ones
// are. Keyed by the Message-ID first (version 1), each new row went to a
// random page of an index as large as the retention, and at a site's size
// (millions of rows) that page was read and rewritten for every message:
// about 6 KB of WAL each, a quarter of the SMTP server's acceptance rate at
// full speed (tests/bench/bench_tracking.sh PREFILL=). Selecting by
// Message-ID reads the table, as selecting by sender or recipient does.
// `hops` holds every channel the copy has been queued in, each followed by a
// blank and the whole led by one: " tcp_local conversion l ", so that
// instr(hops, ' ' || name || ' ') finds a channel.
constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS tracking (
  id INTEGER PRIMARY KEY,
  message_key TEXT NOT NULL,
  orig_to TEXT NOT NULL,
  final_to TEXT NOT NULL,
  channel TEXT NOT NULL,
  hops TEXT NOT NULL,
  queued INTEGER NOT NULL,
  processed INTEGER NOT NULL,
  queue_id TEXT,
  size INTEGER,
  client_ip TEXT,
  client_helo TEXT,
  message_id TEXT,
  env_from TEXT,
  status TEXT NOT NULL,
  status_code INTEGER NOT NULL DEFAULT 0,
  spam_status TEXT,
  spam_score REAL,
  delivery_ip TEXT,
  arrival INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tracking_by_arrival ON tracking(arrival, message_key, orig_to);
CREATE INDEX IF NOT EXISTS tracking_by_queue_id ON tracking(queue_id);
CREATE INDEX IF NOT EXISTS tracking_by_queued ON tracking(queued);
CREATE TABLE IF NOT EXISTS tracking_legacy (before INTEGER NOT NULL);
)";

// Version 1 to 2: rows written before know no arrival (0). A record of a
// message that arrived before the upgrade (tracking_legacy.before, ms) also
// looks for its row at arrival 0, so that messages queued across the
// upgrade keep one row; later messages cannot have a row there, and do not
// look (that look lands on a random page of the old rows: 7 us more per
// message with 3,000,000 of them, for as long as they are kept).
constexpr const char* kUpgrade1To2 = R"(
ALTER TABLE tracking ADD COLUMN arrival INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS tracking_by_key;
CREATE TABLE tracking_legacy (before INTEGER NOT NULL);
INSERT INTO tracking_legacy VALUES (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
)";

// The arrival before which a message may have a row of version 1; 0 in a
// file made as version 2 (its tracking_legacy is empty).
std::int64_t legacy_before(sqlite::Connection& db) {
    auto s = db.prepare("SELECT coalesce(max(before), 0) FROM tracking_legacy");
    const std::int64_t before = s.step() ? s.integer(0) : 0;
    s.reset();
    return before;
}

bool starts_with_code(std::string_view s) {
    return s.size() >= 3 && s[0] >= '2' && s[0] <= '5' && std::isdigit(static_cast<unsigned char>(s[1])) &&
           std::isdigit(static_cast<unsigned char>(s[2])) && (s.size() == 3 || s[3] == ' ' || s[3] == '-');
}

int code_value(std::string_view s) { return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'); }

// Where `smtp;` starts in `s` at or after `from`, case ignored (no lowered
// copy: this runs for every record's diagnostics).
std::size_t find_smtp_type(std::string_view s, std::size_t from) {
    for (auto at = s.find(';', from); at != std::string_view::npos; at = s.find(';', at + 1)) {
        if (at < 4 || at - 4 < from) continue;
        const auto l = [&](std::size_t i) { return std::tolower(static_cast<unsigned char>(s[i])); };
        if (l(at - 4) == 's' && l(at - 3) == 'm' && l(at - 2) == 't' && l(at - 1) == 'p') return at - 4;
    }
    return std::string_view::npos;
}

// The remote IP of the first `(TCP|lip|lport|rip|rport)` in `text`.
std::string transport_remote_ip(std::string_view text) {
    auto at = text.find("TCP|");
    if (at == std::string_view::npos) return {};
    std::string_view rest = text.substr(at);
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= rest.size(); ++i) {
        if (i == rest.size() || rest[i] == '|' || rest[i] == ')' || rest[i] == ' ') {
            parts.push_back(rest.substr(start, i - start));
            if (i == rest.size() || rest[i] != '|') break;
            start = i + 1;
        }
    }
    return parts.size() >= 5 ? std::string(parts[3]) : std::string();
}

std::string status_of(RecordCode code) {
    switch (code) {
        case RecordCode::Enqueue: return "queued";
        case RecordCode::Dequeue: return "sent";
        case RecordCode::Requeue:
        case RecordCode::PartialRequeue: return "deferred";
        case RecordCode::Warned: return "delayed";
        case RecordCode::Return: return "bounced";
        case RecordCode::Refused: return "rejected";
        case RecordCode::Removed: return "removed";
        case RecordCode::Aborted: return "aborted";
        default: return {};
    }
}

std::int64_t seconds_of(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string score_text(double score) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", score);
    return buf;
}

// Binds text, or NULL for an empty string (so coalesce() keeps what is known).
// Without a copy: the updates outlive each statement's use.
void bind_or_null(sqlite::Statement& s, int index, const std::string& text) {
    if (text.empty())
        s.bind_null(index);
    else
        s.bind_view(index, text);
}
void bind_or_null(sqlite::Statement& s, int index, std::string&& text) = delete;

// One MX Front field (see mx_front_line()).
std::string mx_field(std::string_view text, bool always_quote = false) {
    if (text.empty()) text = "-";
    bool quote = always_quote;
    for (char c : text)
        if (c == ' ' || c == '\t' || c == '"') quote = true;
    if (!quote) return std::string(text);
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

std::string without_brackets(std::string_view id) {
    if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
    return std::string(id);
}

// A `*` pattern as a LIKE pattern with `\` as the escape character.
std::string like_pattern(std::string_view pattern) {
    std::string out;
    for (char c : pattern) {
        if (c == '*')
            out += '%';
        else {
            if (c == '%' || c == '_' || c == '\\') out += '\\';
            out += c;
        }
    }
    return out;
}

sqlite::Connection open_existing(const fs::path& db) {
    sqlite::Connection::Options o;
    o.create = false;
    return sqlite::Connection::open(db, o);
}

}  // namespace

std::string queue_id_of(const LogRecord& r) {
    if (!r.queue_id.empty()) return r.queue_id;
    std::string_view name = r.filename;
    if (auto slash = name.rfind('/'); slash != std::string_view::npos) name = name.substr(slash + 1);
    if (auto dot = name.rfind('.'); dot != std::string_view::npos) name = name.substr(0, dot);
    if (name.size() <= 2) return {};
    return std::string(name.substr(2));
}

int smtp_code_of(const LogRecord& r) {
    if (r.smtp_code != 0) return r.smtp_code;
    for (const auto& d : r.diagnostics) {
        for (auto at = find_smtp_type(d, 0); at != std::string_view::npos; at = find_smtp_type(d, at + 1)) {
            std::string_view rest = std::string_view(d).substr(at + 5);
            while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
            if (starts_with_code(rest)) return code_value(rest);
        }
    }
    for (const auto& d : r.diagnostics)
        if (starts_with_code(d)) return code_value(d);
    return 0;
}

std::string remote_ip_of(const LogRecord& r) {
    if (!r.delivery_ip.empty()) return r.delivery_ip;
    for (const auto& d : r.diagnostics)
        if (auto ip = transport_remote_ip(d); !ip.empty()) return ip;
    if (r.code != RecordCode::Enqueue && r.code != RecordCode::Refused)
        if (auto ip = transport_remote_ip(r.connection_info); !ip.empty()) return ip;
    return {};
}

std::string client_ip_of(const LogRecord& r) {
    if (!r.client_ip.empty()) return r.client_ip;
    std::string_view c = r.connection_info;
    auto open = c.rfind('[');
    auto close = c.rfind(']');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) return {};
    return std::string(c.substr(open + 1, close - open - 1));
}

std::string client_helo_of(const LogRecord& r) {
    if (!r.client_helo.empty()) return r.client_helo;
    std::string_view c = r.connection_info;
    auto paren = c.find(" (");
    if (paren == std::string_view::npos || c.find('[') == std::string_view::npos) return {};
    return std::string(c.substr(0, paren));
}

std::optional<TrackingUpdate> tracking_update(const LogRecord& record, std::chrono::system_clock::time_point when) {
    if (status_of(record.code).empty()) return std::nullopt;
    LogRecord copy = record;
    return tracking_update(std::move(copy), when);
}

std::optional<TrackingUpdate> tracking_update(LogRecord&& r, std::chrono::system_clock::time_point when) {
    std::string status = status_of(r.code);
    if (status.empty()) return std::nullopt;
    TrackingUpdate u;
    u.when = seconds_of(when);
    u.arrival = r.arrival_ms;
    // A J record has no queue file to take an arrival from; its row is new
    // and never continued, so its own time serves (and keeps it recent).
    if (u.arrival == 0 && r.code == RecordCode::Refused)
        u.arrival = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
    u.status = std::move(status);
    u.enqueue = r.code == RecordCode::Enqueue;
    // What the helpers below read first; the texts only copied into the
    // update are moved out of the record after (no heap copy per field).
    u.queue_id = queue_id_of(r);
    if (u.enqueue || r.code == RecordCode::Refused) {
        u.client_ip = client_ip_of(r);
        u.client_helo = client_helo_of(r);
    }
    u.status_code = smtp_code_of(r);
    u.delivery_ip = remote_ip_of(r);
    const bool here = r.code == RecordCode::Dequeue || r.code == RecordCode::Return || r.code == RecordCode::Refused;
    if (u.delivery_ip.empty() && here) u.delivery_ip = "127.0.0.1";
    u.size = static_cast<std::int64_t>(r.size_bytes);
    u.source_channel = std::move(r.source_channel);
    u.dest_channel = std::move(r.dest_channel);
    u.orig_to = r.orig_to.empty() ? r.active_to : std::move(r.orig_to);
    u.final_to = std::move(r.active_to);
    u.env_from = std::move(r.env_from);
    if (!r.message_ids.empty()) u.message_id = std::move(r.message_ids.front());
    u.spam_status = std::move(r.spam_status);
    u.spam_score = r.spam_score;
    if (!u.message_id.empty())
        u.message_key = u.message_id;
    else if (!u.queue_id.empty())
        u.message_key = "queue:" + u.queue_id;
    else {
        char buf[96];
        std::snprintf(buf, sizeof buf, "session:%x.%u.%u@%lld", static_cast<unsigned>(r.pid),
                      static_cast<unsigned>(r.thread.value_or(0)), static_cast<unsigned>(r.count),
                      static_cast<long long>(u.when));
        u.message_key = buf;
    }
    return u;
}

std::string tracking_time(std::int64_t seconds) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[80];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

std::string mx_front_line(const TrackingRow& row) {
    std::string line;
    auto add = [&line](const std::string& field) {
        if (!line.empty()) line += ' ';
        line += field;
    };
    add(mx_field(tracking_time(row.queued)));
    add(mx_field(tracking_time(row.processed)));
    add(mx_field(row.queue_id));
    add(std::to_string(row.size));
    add(mx_field(row.client_ip));
    add(mx_field(row.client_helo));
    add(mx_field(without_brackets(row.message_id)));
    add(mx_field(row.env_from));
    add(mx_field(row.final_to));
    add(mx_field(row.orig_to == row.final_to ? std::string() : row.orig_to));
    add(mx_field(row.status));
    add(std::to_string(row.status_code));
    add(mx_field(row.spam_status, true));
    add(row.spam_score.empty() ? "0" : mx_field(row.spam_score));
    add(mx_field(row.delivery_ip));
    return line;
}

std::string tracking_json(const TrackingRow& row) {
    JsonWriter w;
    auto text = [&w](std::string_view name, const std::string& value) {
        w.key(name);
        if (value.empty())
            w.null();
        else
            w.value(value);
    };
    w.begin_object();
    w.field("queued", tracking_time(row.queued));
    w.field("processed", tracking_time(row.processed));
    text("queue_id", row.queue_id);
    w.field("size", row.size);
    text("client_ip", row.client_ip);
    text("client_helo", row.client_helo);
    text("message_id", row.message_id);
    text("from", row.env_from);
    text("to", row.final_to);
    text("orig_to", row.orig_to);
    text("status", row.status);
    w.field("status_code", row.status_code);
    text("spam_status", row.spam_status);
    text("spam_score", row.spam_score);
    text("delivery_ip", row.delivery_ip);
    text("channel", row.channel);
    w.end_object();
    return w.str();
}

// ---------------------------------------------------------------------------
// The writer.

/// A lookup of a message's rows by arrival (the leading column of
/// tracking_by_arrival), prepared in two forms. A row of a message that
/// arrived before the upgrade to version 2 may have its own arrival or 0;
/// "arrival IN (?, ?)" makes SQLite build a temporary table on every run
/// (a third of this thread's work per message when every lookup had it),
/// so every other message -- all new mail -- uses "arrival = ?". `sql`
/// says @arrival where the test goes, with parameters `first` (the
/// message's arrival) and `second` (0).
struct ByArrival {
    sqlite::Statement since_upgrade, across_upgrade;
    const int first, second;

    ByArrival(sqlite::Connection& db, std::string_view sql, int first_parameter, int second_parameter)
        : since_upgrade(db.prepare(with_test(sql, "arrival = ?" + std::to_string(first_parameter)))),
          across_upgrade(db.prepare(with_test(sql, "arrival IN (?" + std::to_string(first_parameter) + ", ?" +
                                                       std::to_string(second_parameter) + ")"))),
          first(first_parameter),
          second(second_parameter) {}

    /// The form for a message of `arrival`, its arrival parameters bound.
    sqlite::Statement& bound(std::int64_t arrival, bool from_before_upgrade) {
        if (!from_before_upgrade) return since_upgrade.bind(first, arrival);
        return across_upgrade.bind(first, arrival).bind(second, std::int64_t{0});
    }

    static std::string with_test(std::string_view sql, const std::string& test) {
        constexpr std::string_view marker = "@arrival";
        const auto at = sql.find(marker);
        return std::string(sql.substr(0, at)) + test + std::string(sql.substr(at + marker.size()));
    }
};

// Records reach the database in the order each process commits them, and
// the dispatcher (E records), the job controller (D, Q, E of the next hop)
// and the tools commit each on their own schedule (log_databases.hpp). So the
// D of a fast delivery may be applied before the E that queued the copy, and
// the E of a next hop before the E of the hop before. An E that arrives
// after news of its copy (the row already in its destination channel with a
// later status, or already gone on from it, no earlier than the E) is late:
// it fills in what the row does not know yet (the queue date, the client)
// and changes neither status nor channel.
struct TrackingDb::Statements {
    sqlite::Connection& db;
    const std::int64_t legacy_before_ms;
    ByArrival has_row, find_enqueued, find_other;
    sqlite::Statement insert, continue_row, late_enqueue, update_row;

    explicit Statements(sqlite::Connection& c)
        : db(c),
          legacy_before_ms(legacy_before(c)),
          // Most E records are a message's first news (the SMTP server's):
          // a look at the key index alone, then the insert; the lookups
          // below only when the message and recipient have a row.
          has_row(db, "SELECT 1 FROM tracking WHERE @arrival AND message_key = ?1 AND orig_to = ?2 LIMIT 1", 3, 4),
          // An E continues the row of the copy it came from (its source channel
          // is the row's current channel, and the row is not finished), or
          // repeats a row already in the destination channel for this
          // recipient, or is late (see above; preferred, and then `late`).
          find_enqueued(db,
              "SELECT id, processed >= ?6 AND ((channel = ?4 AND final_to = ?5 AND status <> 'queued') OR "
              "(channel <> ?4 AND instr(hops, ' ' || ?4 || ' ') > 0)) AS late "
              "FROM tracking WHERE @arrival AND message_key = ?1 AND orig_to = ?2 AND "
              "((channel = ?3 AND status IN ('queued', 'deferred', 'delayed')) OR (channel = ?4 AND final_to = ?5) "
              "OR (processed >= ?6 AND channel <> ?4 AND instr(hops, ' ' || ?4 || ' ') > 0)) "
              "ORDER BY late DESC, (channel = ?3 AND final_to = ?5) DESC, (channel = ?3) DESC, id LIMIT 1",
              7, 8),
          // Any other record: the row whose copy sits in the record's channel,
          // or (to be ignored) one that has already moved on from it.
          find_other(db,
              "SELECT id, channel = ?3 FROM tracking WHERE @arrival AND message_key = ?1 AND "
              "orig_to = ?2 AND "
              "(channel = ?3 OR instr(hops, ' ' || ?3 || ' ') > 0) "
              "ORDER BY (channel = ?3) DESC, (final_to = ?4) DESC, id LIMIT 1",
              5, 6),
          insert(db.prepare(
              "INSERT INTO tracking (message_key, orig_to, final_to, channel, hops, queued, processed, queue_id, "
              "size, client_ip, client_helo, message_id, env_from, status, status_code, spam_status, spam_score, "
              "delivery_ip, arrival) VALUES (?1, ?2, coalesce(?3, ?2), ?4, ?17, ?5, ?5, ?6, ?7, ?8, ?9, "
              "CASE WHEN ?18 THEN ?1 ELSE ?10 END, ?11, coalesce(?12, 'queued'), ?13, ?14, ?15, ?16, ?19)")),
          continue_row(db.prepare(
              "UPDATE tracking SET final_to = ?2, channel = ?3, "
              "hops = CASE WHEN instr(hops, ' ' || ?3 || ' ') > 0 THEN hops ELSE hops || ?3 || ' ' END, "
              "processed = ?4, status = 'queued', status_code = 0, queue_id = coalesce(queue_id, ?5), "
              "size = coalesce(size, ?6), client_ip = coalesce(client_ip, ?7), "
              "client_helo = coalesce(client_helo, ?8), message_id = coalesce(message_id, ?9), "
              "env_from = coalesce(env_from, ?10) WHERE id = ?1")),
          // The first queue file and size are the late E's, as they would
          // have been had it come in time.
          late_enqueue(db.prepare(
              "UPDATE tracking SET queued = min(queued, ?4), "
              "hops = CASE WHEN instr(hops, ' ' || ?3 || ' ') > 0 THEN hops ELSE ' ' || ?3 || hops END, "
              "queue_id = coalesce(?5, queue_id), "
              "size = CASE WHEN ?6 > 0 THEN ?6 ELSE size END, client_ip = coalesce(client_ip, ?7), "
              "client_helo = coalesce(client_helo, ?8), message_id = coalesce(message_id, ?9), "
              "env_from = coalesce(env_from, ?10) WHERE id = ?1")),
          update_row(db.prepare(
              "UPDATE tracking SET final_to = ?2, processed = ?3, status = ?4, status_code = ?5, "
              "delivery_ip = coalesce(?6, delivery_ip), spam_status = coalesce(?7, spam_status), "
              "spam_score = coalesce(?8, spam_score), queue_id = coalesce(queue_id, ?9), "
              "size = coalesce(size, ?10), message_id = coalesce(message_id, ?11), "
              "env_from = coalesce(env_from, ?12) WHERE id = ?1")) {}

    /// Whether a row of `u` may also have arrival 0 (version 1's rows): it
    /// arrived before the upgrade.
    bool from_before_upgrade(const TrackingUpdate& u) const { return u.arrival < legacy_before_ms; }

    void apply(const TrackingUpdate& u) {
        if (u.enqueue)
            apply_enqueue(u);
        else
            apply_other(u);
    }

    void apply_enqueue(const TrackingUpdate& u) {
        // The copy's first record here; where it came from is a hop too, so
        // that its own E, should it come later, is known as late.
        std::string hops = " " + u.source_channel + " ";
        if (u.dest_channel != u.source_channel) hops += u.dest_channel + " ";
        bool known = false;
        {
            sqlite::Statement::Use s(has_row.bound(u.arrival, from_before_upgrade(u)));
            s->bind_view(1, u.message_key).bind_view(2, u.orig_to);
            known = s->step();
        }
        if (!known) return insert_row(u, u.dest_channel, hops);
        std::optional<std::int64_t> id;
        bool late = false;
        {
            sqlite::Statement::Use s(find_enqueued.bound(u.arrival, from_before_upgrade(u)));
            s->bind_view(1, u.message_key).bind_view(2, u.orig_to).bind_view(3, u.source_channel);
            s->bind_view(4, u.dest_channel).bind_view(5, u.final_to).bind(6, u.when);
            if (s->step()) {
                id = s->integer(0);
                late = s->integer(1) != 0;
            }
        }
        if (!id) return insert_row(u, u.dest_channel, hops);
        sqlite::Statement::Use s(late ? late_enqueue : continue_row);
        s->bind(1, *id);
        if (late)
            s->bind_view(3, u.source_channel).bind(4, u.when);
        else
            s->bind_view(2, u.final_to).bind_view(3, u.dest_channel).bind(4, u.when);
        bind_or_null(*s, 5, u.queue_id);
        s->bind(6, u.size);
        bind_or_null(*s, 7, u.client_ip);
        bind_or_null(*s, 8, u.client_helo);
        bind_or_null(*s, 9, u.message_id);
        bind_or_null(*s, 10, u.env_from);
        s->run();
    }

    void apply_other(const TrackingUpdate& u) {
        std::optional<std::int64_t> id;
        bool current = false;
        {
            sqlite::Statement::Use s(find_other.bound(u.arrival, from_before_upgrade(u)));
            s->bind_view(1, u.message_key).bind_view(2, u.orig_to).bind_view(3, u.source_channel);
            s->bind_view(4, u.final_to);
            if (s->step()) {
                id = s->integer(0);
                current = s->integer(1) != 0;
            }
        }
        if (!id) return insert_row(u, u.source_channel, " " + u.source_channel + " ");
        if (!current) return;  // news from a channel the copy has already left
        sqlite::Statement::Use s(update_row);
        s->bind(1, *id).bind_view(2, u.final_to).bind(3, u.when).bind_view(4, u.status);
        s->bind(5, std::int64_t{u.status_code});
        bind_or_null(*s, 6, u.delivery_ip);
        bind_or_null(*s, 7, u.spam_status);
        if (u.spam_score) s->bind(8, score_text(*u.spam_score));
        bind_or_null(*s, 9, u.queue_id);
        s->bind(10, u.size);
        bind_or_null(*s, 11, u.message_id);
        bind_or_null(*s, 12, u.env_from);
        s->run();
    }

    void insert_row(const TrackingUpdate& u, const std::string& channel, const std::string& hops) {
        // SQLite copies every text bound (a malloc and a free each), so
        // what usually repeats another parameter is not bound again: the
        // final recipient when it is the original one (?3 NULL), the
        // Message-ID when it is the key (?18), the status of an E (?12 NULL).
        sqlite::Statement::Use s(insert);
        s->bind_view(1, u.message_key).bind_view(2, u.orig_to).bind_view(4, channel).bind(5, u.when);
        if (u.final_to != u.orig_to) s->bind_view(3, u.final_to);
        bind_or_null(*s, 6, u.queue_id);
        s->bind(7, u.size);
        bind_or_null(*s, 8, u.client_ip);
        bind_or_null(*s, 9, u.client_helo);
        const bool id_is_key = !u.message_id.empty() && u.message_id == u.message_key;
        s->bind(18, std::int64_t{id_is_key});
        if (!id_is_key) bind_or_null(*s, 10, u.message_id);
        bind_or_null(*s, 11, u.env_from);
        if (u.status != "queued") s->bind_view(12, u.status);
        s->bind(13, std::int64_t{u.status_code});
        bind_or_null(*s, 14, u.spam_status);
        if (u.spam_score) s->bind(15, score_text(*u.spam_score));
        bind_or_null(*s, 16, u.delivery_ip);
        s->bind_view(17, hops);
        s->bind(19, u.arrival);
        s->run();
    }
};

TrackingDb::TrackingDb(fs::path path, std::function<void(const std::string&)> diagnostic)
    : db_(std::make_unique<DerivedDb<Statements>>(std::move(path), kSchema, kSchemaVersion, std::move(diagnostic),
                                                  std::vector<const char*>{kUpgrade1To2})) {}

TrackingDb::~TrackingDb() = default;

void TrackingDb::commit() {
    if (pending_.empty()) return;
    db_->write([this](Statements& s) {
        for (const auto& u : pending_) s.apply(u);
    }, [this] { return "tracking: " + std::to_string(pending_.size()) + " updates lost"; });
    pending_.clear();
}

// ---------------------------------------------------------------------------
// Readers.

std::optional<std::int64_t> parse_tracking_day(std::string_view text) {
    int y = 0, m = 0, d = 0;
    char tail = 0;
    if (text.size() != 10 || std::sscanf(std::string(text).c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return std::nullopt;
    if (m < 1 || m > 12 || d < 1 || d > 31) return std::nullopt;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    const std::time_t t = ::timegm(&tm);
    std::tm back{};
    ::gmtime_r(&t, &back);
    if (back.tm_mday != d) return std::nullopt;  // 31 April and the like
    return static_cast<std::int64_t>(t);
}

std::vector<TrackingRow> query_tracking(const fs::path& path, const TrackingQuery& q) {
    auto db = open_existing(path);
    std::string sql =
        "SELECT queued, processed, queue_id, size, client_ip, client_helo, message_id, env_from, final_to, "
        "orig_to, status, status_code, spam_status, spam_score, delivery_ip, channel FROM tracking WHERE 1";
    std::vector<std::string> texts;
    std::vector<std::int64_t> numbers;
    auto text_param = [&](std::string value) {
        texts.push_back(std::move(value));
        return "?" + std::to_string(texts.size());
    };
    if (q.from) sql += " AND env_from LIKE " + text_param(like_pattern(*q.from)) + " ESCAPE '\\'";
    if (q.to) {
        auto p = text_param(like_pattern(*q.to));
        sql += " AND (final_to LIKE " + p + " ESCAPE '\\' OR orig_to LIKE " + p + " ESCAPE '\\')";
    }
    if (q.message_id) {
        std::string id = *q.message_id;
        if (id.empty() || id.front() != '<') id = "<" + id + ">";
        sql += " AND message_key = " + text_param(id);
    }
    if (q.queue_id) sql += " AND queue_id = " + text_param(*q.queue_id);
    if (q.status) sql += " AND status = " + text_param(*q.status);
    // Numbers after the texts, numbered on from them.
    if (q.day) {
        const auto first = texts.size() + 1;
        sql += " AND queued >= ?" + std::to_string(first) + " AND queued < ?" + std::to_string(first + 1);
        numbers = {*q.day, *q.day + 86400};
    }
    sql += " ORDER BY queued, id";
    auto s = db.prepare(sql);
    int index = 1;
    for (const auto& t : texts) s.bind(index++, t);
    for (auto n : numbers) s.bind(index++, n);
    std::vector<TrackingRow> rows;
    while (s.step()) {
        TrackingRow r;
        r.queued = s.integer(0);
        r.processed = s.integer(1);
        r.queue_id = s.text(2);
        r.size = s.integer(3);
        r.client_ip = s.text(4);
        r.client_helo = s.text(5);
        r.message_id = s.text(6);
        r.env_from = s.text(7);
        r.final_to = s.text(8);
        r.orig_to = s.text(9);
        r.status = s.text(10);
        r.status_code = static_cast<int>(s.integer(11));
        r.spam_status = s.text(12);
        if (!s.is_null(13)) r.spam_score = score_text(std::strtod(std::string(s.text(13)).c_str(), nullptr));
        r.delivery_ip = s.text(14);
        r.channel = s.text(15);
        rows.push_back(std::move(r));
    }
    s.reset();
    return rows;
}

std::int64_t prune_tracking(const fs::path& path, int days, std::chrono::system_clock::time_point now) {
    if (!fs::exists(path)) return 0;
    auto db = open_existing(path);
    auto s = db.prepare("DELETE FROM tracking WHERE processed < ?1");
    s.bind(1, seconds_of(now) - std::int64_t{days} * 86400);
    s.run();
    s.reset();
    return db.changes();
}

}  // namespace imta::core::log
