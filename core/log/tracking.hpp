// Message tracking: db/tracking.sqlite, one row per message and recipient
// that tells its whole story, kept current from the same records that go to
// mail.log (the MX Front layout, seeds/000_...; `imta track` prints it).
//
// Fed by MailLogFile through the databases' thread (log_databases.hpp):
// every message record written is turned there into a TrackingUpdate (a pure
// function), and the updates gathered over about a second are applied in one
// transaction. Nothing of this is on an SMTP session's path nor on the
// mail.log writer's; when the process dies, the updates not yet committed
// are lost (about a second of them), never mail nor log lines. When the
// database cannot be written (another process holds it for over a minute,
// disk full), the batch's updates are dropped with a diagnostic
// (derived_db.hpp).
//
// What a row is. Its identity is the message (when it arrived, and its
// Message-ID; without one, the queue id; for a J record without either, the
// SMTP transaction) and the original recipient. A message passed from
// channel to channel (tcp_local -> conversion -> l, or a notice through
// process) keeps its arrival and stays one row: an E record
// whose source channel is the row's current channel continues that row (the
// final recipient and channel follow), and a D, Q, ... from a channel the row
// has already left is not news and changes nothing. Two copies that share an
// original recipient but not a final one (an alias or list expanded) are two
// rows. So is a message resent with the same Message-ID (it arrives anew).
//
// Records of different processes may be applied out of order (a D before
// the E that queued its copy, the E of a next hop before the one before):
// an E that comes after later news of its copy only fills in what the row
// lacks (tracking.cpp), so the row ends as it would have in order.
//
// Status texts, from the record code:
//   E queued   D sent   Q Z deferred   W delayed (a warning was sent)
//   R bounced  J rejected   K removed   V aborted
// The status code is the SMTP reply code behind the record (the record's
// smtp_code, else `smtp;NNN` or a leading NNN in its diagnostics), 0 if none.
// The last delivery IP is the server delivered to (delivery_ip, else the
// remote IP of the `(TCP|...)` transport information); 127.0.0.1 when a D, R
// or J record shows none (delivered or refused here, never relayed).
// Times are stored as seconds since the epoch and shown in UTC.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/log/mail_log.hpp"

namespace imta::core::log {

inline constexpr std::string_view kTrackingDbName = "tracking.sqlite";

/// What one record says about its row.
struct TrackingUpdate {
    std::string message_key;   ///< Message-ID, else `queue:ID`, else `session:...`
    std::string orig_to;       ///< the original recipient (the active one if unknown)
    std::string final_to;      ///< the active recipient
    std::string source_channel;
    std::string dest_channel;  ///< E records: where the copy goes
    bool enqueue = false;      ///< an E record
    std::int64_t when = 0;     ///< seconds since the epoch
    std::int64_t arrival = 0;  ///< ms: the message's arrival (J: the record's time); 0 unknown
    std::string queue_id;
    std::int64_t size = 0;     ///< bytes
    std::string client_ip, client_helo;
    std::string message_id;    ///< as logged, with its angle brackets
    std::string env_from;
    std::string status;        ///< see the header
    int status_code = 0;
    std::string delivery_ip;   ///< empty: unchanged
    std::string spam_status;   ///< empty: unchanged
    std::optional<double> spam_score;
};

/// The update `record` makes, or nullopt for records that are not about a
/// message and recipient (connection records, B records).
std::optional<TrackingUpdate> tracking_update(const LogRecord& record, std::chrono::system_clock::time_point when);
/// The same, taking the texts it keeps from `record` (left valid but
/// unspecified): the databases' thread, which owns its records.
std::optional<TrackingUpdate> tracking_update(LogRecord&& record, std::chrono::system_clock::time_point when);

// Pieces of tracking_update(), for tests and for other readers of records.
/// queue_id, else the unique part of `filename` (`ZZ01ABC.00` -> `01ABC`).
std::string queue_id_of(const LogRecord& record);
/// smtp_code, else `smtp;NNN` or a leading `NNN ` in the diagnostics; 0 if none.
int smtp_code_of(const LogRecord& record);
/// delivery_ip, else the remote IP of a `(TCP|lip|lport|rip|rport)` in the
/// diagnostics or connection field; empty if none.
std::string remote_ip_of(const LogRecord& record);
/// client_ip / client_helo, else parsed from `helo (dns [ip])` in connection_info.
std::string client_ip_of(const LogRecord& record);
std::string client_helo_of(const LogRecord& record);

/// One row as `imta track` shows it. Text fields are empty when unknown.
struct TrackingRow {
    std::int64_t queued = 0;
    std::int64_t processed = 0;
    std::string queue_id;
    std::int64_t size = 0;
    std::string client_ip, client_helo, message_id, env_from, final_to, orig_to;
    std::string status;
    int status_code = 0;
    std::string spam_status;
    std::string spam_score;  ///< as stored, e.g. "0.2781"; empty if none
    std::string delivery_ip;
    std::string channel;     ///< where the copy is (or was last)
};

/// `yyyy-MM-dd HH:mm:ss` in UTC.
std::string tracking_time(std::int64_t seconds);
/// The MX Front line: 15 fields separated by one space, a field quoted when it
/// holds a blank or a quote (`"` and `\` then escaped with `\`), an empty text
/// field written `-` and an empty number `0`; the spam status always quoted,
/// as in the seed's sample; the Message-ID without its angle brackets; the
/// original recipient `-` when it is the final one.
std::string mx_front_line(const TrackingRow& row);
/// The same row as one JSON object (unknown fields null).
std::string tracking_json(const TrackingRow& row);

template <class Statements>
class DerivedDb;

/// Writes updates to the database, creating it (WAL mode) on first use; how
/// failures are handled: derived_db.hpp. One thread at a time (the
/// databases' thread, log_databases.hpp).
class TrackingDb {
public:
    /// `diagnostic` hears about failures (at most one line a minute).
    TrackingDb(std::filesystem::path path, std::function<void(const std::string&)> diagnostic);
    ~TrackingDb();
    TrackingDb(const TrackingDb&) = delete;
    TrackingDb& operator=(const TrackingDb&) = delete;

    void add(TrackingUpdate update) { pending_.push_back(std::move(update)); }
    /// Applies what was added since the last commit in one transaction. On
    /// failure the updates are dropped and the database is reopened later.
    void commit();

private:
    struct Statements;
    std::vector<TrackingUpdate> pending_;
    std::unique_ptr<DerivedDb<Statements>> db_;
};

/// `imta track`'s selection; unset members select everything.
struct TrackingQuery {
    std::optional<std::int64_t> day = {};  ///< queued on this UTC day (its first second)
    std::optional<std::string> from = {};  ///< envelope sender; `*` matches any text, case ignored
    std::optional<std::string> to = {};    ///< final or original recipient, likewise
    std::optional<std::string> message_id = {};  ///< with or without angle brackets
    std::optional<std::string> queue_id = {};
    std::optional<std::string> status = {};
};

/// `YYYY-MM-DD` as the first second of that UTC day; nullopt if malformed.
std::optional<std::int64_t> parse_tracking_day(std::string_view text);

/// Rows matching `query`, oldest first. Throws sqlite::Error.
std::vector<TrackingRow> query_tracking(const std::filesystem::path& db, const TrackingQuery& query);

/// Removes rows last processed more than `days` days before `now`; returns
/// how many. For the return job. Throws sqlite::Error.
std::int64_t prune_tracking(const std::filesystem::path& db, int days,
                            std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace imta::core::log
