// The daily_cleanup hook; see daily_cleanup.hpp.
#include "core/log/daily_cleanup.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "core/fd.hpp"
#include "core/log/log_time.hpp"
#include "core/log/mail_log.hpp"

extern char** environ;

namespace imta::core::log {
namespace {

namespace fs = std::filesystem;
using Status = DailyCleanupResult::Status;

void note(int fd, const std::string& text) {
    if (fd < 0) return;
    std::string line = format_log_time(local_log_time(std::chrono::system_clock::now())) + " daily_cleanup: " + text + "\n";
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
}

// Waits up to `limit` for `pid` to end; true and its status if it did.
bool wait_for(pid_t pid, std::chrono::milliseconds limit, int& status) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd >= 0) {
        Fd owned(pidfd);
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() < 0) left = std::chrono::milliseconds(0);
            pollfd p{pidfd, POLLIN, 0};
            const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 60'000)));
            if (n < 0 && errno == EINTR) continue;
            if (n > 0) break;
            if (std::chrono::steady_clock::now() >= deadline) return false;
        }
    }
    // Reap it (at once when the pidfd said it ended; otherwise poll slowly).
    for (;;) {
        const pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return true;
        if (r < 0 && errno != EINTR) {
            status = 0;
            return true;  // already reaped by someone else: nothing to wait for
        }
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

std::vector<std::string> environment_with_root(const fs::path& root) {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e)
        if (std::strncmp(*e, "IMTA_ROOT=", 10) != 0) env.emplace_back(*e);
    env.push_back("IMTA_ROOT=" + root.string());
    return env;
}

}  // namespace

DailyCleanupResult run_daily_cleanup(const DailyCleanupOptions& options) {
    DailyCleanupResult result;
    const fs::path program = options.program.empty() ? options.root / "bin" / "daily_cleanup" : options.program;
    const fs::path output = options.output.empty() ? options.root / "log" / "return.log" : options.output;

    struct stat st {};
    if (::stat(program.c_str(), &st) != 0) return result;  // no hook: the usual case
    std::error_code ignored;
    fs::create_directories(output.parent_path(), ignored);
    Fd log(::open(output.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
    auto finish = [&](Status status, int code, std::string summary) {
        result.status = status;
        result.exit_code = code;
        result.summary = std::move(summary);
        note(log.get(), result.summary);
        return result;
    };
    if (!S_ISREG(st.st_mode) || ::access(program.c_str(), X_OK) != 0) {
        result.summary = program.string() + " is not an executable file: not run";
        note(log.get(), result.summary);
        return result;
    }

    // Everything the child needs is built before posix_spawn: nothing is
    // allocated between fork and exec in this (threaded) process.
    const std::string path = program.string();
    std::vector<std::string> env = environment_with_root(options.root);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string arg0 = path;
    char* argv[] = {arg0.data(), nullptr};

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const int out = log.get() >= 0 ? log.get() : -1;
    if (out >= 0) {
        posix_spawn_file_actions_adddup2(&actions, out, 1);
        posix_spawn_file_actions_adddup2(&actions, out, 2);
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    }
    posix_spawn_file_actions_addchdir_np(&actions, options.root.c_str());
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    // Its own process group (so the timeout can end everything it started),
    // no blocked signals and default dispositions: the job controller blocks
    // SIGTERM and friends to read them from a signalfd.
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&defaults, s);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    note(log.get(), "running " + path + " (time limit " + std::to_string(options.timeout.count()) + " s)");
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, path.c_str(), &actions, &attr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return finish(Status::failed, 0, "cannot run " + path + ": " + std::strerror(rc));

    int status = 0;
    if (!wait_for(pid, options.timeout, status)) {
        ::kill(-pid, SIGTERM);
        if (!wait_for(pid, options.grace, status)) {
            ::kill(-pid, SIGKILL);
            wait_for(pid, std::chrono::hours(1), status);
        }
        // Whatever it left running in its group goes too.
        ::kill(-pid, SIGKILL);
        return finish(Status::timed_out, 0,
                      "timed out after " + std::to_string(options.timeout.count()) + " s: process group killed");
    }
    if (WIFSIGNALED(status))
        return finish(Status::signalled, WTERMSIG(status),
                      "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")");
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    return finish(Status::exited, code,
                  code == 0 ? std::string("finished (exit status 0)") : "failed (exit status " + std::to_string(code) + ")");
}

}  // namespace imta::core::log
