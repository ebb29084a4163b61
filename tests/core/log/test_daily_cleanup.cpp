// The site's bin/daily_cleanup hook (core/log/daily_cleanup.hpp), with real
// shell scripts: where it runs, what it sees, where its output goes, and that
// a failure or a hang is reported and ended, never fatal.
#include <catch2/catch.hpp>

#include <csignal>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "core/log/daily_cleanup.hpp"
#include "log_test_support.hpp"

using namespace imta::core::log;
using namespace logtest;

namespace {

void hook(const fs::path& root, const std::string& script, mode_t mode = 0755) {
    fs::create_directories(root / "bin");
    write_file(root / "bin" / "daily_cleanup", "#!/bin/sh\n" + script);
    REQUIRE(::chmod((root / "bin" / "daily_cleanup").c_str(), mode) == 0);
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

}  // namespace

TEST_CASE("no hook, nothing run, nothing logged", "[daily_cleanup]") {
    TempDir root;
    auto r = run_daily_cleanup({.root = root.path()});
    CHECK(r.status == DailyCleanupResult::Status::absent);
    CHECK(r.ok());
    CHECK_FALSE(fs::exists(root.path() / "log" / "return.log"));
}

TEST_CASE("a hook that is not executable is noted and not run", "[daily_cleanup]") {
    TempDir root;
    hook(root.path(), "touch ran\n", 0644);
    auto r = run_daily_cleanup({.root = root.path()});
    CHECK(r.status == DailyCleanupResult::Status::absent);
    CHECK_FALSE(fs::exists(root.path() / "ran"));
    CHECK(contents(root.path() / "log" / "return.log").find("is not an executable file: not run") !=
          std::string::npos);
}

TEST_CASE("the hook runs in the instance root with IMTA_ROOT set, its output in log/return.log",
          "[daily_cleanup]") {
    TempDir root;
    fs::create_directories(root.path() / "log");
    write_file(root.path() / "log" / "return.log", "earlier lines\n");
    ::setenv("IMTA_ROOT", "/somewhere/else", 1);
    hook(root.path(),
         "echo \"cwd=$(pwd)\"\n"
         "echo \"root=$IMTA_ROOT\"\n"
         "echo oops >&2\n"
         "read line && echo \"stdin=$line\"\n"
         "exit 0\n");
    auto r = run_daily_cleanup({.root = root.path()});
    ::unsetenv("IMTA_ROOT");
    CHECK(r.status == DailyCleanupResult::Status::exited);
    CHECK(r.ok());
    const auto out = contents(root.path() / "log" / "return.log");
    INFO(out);
    CHECK(out.rfind("earlier lines\n", 0) == 0);  // appended, not replaced
    const auto real = fs::canonical(root.path()).string();
    CHECK(out.find("cwd=" + real + "\n") != std::string::npos);
    CHECK(out.find("root=" + root.path().string() + "\n") != std::string::npos);
    CHECK(out.find("oops\n") != std::string::npos);
    CHECK(out.find("stdin=") == std::string::npos);  // standard input is /dev/null
    CHECK(out.find("daily_cleanup: running " + (root.path() / "bin" / "daily_cleanup").string()) !=
          std::string::npos);
    CHECK(out.find("daily_cleanup: finished (exit status 0)") != std::string::npos);
}

TEST_CASE("a failing hook is reported with its exit status", "[daily_cleanup]") {
    TempDir root;
    hook(root.path(), "echo failing; exit 3\n");
    auto r = run_daily_cleanup({.root = root.path()});
    CHECK(r.status == DailyCleanupResult::Status::exited);
    CHECK(r.exit_code == 3);
    CHECK_FALSE(r.ok());
    CHECK(contents(root.path() / "log" / "return.log").find("daily_cleanup: failed (exit status 3)") !=
          std::string::npos);
}

TEST_CASE("a hook over its time limit is killed with everything it started", "[daily_cleanup]") {
    TempDir root;
    // It starts a background child that would outlive it, notes both pids, hangs.
    hook(root.path(),
         "sleep 300 &\n"
         "echo $! > child.pid\n"
         "echo $$ > hook.pid\n"
         "trap '' TERM\n"  // ignores SIGTERM: only SIGKILL ends it
         "while :; do sleep 1; done\n");
    auto r = run_daily_cleanup({.root = root.path(), .timeout = std::chrono::seconds(1),
                                .grace = std::chrono::seconds(1)});
    CHECK(r.status == DailyCleanupResult::Status::timed_out);
    CHECK_FALSE(r.ok());
    CHECK(contents(root.path() / "log" / "return.log").find("daily_cleanup: timed out after 1 s") !=
          std::string::npos);
    const pid_t child = std::stoi(contents(root.path() / "child.pid"));
    const pid_t parent = std::stoi(contents(root.path() / "hook.pid"));
    // Killed processes vanish once reaped (the hook by us; its child, orphaned,
    // by init): wait for that rather than assuming a time.
    for (int i = 0; i < 500 && (alive(child) || alive(parent)); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK_FALSE(alive(parent));
    CHECK_FALSE(alive(child));
}
