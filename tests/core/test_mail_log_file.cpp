// The mail.log writer on real files: where entries go, that concurrent writers
// never tear a line, and that the nightly roll (a rename) is followed.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "core/log/log_time.hpp"
#include "core/log/mail_log_file.hpp"

using namespace imta::core::log;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system's temporary folder, removed afterwards.
class TempDir {
public:
    TempDir() {
        std::string templ = (fs::temp_directory_path() / "imta-log-XXXXXX").string();
        REQUIRE(::mkdtemp(templ.data()) != nullptr);
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::vector<std::string> lines_of(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

std::string contents(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

LogRecord delivered(const std::string& to) {
    LogRecord r;
    r.code = RecordCode::Dequeue;
    r.source_channel = "tcp_local";
    r.size_bytes = 100;
    r.env_from = "a@example.org";
    r.orig_to = to;
    r.active_to = to;
    r.diagnostics = {"smtp;250 2.1.5 OK"};
    return r;
}

LogRecord connection_open() {
    LogRecord r;
    r.code = RecordCode::ConnectionOpen;
    r.source_channel = "tcp_local";
    r.direction = Direction::Inbound;
    r.transport = "TCP|192.0.2.1|25|192.0.2.9|40000";
    r.application = "SMTP";
    return r;
}

// A clock stopped at a known local time, so lines are predictable.
std::chrono::system_clock::time_point fixed_instant() {
    std::tm tm{};
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 10;
    tm.tm_mday = 21;
    tm.tm_hour = 10;
    tm.tm_min = 31;
    tm.tm_sec = 5;
    tm.tm_isdst = -1;
    return std::chrono::system_clock::from_time_t(std::mktime(&tm)) + std::chrono::milliseconds(420);
}

MailLogFileOptions options_for(const fs::path& dir) {
    MailLogFileOptions o;
    o.log_dir = dir;
    o.format.connection = kLogConnectionRecords;
    o.clock = fixed_instant;
    return o;
}

}  // namespace

TEST_CASE("entries are appended to mail.log_current as whole lines, stamped with local time",
          "[mail_log_file]") {
    TempDir dir;
    {
        MailLogFile log(options_for(dir.path()));
        REQUIRE_FALSE(log.write(delivered("b@example.net")));
        std::vector<LogRecord> batch = {delivered("c@example.net"), delivered("d@example.net")};
        REQUIRE_FALSE(log.write(batch));
    }
    const auto text = contents(dir.path() / "mail.log_current");
    CHECK(text ==
          "21-Nov-2026 10:31:05.42 tcp_local                 D 1 a@example.org rfc822;b@example.net "
          "b@example.net smtp;250 2.1.5 OK\n"
          "21-Nov-2026 10:31:05.42 tcp_local                 D 1 a@example.org rfc822;c@example.net "
          "c@example.net smtp;250 2.1.5 OK\n"
          "21-Nov-2026 10:31:05.42 tcp_local                 D 1 a@example.org rfc822;d@example.net "
          "d@example.net smtp;250 2.1.5 OK\n");
    // A second writer appends, never truncates.
    MailLogFile again(options_for(dir.path()));
    REQUIRE_FALSE(again.write(delivered("e@example.net")));
    CHECK(lines_of(dir.path() / "mail.log_current").size() == 4);
}

TEST_CASE("without a clock the writer uses the real one", "[mail_log_file]") {
    TempDir dir;
    auto o = options_for(dir.path());
    o.clock = nullptr;
    const auto before = std::chrono::system_clock::now();
    MailLogFile log(o);
    REQUIRE_FALSE(log.write(delivered("b@example.net")));
    auto lines = lines_of(dir.path() / "mail.log_current");
    REQUIRE(lines.size() == 1);
    auto t = parse_log_time(lines[0].substr(0, 23));
    REQUIRE(t);
    // The same calendar day (taken twice to survive a run across midnight).
    const auto after_day = local_log_time(std::chrono::system_clock::now()).day;
    CHECK((t->day == local_log_time(before).day || t->day == after_day));
}

TEST_CASE("node and process are filled in when the record has none", "[mail_log_file]") {
    TempDir dir;
    auto o = options_for(dir.path());
    o.format.node = true;
    o.format.process = true;
    MailLogFile log(o);
    REQUIRE_FALSE(log.write(delivered("b@example.net")));
    auto line = lines_of(dir.path() / "mail.log_current").at(0);
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    char pid[32];
    std::snprintf(pid, sizeof pid, "%x.0", static_cast<unsigned>(::getpid()));
    CHECK(line.rfind(std::string("21-Nov-2026 10:31:05.42 ") + host + " " + pid + " tcp_local ", 0) == 0);
}

TEST_CASE("connection entries go to connection.log_current only with SEPARATE_CONNECTION_LOG=1",
          "[mail_log_file]") {
    SECTION("together") {
        TempDir dir;
        MailLogFile log(options_for(dir.path()));
        REQUIRE_FALSE(log.write(connection_open()));
        REQUIRE_FALSE(log.write(delivered("b@example.net")));
        CHECK(lines_of(dir.path() / "mail.log_current").size() == 2);
        CHECK_FALSE(fs::exists(dir.path() / "connection.log_current"));
    }
    SECTION("separate") {
        TempDir dir;
        auto o = options_for(dir.path());
        o.separate_connection_log = true;
        MailLogFile log(o);
        CHECK(log.path_for(RecordCode::ConnectionOpen) == dir.path() / "connection.log_current");
        CHECK(log.path_for(RecordCode::Dequeue) == dir.path() / "mail.log_current");
        std::vector<LogRecord> batch = {connection_open(), delivered("b@example.net"), connection_open()};
        REQUIRE_FALSE(log.write(batch));
        auto conn = lines_of(dir.path() / "connection.log_current");
        auto mail = lines_of(dir.path() / "mail.log_current");
        REQUIRE(conn.size() == 2);
        REQUIRE(mail.size() == 1);
        CHECK(conn[0].find(" O TCP|192.0.2.1|25|192.0.2.9|40000 SMTP") != std::string::npos);
        CHECK(mail[0].find(" D 1 ") != std::string::npos);
    }
    SECTION("not logged at all without LOG_CONNECTION bit 2") {
        TempDir dir;
        auto o = options_for(dir.path());
        o.format.connection = 0;
        MailLogFile log(o);
        REQUIRE_FALSE(log.write(connection_open()));
        CHECK_FALSE(fs::exists(dir.path() / "mail.log_current"));
    }
}

TEST_CASE("a missing log directory is created", "[mail_log_file]") {
    TempDir dir;
    MailLogFile log(options_for(dir.path() / "log"));
    REQUIRE_FALSE(log.write(delivered("b@example.net")));
    CHECK(lines_of(dir.path() / "log" / "mail.log_current").size() == 1);
}

TEST_CASE("an unwritable log reports an error instead of losing it silently", "[mail_log_file]") {
    TempDir dir;
    // A directory where the file should be: open(2) fails whoever we run as.
    fs::create_directories(dir.path() / "mail.log_current");
    MailLogFile log(options_for(dir.path()));
    CHECK(log.write(delivered("b@example.net")));
}

TEST_CASE("after the roll renames the file away, the writer starts a new mail.log_current",
          "[mail_log_file]") {
    TempDir dir;
    MailLogFile log(options_for(dir.path()));
    REQUIRE_FALSE(log.write(delivered("before@example.net")));
    fs::rename(dir.path() / "mail.log_current", dir.path() / "mail.log_yesterday");
    REQUIRE_FALSE(log.write(delivered("after@example.net")));
    auto yesterday = lines_of(dir.path() / "mail.log_yesterday");
    auto current = lines_of(dir.path() / "mail.log_current");
    REQUIRE(yesterday.size() == 1);
    REQUIRE(current.size() == 1);
    CHECK(yesterday[0].find("before@example.net") != std::string::npos);
    CHECK(current[0].find("after@example.net") != std::string::npos);

    // Also when something else already created the new file.
    fs::rename(dir.path() / "mail.log_current", dir.path() / "mail.log_yesterday");
    std::ofstream(dir.path() / "mail.log_current") << "";
    REQUIRE_FALSE(log.write(delivered("third@example.net")));
    current = lines_of(dir.path() / "mail.log_current");
    REQUIRE(current.size() == 1);
    CHECK(current[0].find("third@example.net") != std::string::npos);
}

TEST_CASE("two processes writing at once, with a roll in between, never tear a line",
          "[mail_log_file]") {
    TempDir dir;
    constexpr int kLines = 3000;
    // Long diagnostics (several KiB) make torn or interleaved lines likely if
    // the writer ever split a line over two write(2) calls.
    auto child = [&](char tag) {
        MailLogFile log(options_for(dir.path()));
        for (int i = 0; i < kLines; ++i) {
            auto r = delivered(std::string(1, tag) + std::to_string(i) + "@example.net");
            r.diagnostics = {std::string(static_cast<std::size_t>(1000 + (i % 7) * 1000), tag)};
            if (log.write(r)) ::_exit(3);
        }
        ::_exit(0);
    };
    std::vector<pid_t> children;
    for (char tag : {'x', 'y'}) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) child(tag);
        children.push_back(pid);
    }
    // Roll while they write: wait until the file has something, then rename it.
    const auto current = dir.path() / "mail.log_current";
    for (int i = 0; i < 2000 && !(fs::exists(current) && fs::file_size(current) > 0); ++i) ::usleep(1000);
    std::error_code rename_error;
    fs::rename(current, dir.path() / "mail.log_yesterday", rename_error);
    for (pid_t pid : children) {
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }

    std::map<std::string, int> seen;
    std::size_t total = 0;
    for (const char* name : {"mail.log_yesterday", "mail.log_current"}) {
        for (const auto& line : lines_of(dir.path() / name)) {
            ++total;
            // Every line is exactly what one record produces: one address, and
            // a diagnostic of a single repeated letter matching it.
            const auto at = line.find("rfc822;");
            REQUIRE(at != std::string::npos);
            const char tag = line[at + 7];
            const auto addr_end = line.find('@', at);
            const int i = std::stoi(line.substr(at + 8, addr_end - at - 8));
            const std::string address = std::string(1, tag) + std::to_string(i) + "@example.net";
            const std::string expected_tail = address + " " + address + " " +
                                              std::string(static_cast<std::size_t>(1000 + (i % 7) * 1000), tag);
            INFO(name << ": " << line.substr(0, 200));
            REQUIRE(line.size() >= expected_tail.size());
            CHECK(line.compare(line.size() - expected_tail.size(), expected_tail.size(), expected_tail) == 0);
            ++seen[address];
        }
    }
    CHECK(total == 2u * kLines);
    CHECK(seen.size() == 2u * kLines);
    if (!rename_error) CHECK(fs::exists(dir.path() / "mail.log_yesterday"));
}
