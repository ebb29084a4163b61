// Message tracking (core/log/tracking.hpp): what each record says, the
// stories of delivered, deferred, bounced, refused and forwarded messages as
// rows of a real database, the MX Front lines `imta track` prints, the
// selections and the retention.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "core/log/mail_log_file.hpp"
#include "core/log/tracking.hpp"
#include "core/sqlite.hpp"
#include "log_test_support.hpp"

using namespace imta::core::log;
using namespace logtest;

namespace {

// A database in a temporary directory, fed one record (one batch) at a time.
struct Tracker {
    TempDir dir;
    fs::path path = dir.path() / "tracking.sqlite";
    std::vector<std::string> problems;
    TrackingDb db{path, [this](const std::string& p) { problems.push_back(p); }};

    void log(const LogRecord& r, std::int64_t at) {
        auto u = tracking_update(r, utc(at));
        REQUIRE(u);
        db.add(std::move(*u));
        db.commit();
        REQUIRE(problems.empty());
    }
    std::vector<std::string> lines(const TrackingQuery& q = {}) {
        std::vector<std::string> out;
        for (const auto& row : query_tracking(path, q)) out.push_back(mx_front_line(row));
        return out;
    }
    std::vector<TrackingRow> rows(const TrackingQuery& q = {}) { return query_tracking(path, q); }
};

const std::string t0 = "\"2026-11-21 10:31:05\"";

std::string at(int seconds) {
    return "\"" + tracking_time(std::chrono::duration_cast<std::chrono::seconds>(utc(seconds).time_since_epoch()).count()) +
           "\"";
}

LogRecord received(const std::string& dest, const std::string& to, const std::string& file, const std::string& id) {
    auto r = message_record(RecordCode::Enqueue, "tcp_local", dest, to, file, id);
    r.client_ip = "192.0.2.7";
    r.client_helo = "mx.example.org";
    return r;
}

}  // namespace

TEST_CASE("what a record tells tracking, with and without the optional fields", "[tracking]") {
    SECTION("queue id from the field, else from the queue file name") {
        LogRecord r;
        r.filename = "/srv/imta/queue/tcp_local/ZY01ISKP0S0LVQ94DU0K.00";
        CHECK(queue_id_of(r) == "01ISKP0S0LVQ94DU0K");
        r.filename = "ZZ01ABC.HELD";
        CHECK(queue_id_of(r) == "01ABC");
        r.queue_id = "X1";
        CHECK(queue_id_of(r) == "X1");
        CHECK(queue_id_of(LogRecord{}).empty());
    }
    SECTION("the SMTP code") {
        LogRecord r;
        r.diagnostics = {"dns;mx.example.net (TCP|192.0.2.1|2788|192.0.2.25|25) (mx ESMTP) smtp;250 2.1.5 OK"};
        CHECK(smtp_code_of(r) == 250);
        r.diagnostics = {"dns;thor.siroe.com", "(TCP|206.184.139.12|2788|192.160.253.66|25)", "smtp; 553 unknown user"};
        CHECK(smtp_code_of(r) == 553);
        r.diagnostics = {"550 5.7.1 Relaying not permitted: alan@very.bogus.com"};
        CHECK(smtp_code_of(r) == 550);
        r.diagnostics = {"Illegal host/domain name found"};
        CHECK(smtp_code_of(r) == 0);
        r.diagnostics = {"1234 is not a code", "TCP port 250"};
        CHECK(smtp_code_of(r) == 0);
        r.smtp_code = 421;
        CHECK(smtp_code_of(r) == 421);
    }
    SECTION("the remote IP of a delivery") {
        LogRecord r;
        r.code = RecordCode::Dequeue;
        r.diagnostics = {"dns;mx.example.net (TCP|192.0.2.1|2788|198.51.100.25|25) (banner) smtp;250 OK"};
        CHECK(remote_ip_of(r) == "198.51.100.25");
        r.diagnostics = {};
        r.connection_info = "mx.example.net dns;mx.example.net (TCP|192.0.2.1|2788|2001:db8::25|25)";
        CHECK(remote_ip_of(r) == "2001:db8::25");
        r.delivery_ip = "203.0.113.1";
        CHECK(remote_ip_of(r) == "203.0.113.1");
    }
    SECTION("the client of an enqueue, from the fields or from the connection field") {
        LogRecord r;
        r.connection_info = "mail.example.org (host.example.org [192.0.2.7])";
        CHECK(client_ip_of(r) == "192.0.2.7");
        CHECK(client_helo_of(r) == "mail.example.org");
        r.client_ip = "192.0.2.8";
        r.client_helo = "other";
        CHECK(client_ip_of(r) == "192.0.2.8");
        CHECK(client_helo_of(r) == "other");
    }
    SECTION("records that are not about a message and recipient make no update") {
        LogRecord r;
        for (auto code : {RecordCode::BadCommand, RecordCode::ConnectionOpen, RecordCode::ConnectionClose,
                          RecordCode::Auth, RecordCode::ConnectionRejected, RecordCode::ConnectionFailed,
                          RecordCode::Etrn}) {
            r.code = code;
            CHECK_FALSE(tracking_update(r, utc()));
        }
    }
    SECTION("status texts") {
        const std::pair<RecordCode, const char*> table[] = {
            {RecordCode::Enqueue, "queued"},   {RecordCode::Dequeue, "sent"},
            {RecordCode::Requeue, "deferred"}, {RecordCode::PartialRequeue, "deferred"},
            {RecordCode::Warned, "delayed"},   {RecordCode::Return, "bounced"},
            {RecordCode::Refused, "rejected"}, {RecordCode::Removed, "removed"},
            {RecordCode::Aborted, "aborted"},
        };
        for (auto [code, text] : table) {
            LogRecord r;
            r.code = code;
            auto u = tracking_update(r, utc());
            REQUIRE(u);
            CHECK(u->status == text);
        }
    }
}

TEST_CASE("a message relayed and delivered is one line that ends sent 250 with the server's IP", "[tracking]") {
    Tracker t;
    t.log(received("tcp_local", "bob@example.net", "/q/tcp_local/ZZ01ABC.00", "<m1@example.org>"), 0);
    CHECK(t.lines() == std::vector<std::string>{
        t0 + " " + t0 + " 01ABC 2048 192.0.2.7 mx.example.org m1@example.org alice@example.org bob@example.net - "
        "queued 0 \"-\" 0 -"});

    auto d = message_record(RecordCode::Dequeue, "tcp_local", "", "bob@example.net", "/q/tcp_local/ZZ01ABC.00",
                            "<m1@example.org>");
    d.diagnostics = {"dns;mx.example.net (TCP|192.0.2.1|40000|198.51.100.25|25) (mx.example.net ESMTP) "
                     "smtp;250 2.0.0 Ok"};
    t.log(d, 2);
    CHECK(t.lines() == std::vector<std::string>{
        t0 + " " + at(2) + " 01ABC 2048 192.0.2.7 mx.example.org m1@example.org alice@example.org "
        "bob@example.net - sent 250 \"-\" 0 198.51.100.25"});
}

TEST_CASE("a deferred message shows deferred with the reply and the date of the last attempt", "[tracking]") {
    Tracker t;
    t.log(received("tcp_local", "carol@example.net", "/q/tcp_local/ZZ01DEF.00", "<m2@example.org>"), 0);
    auto q = message_record(RecordCode::Requeue, "tcp_local", "", "carol@example.net", "/q/tcp_local/ZZ01DEF.00",
                            "<m2@example.org>");
    q.diagnostics = {"dns;mx.example.net (TCP|192.0.2.1|40001|203.0.113.5|25) smtp;451 4.3.0 try again later"};
    t.log(q, 60);
    q.filename = "/q/tcp_local/ZY01DEF.00";  // the second attempt: the retry prefix moved on
    q.diagnostics = {"TCP active open: Failed connect() Error: no route to host"};
    t.log(q, 3600);
    auto rows = t.rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].status == "deferred");
    CHECK(rows[0].status_code == 0);           // the last attempt had no reply
    CHECK(rows[0].delivery_ip == "203.0.113.5");  // the last server that answered
    CHECK(t.lines() == std::vector<std::string>{
        t0 + " " + at(3600) + " 01DEF 2048 192.0.2.7 mx.example.org m2@example.org alice@example.org "
        "carol@example.net - deferred 0 \"-\" 0 203.0.113.5"});
}

TEST_CASE("a bounced message and its notice are two stories", "[tracking]") {
    Tracker t;
    t.log(received("tcp_local", "nobody@example.net", "/q/tcp_local/ZZ01B0.00", "<m3@example.org>"), 0);
    // The notice to the sender, enqueued to process (new id, original id).
    auto notice = message_record(RecordCode::Enqueue, "tcp_local", "process", "alice@example.org",
                                 "/q/process/ZZ01N1.00", "");
    notice.env_from = "";
    notice.size_bytes = 4000;
    notice.message_ids = {"<n1@mail.example.test>", "<m3@example.org>"};
    notice.arrival_ms = kArrivalMs + 5000;  // a message of its own, made then
    t.log(notice, 5);
    auto r = message_record(RecordCode::Return, "tcp_local", "", "nobody@example.net", "/q/tcp_local/ZZ01B0.00",
                            "<m3@example.org>");
    r.diagnostics = {"dns;mx.example.net", "(TCP|192.0.2.1|40002|198.51.100.25|25)", "smtp; 550 5.1.1 no such user"};
    t.log(r, 5);
    // process passes the notice on to the local channel, which delivers it.
    auto onward = message_record(RecordCode::Enqueue, "process", "l", "alice@example.org", "/q/l/ZZ01N2.00", "");
    onward.env_from = "";
    onward.size_bytes = 4000;
    onward.active_to = "alice";
    onward.message_ids = {"<n1@mail.example.test>"};
    onward.arrival_ms = notice.arrival_ms;  // process keeps the notice's arrival
    t.log(onward, 6);
    auto delivered = message_record(RecordCode::Dequeue, "l", "", "alice@example.org", "/q/l/ZZ01N2.00",
                                    "<n1@mail.example.test>");
    delivered.env_from = "";
    delivered.size_bytes = 4000;
    delivered.active_to = "alice";
    delivered.arrival_ms = notice.arrival_ms;
    t.log(delivered, 7);

    CHECK(t.lines() == std::vector<std::string>{
        t0 + " " + at(5) + " 01B0 2048 192.0.2.7 mx.example.org m3@example.org alice@example.org "
        "nobody@example.net - bounced 550 \"-\" 0 198.51.100.25",
        at(5) + " " + at(7) + " 01N1 4000 - - n1@mail.example.test - alice alice@example.org sent 0 \"-\" 0 "
        "127.0.0.1"});
    auto rows = t.rows(TrackingQuery{.status = "sent"});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].channel == "l");
}

TEST_CASE("a recipient refused at RCPT is a rejected line with the reply and no queue id", "[tracking]") {
    Tracker t;
    LogRecord j;
    j.code = RecordCode::Refused;
    j.source_channel = "tcp_local";
    j.env_from = "harold@varrius.com";
    j.active_to = "alan@very.bogus.com";
    j.pid = 0x1a2b;
    j.thread = 2;
    j.count = 7;
    j.connection_info = "client.varrius.com (client.varrius.com [192.0.2.99])";
    j.diagnostics = {"550 5.7.1 Relaying not permitted: alan@very.bogus.com"};
    t.log(j, 0);
    CHECK(t.lines() == std::vector<std::string>{
        t0 + " " + t0 + " - 0 192.0.2.99 client.varrius.com - harold@varrius.com alan@very.bogus.com - "
        "rejected 550 \"-\" 0 127.0.0.1"});
}

TEST_CASE("a message passed through conversion to the local channel stays one line", "[tracking]") {
    Tracker t;
    t.log(received("conversion", "bert@sesta.com", "/q/conversion/ZZ01C1.00", "<m4@siroe.edu>"), 0);
    auto onward = message_record(RecordCode::Enqueue, "conversion", "l", "bert@sesta.com", "/q/l/ZZ01C2.00",
                                 "<m4@siroe.edu>");
    onward.active_to = "bert";
    onward.size_bytes = 3000;
    t.log(onward, 3);
    // conversion's D for its own copy comes after the E: old news for the row.
    auto conv_done = message_record(RecordCode::Dequeue, "conversion", "", "bert@sesta.com",
                                    "/q/conversion/ZZ01C1.00", "<m4@siroe.edu>");
    t.log(conv_done, 3);
    auto rows = t.rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].status == "queued");
    CHECK(rows[0].channel == "l");
    auto l_done = message_record(RecordCode::Dequeue, "l", "", "bert@sesta.com", "/q/l/ZZ01C2.00", "<m4@siroe.edu>");
    l_done.active_to = "bert";
    t.log(l_done, 6);
    CHECK(t.lines() == std::vector<std::string>{
        t0 + " " + at(6) + " 01C1 2048 192.0.2.7 mx.example.org m4@siroe.edu alice@example.org bert "
        "bert@sesta.com sent 0 \"-\" 0 127.0.0.1"});
}

TEST_CASE("a list expanded to two recipients is two lines with their own outcomes", "[tracking]") {
    Tracker t;
    auto a = received("l", "a@example.test", "/q/l/ZZ01L1.00", "<m5@example.org>");
    a.orig_to = "list@example.test";
    auto b = a;
    b.active_to = "b@example.test";
    t.log(a, 0);
    t.log(b, 0);
    auto da = message_record(RecordCode::Dequeue, "l", "", "a@example.test", "/q/l/ZZ01L1.00", "<m5@example.org>");
    da.orig_to = "list@example.test";
    t.log(da, 1);
    auto qb = message_record(RecordCode::PartialRequeue, "l", "", "b@example.test", "/q/l/ZZ01L1.00",
                             "<m5@example.org>");
    qb.orig_to = "list@example.test";
    qb.diagnostics = {"mailbox over quota"};
    t.log(qb, 1);
    auto rows = t.rows();
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].final_to == "a@example.test");
    CHECK(rows[0].status == "sent");
    CHECK(rows[1].final_to == "b@example.test");
    CHECK(rows[1].status == "deferred");
    CHECK(rows[1].orig_to == "list@example.test");
}

TEST_CASE("spam verdicts fill their columns; odd texts are quoted", "[tracking]") {
    TrackingRow row;
    row.queued = row.processed =
        std::chrono::duration_cast<std::chrono::seconds>(utc().time_since_epoch()).count();
    row.queue_id = "01X";
    row.size = 1292;
    row.client_ip = "10.203.80.101";
    row.client_helo = "mx01.sample.com";
    row.message_id = "<7802602845.VT4QT20H460210@nleltdlyaqgzrpy.sample.com>";
    row.env_from = "bob@sample.com";
    row.final_to = row.orig_to = "matt@example.com";
    row.status = "sent";
    row.status_code = 250;
    row.spam_status = "Passed";
    row.spam_score = "0.2781";
    row.delivery_ip = "172.16.54.92";
    // The seed's first sample line, with our time and queue id.
    CHECK(mx_front_line(row) == t0 + " " + t0 +
                                    " 01X 1292 10.203.80.101 mx01.sample.com "
                                    "7802602845.VT4QT20H460210@nleltdlyaqgzrpy.sample.com bob@sample.com "
                                    "matt@example.com - sent 250 \"Passed\" 0.2781 172.16.54.92");
    row.spam_status = "Passed SPAMMY";
    row.client_helo = "say \"hi\"";
    row.env_from = "";
    const auto line = mx_front_line(row);
    CHECK(line.find(" \"say \\\"hi\\\"\" ") != std::string::npos);
    CHECK(line.find(" \"Passed SPAMMY\" 0.2781 ") != std::string::npos);
    CHECK(line.find(" - matt@example.com - sent ") != std::string::npos);
    CHECK(tracking_json(row).find("\"from\":null") != std::string::npos);
    CHECK(tracking_json(row).find("\"spam_score\":\"0.2781\"") != std::string::npos);
}

TEST_CASE("imta track's selections", "[tracking]") {
    Tracker t;
    t.log(received("tcp_local", "bob@example.net", "/q/tcp_local/ZZ01S1.00", "<s1@example.org>"), 0);
    auto other = received("l", "dave@example.test", "/q/l/ZZ01S2.00", "<s2@example.org>");
    other.env_from = "eve@example.com";
    t.log(other, 86400);  // the next day
    auto d = message_record(RecordCode::Dequeue, "l", "", "dave@example.test", "/q/l/ZZ01S2.00", "<s2@example.org>");
    t.log(d, 86401);

    auto count = [&](TrackingQuery q) { return t.rows(q).size(); };
    CHECK(count({}) == 2);
    CHECK(count({.from = "EVE@example.com"}) == 1);
    CHECK(count({.from = "*@example.org"}) == 1);
    CHECK(count({.to = "*@example.*"}) == 2);
    CHECK(count({.to = "bob@example.net"}) == 1);
    CHECK(count({.message_id = "s2@example.org"}) == 1);
    CHECK(count({.message_id = "<s1@example.org>"}) == 1);
    CHECK(count({.queue_id = "01S1"}) == 1);
    CHECK(count({.status = "sent"}) == 1);
    CHECK(count({.status = "bounced"}) == 0);
    CHECK(count({.day = parse_tracking_day("2026-11-21")}) == 1);
    CHECK(count({.day = parse_tracking_day("2026-11-22")}) == 1);
    CHECK(count({.day = parse_tracking_day("2026-11-23")}) == 0);
    CHECK(count({.to = "100%_match"}) == 0);  // LIKE's own wildcards are plain text
    CHECK_FALSE(parse_tracking_day("2026-02-30"));
    CHECK_FALSE(parse_tracking_day("21-Nov-2026"));
    CHECK_FALSE(parse_tracking_day("2026-11-2x"));
}

TEST_CASE("rows whose last event is older than the retention are pruned", "[tracking]") {
    Tracker t;
    t.log(received("l", "old@example.test", "/q/l/ZZ01P1.00", "<p1@example.org>"), 0);
    t.log(received("l", "new@example.test", "/q/l/ZZ01P2.00", "<p2@example.org>"), 20 * 86400);
    CHECK(prune_tracking(t.path, 30, utc(35 * 86400)) == 1);
    auto rows = t.rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].final_to == "new@example.test");
    CHECK(prune_tracking(t.dir.path() / "missing.sqlite", 30) == 0);
}

TEST_CASE("records applied out of order, as two processes may commit them, tell the same story", "[tracking]") {
    SECTION("the D of a fast delivery before the E that queued the copy") {
        Tracker t;
        const auto e = received("l", "dan@example.test", "/q/l/ZZ01OO1.00", "<o1@example.org>");
        const auto d = message_record(RecordCode::Dequeue, "l", "", "dan@example.test", "/q/l/ZZ01OO1.00",
                                      "<o1@example.org>");
        t.log(d, 1);
        t.log(e, 0);
        const std::vector<std::string> expected{
            t0 + " " + at(1) + " 01OO1 2048 192.0.2.7 mx.example.org o1@example.org alice@example.org "
            "dan@example.test - sent 0 \"-\" 0 127.0.0.1"};
        CHECK(t.lines() == expected);
        // In order, the same line.
        Tracker in_order;
        in_order.log(e, 0);
        in_order.log(d, 1);
        CHECK(in_order.lines() == expected);
    }
    SECTION("the same within one second, and for a relayed copy (source and destination the same)") {
        Tracker t;
        auto e = received("tcp_local", "ray@example.net", "/q/tcp_local/ZZ01OO2.00", "<o2@example.org>");
        auto q = message_record(RecordCode::Requeue, "tcp_local", "", "ray@example.net", "/q/tcp_local/ZZ01OO2.00",
                                "<o2@example.org>");
        q.diagnostics = {"smtp;451 4.3.0 later"};
        t.log(q, 0);
        t.log(e, 0);
        auto rows = t.rows();
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].status == "deferred");
        CHECK(rows[0].status_code == 451);
        CHECK(rows[0].client_ip == "192.0.2.7");
    }
    SECTION("the E of the next hop before the E of the hop before") {
        Tracker t;
        const auto first = received("conversion", "fred@example.test", "/q/conversion/ZZ01OO3.00", "<o3@example.org>");
        auto onward = message_record(RecordCode::Enqueue, "conversion", "l", "fred@example.test", "/q/l/ZZ01OO4.00",
                                     "<o3@example.org>");
        onward.active_to = "fred";
        auto done = message_record(RecordCode::Dequeue, "l", "", "fred@example.test", "/q/l/ZZ01OO4.00",
                                   "<o3@example.org>");
        done.active_to = "fred";
        t.log(onward, 2);
        t.log(done, 3);
        t.log(first, 0);
        CHECK(t.lines() == std::vector<std::string>{
            t0 + " " + at(3) + " 01OO3 2048 192.0.2.7 mx.example.org o3@example.org alice@example.org fred "
            "fred@example.test sent 0 \"-\" 0 127.0.0.1"});
    }
    SECTION("a second copy for another final recipient is still a row of its own") {
        Tracker t;
        auto a = received("l", "a@example.test", "/q/l/ZZ01OO5.00", "<o5@example.org>");
        a.orig_to = "list@example.test";
        auto b = a;
        b.active_to = "b@example.test";
        auto da = message_record(RecordCode::Dequeue, "l", "", "a@example.test", "/q/l/ZZ01OO5.00", "<o5@example.org>");
        da.orig_to = "list@example.test";
        t.log(da, 0);
        t.log(a, 0);
        t.log(b, 0);
        auto rows = t.rows();
        REQUIRE(rows.size() == 2);
        CHECK(rows[0].status == "sent");
        CHECK(rows[1].final_to == "b@example.test");
        CHECK(rows[1].status == "queued");
    }
}

TEST_CASE("a message resent with the same Message-ID is a row of its own, even while the first is queued",
          "[tracking]") {
    Tracker t;
    t.log(received("l", "gus@example.test", "/q/l/ZZ01R1.00", "<r1@example.org>"), 0);
    auto again = received("l", "gus@example.test", "/q/l/ZZ01R2.00", "<r1@example.org>");
    again.arrival_ms = kArrivalMs + 60'000;  // the client sent it again a minute later
    t.log(again, 60);
    t.log(message_record(RecordCode::Dequeue, "l", "", "gus@example.test", "/q/l/ZZ01R1.00", "<r1@example.org>"),
          61);
    auto rows = t.rows();
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].queue_id == "01R1");
    CHECK(rows[0].status == "sent");
    CHECK(rows[1].queue_id == "01R2");
    CHECK(rows[1].status == "queued");
}

namespace {

std::int64_t user_version(const fs::path& db) {
    auto c = imta::core::sqlite::Connection::open(db, {});
    return imta::core::sqlite::user_version(c);
}

std::vector<std::string> index_names(const fs::path& db) {
    auto c = imta::core::sqlite::Connection::open(db, {});
    auto s = c.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tracking' ORDER BY name");
    std::vector<std::string> out;
    while (s.step()) out.emplace_back(s.text(0));
    s.reset();
    return out;
}

}  // namespace

TEST_CASE("a version 1 database is upgraded in place, and a message queued across the upgrade keeps its row",
          "[tracking]") {
    Tracker t;
    {
        // As imta made it before the arrival was part of the key.
        imta::core::sqlite::Connection::Options o;
        o.create = true;
        auto c = imta::core::sqlite::Connection::open(t.path, o);
        c.exec(R"(
CREATE TABLE tracking (id INTEGER PRIMARY KEY, message_key TEXT NOT NULL, orig_to TEXT NOT NULL,
  final_to TEXT NOT NULL, channel TEXT NOT NULL, hops TEXT NOT NULL, queued INTEGER NOT NULL,
  processed INTEGER NOT NULL, queue_id TEXT, size INTEGER, client_ip TEXT, client_helo TEXT, message_id TEXT,
  env_from TEXT, status TEXT NOT NULL, status_code INTEGER NOT NULL DEFAULT 0, spam_status TEXT, spam_score REAL,
  delivery_ip TEXT);
CREATE INDEX tracking_by_key ON tracking(message_key, orig_to);
CREATE INDEX tracking_by_queue_id ON tracking(queue_id);
CREATE INDEX tracking_by_queued ON tracking(queued);
INSERT INTO tracking (message_key, orig_to, final_to, channel, hops, queued, processed, queue_id, size, message_id,
  env_from, status) VALUES ('<v1@example.org>', 'hal@example.test', 'hal@example.test', 'l', ' tcp_local l ',
  1795257065, 1795257065, '01V1', 2048, '<v1@example.org>', 'alice@example.org', 'queued');
PRAGMA user_version = 1;
)");
    }
    REQUIRE(user_version(t.path) == 1);
    // Its delivery, written after the upgrade, carries the message's arrival.
    t.log(message_record(RecordCode::Dequeue, "l", "", "hal@example.test", "/q/l/ZZ01V1.00", "<v1@example.org>"), 9);
    auto rows = t.rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].status == "sent");
    CHECK(rows[0].queue_id == "01V1");
    CHECK(user_version(t.path) == 2);
    CHECK(index_names(t.path) ==
          std::vector<std::string>{"tracking_by_arrival", "tracking_by_queue_id", "tracking_by_queued"});
    // New messages go on as in a new database.
    t.log(received("l", "ida@example.test", "/q/l/ZZ01V2.00", "<v2@example.org>"), 10);
    CHECK(t.rows().size() == 2);
    // A message that arrives after the upgrade has no row of version 1, even
    // one with its Message-ID and recipient: it is a row of its own.
    auto later = received("l", "hal@example.test", "/q/l/ZZ01V3.00", "<v1@example.org>");
    later.arrival_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    t.log(later, 11);
    rows = t.rows(TrackingQuery{.message_id = "<v1@example.org>"});
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].status == "sent");
    CHECK(rows[1].status == "queued");
    CHECK(rows[1].queue_id == "01V3");
}

TEST_CASE("a tracking database of a newer schema is not written, with a diagnostic", "[tracking]") {
    TempDir dir;
    const auto path = dir.path() / "tracking.sqlite";
    {
        imta::core::sqlite::Connection::Options o;
        o.create = true;
        auto c = imta::core::sqlite::Connection::open(path, o);
        c.exec("CREATE TABLE tracking (id INTEGER PRIMARY KEY, future TEXT); PRAGMA user_version = 3;");
    }
    std::vector<std::string> problems;
    TrackingDb db{path, [&](const std::string& p) { problems.push_back(p); }};
    auto u = tracking_update(received("l", "x@example.test", "/q/l/ZZ01F1.00", "<f1@example.org>"), utc());
    REQUIRE(u);
    db.add(std::move(*u));
    db.commit();
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("tracking: 1 updates lost") != std::string::npos);
    CHECK(problems[0].find("has schema version 3, newer than this imta's 2; not written") != std::string::npos);
    CHECK(user_version(path) == 3);
    CHECK(index_names(path).empty());
}

TEST_CASE("a batch waits for another process that holds the database for seconds, and loses nothing",
          "[tracking]") {
    Tracker t;
    t.log(received("l", "kim@example.test", "/q/l/ZZ01K1.00", "<k1@example.org>"), 0);
    // Another writer (an upgrade of a large file takes about that long),
    // past SQLite's usual five seconds.
    auto other = imta::core::sqlite::Connection::open(t.path, {});
    other.exec("BEGIN IMMEDIATE");
    std::thread release([&other] {
        std::this_thread::sleep_for(std::chrono::milliseconds(5500));
        other.exec("COMMIT");
    });
    const auto start = std::chrono::steady_clock::now();
    t.log(received("l", "lee@example.test", "/q/l/ZZ01K2.00", "<k2@example.org>"), 1);  // no problem reported
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::seconds(5));
    release.join();
    CHECK(t.rows().size() == 2);
}

TEST_CASE("the log writer hands tracking to the databases' thread, which commits each batch later, in WAL mode",
          "[tracking]") {
    TempDir dir;
    MailLogFileOptions o;
    o.log_dir = dir.path() / "log";
    o.format.tracking = true;
    o.clock = [] { return utc(); };
    const auto db = dir.path() / "db" / "tracking.sqlite";
    MailLogFile log(o);
    {
        MailLogFile::Batch batch(log);
        log.write(received("l", "x@example.test", "/q/l/ZZ01W1.00", "<w1@example.org>"));
        // Nothing handed over while the batch is open.
        CHECK_FALSE(fs::exists(db));
        log.write(message_record(RecordCode::Dequeue, "l", "", "x@example.test", "/q/l/ZZ01W1.00",
                                 "<w1@example.org>"));
    }
    log.flush_databases();
    REQUIRE(fs::exists(db));
    auto rows = query_tracking(db, {});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].status == "sent");
    auto c = imta::core::sqlite::Connection::open(db, {});
    auto s = c.prepare("PRAGMA journal_mode");
    REQUIRE(s.step());
    CHECK(s.text(0) == "wal");
    s.reset();
    // And mail.log_current got both lines, as ever.
    CHECK(lines_of(dir.path() / "log" / "mail.log_current").size() == 2);
    // Without a batch, each write() is handed over; the destructor commits it.
    {
        MailLogFile other(o);
        other.write(received("l", "y@example.test", "/q/l/ZZ01W2.00", "<w2@example.org>"));
    }
    CHECK(query_tracking(db, {}).size() == 2);
}

TEST_CASE("an unwritable tracking database loses tracking, never log lines", "[tracking]") {
    TempDir dir;
    fs::create_directories(dir.path() / "db" / "tracking.sqlite");  // a directory: cannot be opened
    MailLogFileOptions o;
    o.log_dir = dir.path() / "log";
    o.format.tracking = true;
    std::vector<std::string> problems;
    o.diagnostic = [&](const std::string& p) { problems.push_back(p); };
    MailLogFile log(o);
    CHECK_FALSE(log.write(received("l", "x@example.test", "/q/l/ZZ01U1.00", "<u1@example.org>")));
    CHECK(lines_of(dir.path() / "log" / "mail.log_current").size() == 1);
    log.flush_databases();
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("tracking: 1 updates lost") != std::string::npos);
}
