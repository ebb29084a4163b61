// The nightly log roll (core/log/log_roll.hpp): what goes where, recovery from
// an interrupted roll, and the roll under concurrent writers in several
// processes and threads: every record exactly once across mail.log,
// mail.log_yesterday and mail.log_current.
#include <catch2/catch.hpp>

#include <csignal>
#include <map>
#include <regex>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "core/log/async_log.hpp"
#include "core/log/log_roll.hpp"
#include "core/log/mail_log_file.hpp"
#include "log_test_support.hpp"

using namespace imta::core::log;
using namespace logtest;

TEST_CASE("the roll appends yesterday to mail.log and makes current the new yesterday", "[log_roll]") {
    TempDir dir;
    const auto& d = dir.path();
    write_file(d / "mail.log", "old 1\n");
    write_file(d / "mail.log_yesterday", "yesterday 1\nyesterday 2\n");
    write_file(d / "mail.log_current", "today 1\n");
    write_file(d / "connection.log_yesterday", "conn yesterday\n");
    write_file(d / "connection.log_current", "conn today\n");

    auto report = roll_logs(d);
    INFO(report.errors.size());
    REQUIRE(report.ok());
    CHECK(contents(d / "mail.log") == "old 1\nyesterday 1\nyesterday 2\n");
    CHECK(contents(d / "mail.log_yesterday") == "today 1\n");
    CHECK(fs::exists(d / "mail.log_current"));
    CHECK(fs::file_size(d / "mail.log_current") == 0);
    CHECK(contents(d / "connection.log") == "conn yesterday\n");
    CHECK(contents(d / "connection.log_yesterday") == "conn today\n");
    CHECK_FALSE(fs::exists(d / ".mail.log.roll"));

    SECTION("the next night appends what was today") {
        write_file(d / "mail.log_current", "tomorrow 1\n");
        REQUIRE(roll_logs(d).ok());
        CHECK(contents(d / "mail.log") == "old 1\nyesterday 1\nyesterday 2\ntoday 1\n");
        CHECK(contents(d / "mail.log_yesterday") == "tomorrow 1\n");
    }
    SECTION("a day without records leaves no yesterday to append twice") {
        fs::remove(d / "mail.log_current");
        REQUIRE(roll_logs(d).ok());
        CHECK_FALSE(fs::exists(d / "mail.log_yesterday"));
        REQUIRE(roll_logs(d).ok());
        CHECK(contents(d / "mail.log") == "old 1\nyesterday 1\nyesterday 2\ntoday 1\n");
    }
}

TEST_CASE("rolling an empty log directory does nothing and fails nothing", "[log_roll]") {
    TempDir dir;
    auto report = roll_logs(dir.path());
    CHECK(report.ok());
    CHECK_FALSE(fs::exists(dir.path() / "mail.log"));
    CHECK_FALSE(fs::exists(dir.path() / "mail.log_current"));
}

TEST_CASE("a roll interrupted after its append is undone and redone, never doubled", "[log_roll]") {
    TempDir dir;
    const auto& d = dir.path();
    write_file(d / "mail.log", "old\n");
    write_file(d / "mail.log_yesterday", "Y1\nY2\n");
    write_file(d / "mail.log_current", "C1\n");
    // What a roll that died after appending (half of) yesterday leaves: the
    // note with mail.log's size before the append and yesterday's identity.
    struct stat ys {};
    REQUIRE(::stat((d / "mail.log_yesterday").c_str(), &ys) == 0);
    write_file(d / ".mail.log.roll", "4 " + std::to_string(ys.st_dev) + " " + std::to_string(ys.st_ino) + "\n");
    write_file(d / "mail.log", "old\nY1\n");

    auto report = roll_log(d, "mail.log");
    REQUIRE(report.ok());
    CHECK(contents(d / "mail.log") == "old\nY1\nY2\n");
    CHECK(contents(d / "mail.log_yesterday") == "C1\n");
    CHECK_FALSE(fs::exists(d / ".mail.log.roll"));
}

TEST_CASE("a roll interrupted after its rename only loses its note", "[log_roll]") {
    TempDir dir;
    const auto& d = dir.path();
    // The append and the rename happened: yesterday is the old current (another file).
    write_file(d / "mail.log", "old\nY1\n");
    write_file(d / "mail.log_yesterday", "C1\n");
    write_file(d / ".mail.log.roll", "4 1 1\n");
    REQUIRE(roll_log(d, "mail.log").ok());
    CHECK(contents(d / "mail.log") == "old\nY1\nC1\n");
    CHECK_FALSE(fs::exists(d / ".mail.log.roll"));
}

namespace {

LogRecord numbered(const std::string& writer, int i) {
    LogRecord r;
    r.code = RecordCode::Dequeue;
    r.source_channel = "tcp_local";
    r.size_bytes = 100;
    r.env_from = "a@example.org";
    r.orig_to = r.active_to = writer + "-" + std::to_string(i) + "@example.net";
    // Some long lines, so that batches need several write(2) calls.
    if (i % 5 == 0) r.diagnostics = {std::string(static_cast<std::size_t>(2000 + (i % 3) * 9000), 'x')};
    return r;
}

// Writers go on until `stop` exists, then leave how many records they wrote
// in `<counts>/<name>`: the roll is sure to happen while they write, however
// fast or slow the machine.
void report_count(const fs::path& counts, const std::string& name, int n) {
    write_file(counts / name, std::to_string(n));
}

// A process writing numbered records through MailLogFile in batches of 1 to 17.
[[noreturn]] void sync_writer(const fs::path& dir, const fs::path& stop, const fs::path& counts,
                              const std::string& name) {
    MailLogFileOptions o;
    o.log_dir = dir;
    MailLogFile log(o);
    int i = 0;
    while (!fs::exists(stop)) {
        std::vector<LogRecord> batch;
        for (int n = 1 + i % 17; n > 0; --n) batch.push_back(numbered(name, i++));
        if (log.write(std::span<const LogRecord>(batch))) ::_exit(3);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    report_count(counts, name, i);
    ::_exit(0);
}

// A process with one AsyncMailLog fed by two threads (the SMTP server's way).
[[noreturn]] void async_writer(const fs::path& dir, const fs::path& stop, const fs::path& counts,
                               const std::string& name) {
    MailLogFileOptions o;
    o.log_dir = dir;
    int written[2] = {0, 0};
    {
        AsyncMailLog log(o, std::chrono::milliseconds(3));
        auto feed = [&](int k, const std::string& tag) {
            int i = 0;
            while (!fs::exists(stop)) {
                for (int n = 0; n < 10; ++n) log.write(numbered(name + tag, i++));
                std::this_thread::sleep_for(std::chrono::microseconds(300));
            }
            written[k] = i;
        };
        std::thread a(feed, 0, "a"), b(feed, 1, "b");
        a.join();
        b.join();
    }  // the destructor writes what is queued
    report_count(counts, name + "a", written[0]);
    report_count(counts, name + "b", written[1]);
    ::_exit(0);
}

}  // namespace

TEST_CASE("records written by several processes and threads during repeated rolls are all kept, once",
          "[log_roll][concurrency]") {
    TempDir dir;
    const auto d = dir.path() / "log";
    const auto counts = dir.path() / "counts";
    const auto stop = dir.path() / "stop";
    fs::create_directories(d);
    fs::create_directories(counts);
    std::vector<pid_t> children;
    const std::vector<std::string> sync_names{"p1", "p2", "p3"};
    for (const auto& name : sync_names) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) sync_writer(d, stop, counts, name);
        children.push_back(pid);
    }
    pid_t async_pid = ::fork();
    REQUIRE(async_pid >= 0);
    if (async_pid == 0) async_writer(d, stop, counts, "t");
    children.push_back(async_pid);

    // Once they are writing, roll over and over, then tell them to stop.
    for (int i = 0; i < 5000 && !fs::exists(d / "mail.log_current"); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // Back to back for a while (not a timing assertion: only how long the
    // writers are given), so that rolls fall inside writers' batches.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
    int rolls = 0;
    while (rolls < 20 || std::chrono::steady_clock::now() < until) {
        auto report = roll_logs(d);
        REQUIRE(report.ok());
        ++rolls;
    }
    write_file(stop, "");
    for (pid_t pid : children) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    REQUIRE(roll_logs(d).ok());  // one more, with nobody writing

    std::map<std::string, int> seen;
    std::size_t lines = 0;
    // Whole lines only: the fixed part of the layout, then the recipient
    // twice and, for some, one diagnostics field of x's.
    const std::regex stamp(R"(^\d\d-[A-Z][a-z][a-z]-\d{4} \d\d:\d\d:\d\d\.\d\d$)");
    const std::string middle = " tcp_local" + std::string(17, ' ') + "D 1 a@example.org rfc822;";
    for (const char* name : {"mail.log", "mail.log_yesterday", "mail.log_current"}) {
        for (const auto& line : lines_of(d / name)) {
            ++lines;
            const bool stamped = line.size() > 23 && std::regex_match(line.substr(0, 23), stamp);
            const bool fixed = stamped && line.compare(23, middle.size(), middle) == 0;
            std::string rest = fixed ? line.substr(23 + middle.size()) : std::string();
            const auto blank = rest.find(' ');
            const std::string to = rest.substr(0, blank);
            std::string tail = blank == std::string::npos ? std::string() : rest.substr(blank + 1);
            bool ok = fixed && !to.empty() && tail.compare(0, to.size(), to) == 0;
            if (ok) {
                tail = tail.substr(to.size());
                ok = tail.empty() || (tail[0] == ' ' && tail.find_first_not_of('x', 1) == std::string::npos);
            }
            if (!ok) {
                FAIL_CHECK("malformed line in " << name << ": " << line.substr(0, 120));
                continue;
            }
            ++seen[to];
        }
    }
    std::size_t expected = 0;
    for (const std::string name : {"p1", "p2", "p3", "ta", "tb"}) {
        const int count = std::stoi(contents(counts / name));
        CHECK(count > 0);
        for (int i = 0; i < count; ++i) {
            const auto key = name + "-" + std::to_string(i) + "@example.net";
            const int n = seen.count(key) ? seen[key] : 0;
            if (n != 1) FAIL_CHECK(key << " appears " << n << " times");
            ++expected;
        }
    }
    CHECK(lines == expected);
    CHECK_FALSE(fs::exists(d / ".mail.log.roll"));
}
