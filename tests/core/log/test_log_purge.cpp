// imta purge's rules (core/log/log_purge.hpp): which files are log versions,
// keeping the newest N, removing by age, on real files.
#include <catch2/catch.hpp>

#include <sys/time.h>

#include "core/log/log_purge.hpp"
#include "log_test_support.hpp"

using namespace imta::core::log;
using namespace logtest;

TEST_CASE("which file names are versions of which log", "[purge]") {
    CHECK(log_version_group("tcp_local_master.log-01ABC") == "tcp_local_master.log");
    CHECK(log_version_group("dispatcher.log-2") == "dispatcher.log");
    CHECK(log_version_group("return.log-20261121") == "return.log");
    CHECK_FALSE(log_version_group("mail.log"));
    CHECK_FALSE(log_version_group("mail.log_current"));
    CHECK_FALSE(log_version_group("mail.log_yesterday"));
    CHECK_FALSE(log_version_group("connection.log_current"));
    CHECK_FALSE(log_version_group("return.log"));
    CHECK_FALSE(log_version_group("dispatcher.log-"));
    CHECK_FALSE(log_version_group(".roll.lock"));
    CHECK_FALSE(log_version_group(".x.log-1"));
    CHECK_FALSE(log_version_group("notes.txt"));
}

TEST_CASE("keep the newest N of each log, or remove by age", "[purge]") {
    std::vector<LogVersion> v;
    for (int i = 0; i < 7; ++i) v.push_back({"a.log-" + std::to_string(i), 1000 + i * 100});
    v.push_back({"b.log-1", 100});
    v.push_back({"mail.log_current", 0});

    SECTION("the default keeps five") {
        CHECK(versions_to_purge(v, {}, 2000) == std::vector<std::string>{"a.log-0", "a.log-1"});
    }
    SECTION("-num=1") {
        CHECK(versions_to_purge(v, {.keep_newest = 1}, 2000) ==
              std::vector<std::string>{"a.log-0", "a.log-1", "a.log-2", "a.log-3", "a.log-4", "a.log-5"});
    }
    SECTION("-num=0 removes every version") {
        CHECK(versions_to_purge(v, {.keep_newest = 0}, 2000).size() == 8);
    }
    SECTION("by age") {
        CHECK(versions_to_purge(v, {.older_than = 700}, 2000) ==
              std::vector<std::string>{"a.log-0", "a.log-1", "a.log-2", "b.log-1"});
    }
    SECTION("equal times: the greater name is the newer") {
        std::vector<LogVersion> same{{"c.log-1", 5}, {"c.log-3", 5}, {"c.log-2", 5}};
        CHECK(versions_to_purge(same, {.keep_newest = 1}, 10) == std::vector<std::string>{"c.log-1", "c.log-2"});
    }
}

TEST_CASE("purge removes files in the log directory and nothing else", "[purge]") {
    TempDir dir;
    const auto& d = dir.path();
    auto make = [&](const std::string& name, int age_hours) {
        write_file(d / name, "x\n");
        struct timeval times[2];
        ::gettimeofday(&times[0], nullptr);
        times[0].tv_sec -= age_hours * 3600;
        times[1] = times[0];
        REQUIRE(::utimes((d / name).c_str(), times) == 0);
    };
    make("tcp_local_master.log-1", 50);
    make("tcp_local_master.log-2", 30);
    make("tcp_local_master.log-3", 1);
    make("dispatcher.log-1", 50);
    make("mail.log", 500);
    make("mail.log_yesterday", 500);
    make(".roll.lock", 500);
    fs::create_directories(d / "old.log-dir");

    SECTION("dry run") {
        auto r = purge_log_versions(d, {.older_than = 24 * 3600}, "*", true);
        CHECK(r.removed == std::vector<std::string>{"dispatcher.log-1", "tcp_local_master.log-1",
                                                     "tcp_local_master.log-2"});
        CHECK(fs::exists(d / "dispatcher.log-1"));
    }
    SECTION("by age with a pattern") {
        auto r = purge_log_versions(d, {.older_than = 24 * 3600}, "tcp_*");
        CHECK(r.errors.empty());
        CHECK(r.removed == std::vector<std::string>{"tcp_local_master.log-1", "tcp_local_master.log-2"});
        CHECK_FALSE(fs::exists(d / "tcp_local_master.log-1"));
        CHECK(fs::exists(d / "tcp_local_master.log-3"));
        CHECK(fs::exists(d / "dispatcher.log-1"));
    }
    SECTION("keep one") {
        auto r = purge_log_versions(d, {.keep_newest = 1});
        CHECK(r.removed == std::vector<std::string>{"tcp_local_master.log-1", "tcp_local_master.log-2"});
        CHECK(fs::exists(d / "dispatcher.log-1"));
    }
    CHECK(fs::exists(d / "mail.log"));
    CHECK(fs::exists(d / "mail.log_yesterday"));
    CHECK(fs::exists(d / ".roll.lock"));
    CHECK(fs::is_directory(d / "old.log-dir"));
}
