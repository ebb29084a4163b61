// Where entries go besides the text file: JSON Lines (LOG_JSON) and syslog
// (LOG_MESSAGES_SYSLOG, LOG_CONNECTIONS_SYSLOG), and that the tracking-only
// fields of LogRecord never change an entry.
#include <catch2/catch.hpp>

#include "core/log/mail_log_file.hpp"
#include "log_test_support.hpp"

using namespace imta::core::log;
using namespace logtest;

namespace {

LogRecord full_enqueue() {
    LogRecord r;
    r.when = LogTime{2026, 11, 21, 10, 31, 5, 42};
    r.code = RecordCode::Enqueue;
    r.modifiers.esmtp = true;
    r.modifiers.tls = true;
    r.node = "mx1";
    r.pid = 0x1a2b;
    r.thread = 3;
    r.count = 7;
    r.source_channel = "tcp_local";
    r.dest_channel = "l";
    r.size_bytes = 2049;
    r.env_from = "a@example.org";
    r.orig_to = "b@example.test";
    r.active_to = "b";
    r.notary = 6;
    r.filename = "/q/l/ZZ01ABC.00";
    r.message_ids = {"<m1@example.org>"};
    r.username = "imta";
    r.connection_info = "mail.example.org (mail.example.org [192.0.2.7])";
    r.diagnostics = {"line \"one\"", "two"};
    return r;
}

LogOptions all_on() {
    LogOptions o;
    o.node = o.process = o.filename = o.message_id = o.username = o.notary = true;
    o.connection = kLogConnectionInfo | kLogConnectionRecords | kLogConnectionAuth;
    return o;
}

}  // namespace

TEST_CASE("LOG_JSON writes the text entry's fields as one JSON object", "[log_json]") {
    auto o = all_on();
    o.json = true;
    auto line = format_record(full_enqueue(), o);
    REQUIRE(line);
    CHECK(*line ==
          "{\"time\":\"2026-11-21T10:31:05.42\",\"node\":\"mx1\",\"process\":\"1a2b.3.7\","
          "\"source\":\"tcp_local\",\"dest\":\"l\",\"code\":\"EES\",\"size\":3,\"from\":\"a@example.org\","
          "\"orig\":\"b@example.test\",\"active\":\"b\",\"notary\":6,\"file\":\"/q/l/ZZ01ABC.00\","
          "\"message_ids\":[\"<m1@example.org>\"],\"username\":\"imta\","
          "\"connection\":\"mail.example.org (mail.example.org [192.0.2.7])\","
          "\"diagnostics\":\"line \\\"one\\\" two\"}");

    SECTION("options that leave a field out of the text leave it out here") {
        LogOptions plain;
        plain.json = true;
        auto r = full_enqueue();
        r.env_from.clear();
        CHECK(*format_record(r, plain) ==
              "{\"time\":\"2026-11-21T10:31:05.42\",\"source\":\"tcp_local\",\"dest\":\"l\",\"code\":\"EES\","
              "\"size\":3,\"from\":\"\",\"orig\":\"b@example.test\",\"active\":\"b\","
              "\"diagnostics\":\"line \\\"one\\\" two\"}");
    }
    SECTION("connection entries, and the last J of a session") {
        LogRecord c;
        c.when = LogTime{2026, 11, 21, 10, 31, 5, 0};
        c.code = RecordCode::Auth;
        c.source_channel = "tcp_auth";
        c.transport = "TCP|192.0.2.1|587|192.0.2.9|40000";
        c.application = "SMTP";
        c.auth_user = "carol";
        c.diagnostics = {"235 2.7.0 ok"};
        LogOptions j;
        j.json = true;
        j.connection = kLogConnectionAuth;
        CHECK(*format_record(c, j) ==
              "{\"time\":\"2026-11-21T10:31:05.00\",\"channel\":\"tcp_auth\",\"direction\":\"+\",\"code\":\"U\","
              "\"transport\":\"TCP|192.0.2.1|587|192.0.2.9|40000\",\"application\":\"SMTP\","
              "\"username\":\"carol\",\"diagnostics\":\"235 2.7.0 ok\"}");
        LogRecord refused = full_enqueue();
        refused.code = RecordCode::Refused;
        refused.last_in_session = true;
        CHECK(format_record(refused, j)->ends_with(",\"last_in_session\":true}"));
    }
}

TEST_CASE("the tracking-only fields never change an entry", "[log_json]") {
    auto r = full_enqueue();
    const auto before = format_record(r, all_on());
    r.queue_id = "Q";
    r.client_ip = "192.0.2.200";
    r.client_helo = "helo";
    r.delivery_ip = "198.51.100.1";
    r.smtp_code = 250;
    r.spam_status = "Passed";
    r.spam_score = 1.5;
    CHECK(format_record(r, all_on()) == before);
    auto j = all_on();
    j.json = true;
    CHECK(format_record(r, j)->find("192.0.2.200") == std::string::npos);
}

TEST_CASE("LOG_MESSAGES_SYSLOG and LOG_CONNECTIONS_SYSLOG send entries to syslog too, or only", "[syslog]") {
    TempDir dir;
    std::vector<std::string> sent;
    auto options = [&](int messages, int connections) {
        MailLogFileOptions o;
        o.log_dir = dir.path();
        o.format.connection = kLogConnectionRecords;
        o.format.messages_syslog = messages;
        o.format.connections_syslog = connections;
        o.syslog = [&sent](std::string_view entry) { sent.emplace_back(entry); };
        return o;
    };
    auto message = message_record(RecordCode::Dequeue, "l", "", "b@example.test", "", "");
    LogRecord open;
    open.code = RecordCode::ConnectionOpen;
    open.source_channel = "tcp_local";
    open.transport = "TCP|192.0.2.1|25|192.0.2.9|40000";
    open.application = "SMTP";
    const auto file = dir.path() / "mail.log_current";

    SECTION("0: the file only") {
        MailLogFile log(options(0, 0));
        log.write(message);
        CHECK(sent.empty());
        CHECK(lines_of(file).size() == 1);
    }
    SECTION("1: the file and syslog, the same text") {
        MailLogFile log(options(1, 0));
        log.write(message);
        log.write(open);
        REQUIRE(sent.size() == 1);
        auto lines = lines_of(file);
        REQUIRE(lines.size() == 2);
        CHECK(lines[0] == sent[0]);
    }
    SECTION("-1: syslog only; connection records follow their own option") {
        MailLogFile log(options(-1, 1));
        log.write(message);
        log.write(open);
        REQUIRE(sent.size() == 2);
        auto lines = lines_of(file);
        REQUIRE(lines.size() == 1);
        CHECK(lines[0] == sent[1]);
        CHECK(lines[0].find(" O TCP|") != std::string::npos);
    }
}
