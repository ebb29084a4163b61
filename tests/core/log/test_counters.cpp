// Per-channel counters (core/log/counters.hpp) on a real database: traffic in
// and out, failures, the queue depth, persistence and -clear.
#include <catch2/catch.hpp>

#include "core/log/counters.hpp"
#include "core/log/mail_log_file.hpp"
#include "log_test_support.hpp"

using namespace imta::core::log;
using namespace logtest;

namespace {

LogRecord rec(RecordCode code, const std::string& source, const std::string& dest, const std::string& to,
              const std::string& file) {
    return message_record(code, source, dest, to, file, "<c@example.org>");
}

ChannelCounters channel_of(const fs::path& db, const std::string& name) {
    auto all = read_counters(db, name);
    REQUIRE(all.size() == 1);
    return all[0];
}

}  // namespace

TEST_CASE("counters follow messages in, out, failed, deferred and still queued", "[counters]") {
    TempDir dir;
    const auto db = dir.path() / "counters.sqlite";
    std::vector<std::string> problems;
    auto note = [&](const std::string& p) { problems.push_back(p); };
    {
        CountersDb c(db, 1024, note);
        // A message of 2048 bytes for two local recipients, one for a remote one
        // (tcp_local), written as one batch; then a J.
        c.add(rec(RecordCode::Enqueue, "tcp_local", "l", "a@x.test", "/q/l/ZZ01M1.00"));
        c.add(rec(RecordCode::Enqueue, "tcp_local", "l", "b@x.test", "/q/l/ZZ01M1.00"));
        c.add(rec(RecordCode::Enqueue, "tcp_local", "tcp_local", "r@y.test", "/q/tcp_local/ZZ01M1.00"));
        c.add(rec(RecordCode::Refused, "tcp_local", "", "nope@z.test", ""));
        c.commit(utc());
        // l delivers a and defers b; tcp_local bounces r.
        c.add(rec(RecordCode::Dequeue, "l", "", "a@x.test", "/q/l/ZZ01M1.00"));
        c.add(rec(RecordCode::PartialRequeue, "l", "", "b@x.test", "/q/l/ZZ01M1.00"));
        c.add(rec(RecordCode::Return, "tcp_local", "", "r@y.test", "/q/tcp_local/ZZ01M1.00"));
        c.commit(utc(10));
    }
    REQUIRE(problems.empty());
    auto l = channel_of(db, "l");
    CHECK(l.messages_in == 1);
    CHECK(l.recipients_in == 2);
    CHECK(l.blocks_in == 2);
    CHECK(l.messages_out == 1);
    CHECK(l.recipients_out == 1);
    CHECK(l.blocks_out == 2);
    CHECK(l.deferred == 1);
    CHECK(l.queued_messages == 1);
    CHECK(l.queued_recipients == 1);
    auto tcp = channel_of(db, "tcp_local");
    CHECK(tcp.messages_in == 1);
    CHECK(tcp.recipients_in == 1);
    CHECK(tcp.failed == 1);
    CHECK(tcp.rejected == 1);
    CHECK(tcp.queued_messages == 0);
    CHECK(tcp.queued_recipients == 0);

    SECTION("kept across restarts: a new writer adds to them") {
        CountersDb c(db, 1024, note);
        c.add(rec(RecordCode::Dequeue, "l", "", "b@x.test", "/q/l/ZY01M1.00"));
        c.commit(utc(20));
        auto again = channel_of(db, "l");
        CHECK(again.recipients_out == 2);
        CHECK(again.queued_messages == 0);
        CHECK(again.queued_recipients == 0);
    }
    SECTION("-clear zeroes the traffic, not the queue") {
        clear_counters(db, std::string("l"), utc(30));
        auto cleared = channel_of(db, "l");
        CHECK(cleared.messages_in == 0);
        CHECK(cleared.recipients_out == 0);
        CHECK(cleared.deferred == 0);
        CHECK(cleared.queued_recipients == 1);
        CHECK(cleared.since == std::chrono::duration_cast<std::chrono::seconds>(utc(30).time_since_epoch()).count());
        CHECK(channel_of(db, "tcp_local").rejected == 1);  // other channels untouched
        clear_counters(db, std::nullopt, utc(40));
        CHECK(channel_of(db, "tcp_local").rejected == 0);
    }
}

TEST_CASE("a message enqueued and delivered within one batch counts in and out", "[counters]") {
    TempDir dir;
    const auto db = dir.path() / "counters.sqlite";
    CountersDb c(db, 1024, nullptr);
    c.add(rec(RecordCode::Enqueue, "tcp_local", "l", "a@x.test", "/q/l/ZZ01F1.00"));
    c.add(rec(RecordCode::Dequeue, "l", "", "a@x.test", "/q/l/ZZ01F1.00"));
    c.commit(utc());
    auto l = channel_of(db, "l");
    CHECK(l.messages_in == 1);
    CHECK(l.messages_out == 1);
    CHECK(l.queued_messages == 0);
}

TEST_CASE("a delivery of a file enqueued before counting began does not go below zero", "[counters]") {
    TempDir dir;
    const auto db = dir.path() / "counters.sqlite";
    CountersDb c(db, 1024, nullptr);
    c.add(rec(RecordCode::Dequeue, "l", "", "a@x.test", "/q/l/ZZ01OLD.00"));
    c.commit(utc());
    auto l = channel_of(db, "l");
    CHECK(l.recipients_out == 1);
    CHECK(l.queued_messages == 0);
    CHECK(l.queued_recipients == 0);
}

TEST_CASE("a D applied before its E (two processes' commits) leaves nothing queued", "[counters]") {
    TempDir dir;
    const auto db = dir.path() / "counters.sqlite";
    {
        CountersDb c(db, 1024, nullptr);
        // The job controller's D for a, committed first; then the dispatcher's
        // E records for a and b (one file).
        c.add(rec(RecordCode::Dequeue, "l", "", "a@x.test", "/q/l/ZZ01E1.00"));
        c.commit(utc());
        c.add(rec(RecordCode::Enqueue, "tcp_local", "l", "a@x.test", "/q/l/ZZ01E1.00"));
        c.add(rec(RecordCode::Enqueue, "tcp_local", "l", "b@x.test", "/q/l/ZZ01E1.00"));
        c.commit(utc(1));
    }
    auto l = channel_of(db, "l");
    CHECK(l.messages_in == 1);
    CHECK(l.recipients_in == 2);
    CHECK(l.messages_out == 1);
    CHECK(l.queued_messages == 1);
    CHECK(l.queued_recipients == 1);  // b only
    {
        CountersDb c(db, 1024, nullptr);
        c.add(rec(RecordCode::Dequeue, "l", "", "b@x.test", "/q/l/ZZ01E1.00"));
        c.commit(utc(2));
    }
    l = channel_of(db, "l");
    CHECK(l.queued_recipients == 0);
    CHECK(l.messages_in == 1);
}

TEST_CASE("the log writer keeps counters with LOG_COUNTERS and BLOCK_SIZE", "[counters]") {
    TempDir dir;
    MailLogFileOptions o;
    o.log_dir = dir.path() / "log";
    o.format.counters = true;
    o.format.block_size = 512;
    {
        MailLogFile log(o);
        log.write(rec(RecordCode::Enqueue, "tcp_local", "l", "a@x.test", "/q/l/ZZ01G1.00"));
    }
    auto l = channel_of(dir.path() / "db" / "counters.sqlite", "l");
    CHECK(l.blocks_in == 4);  // 2048 bytes in 512-byte blocks
    CHECK(l.queued_messages == 1);
}
