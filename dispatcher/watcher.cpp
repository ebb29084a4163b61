#include "dispatcher/watcher.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <thread>

namespace imta::dispatcher {

namespace {

using Clock = std::chrono::steady_clock;

struct Child {
  const ChildRole* role = nullptr;
  pid_t pid = -1;
  Clock::time_point started{};
  Clock::time_point restart_at{};
  std::chrono::seconds delay{1};  ///< next restart delay; grows while it keeps dying
};

void write_pid_file(const std::filesystem::path& path, pid_t pid) {
  std::ofstream(path, std::ios::trunc) << pid << "\n";
}

pid_t spawn(const ChildRole& role) {
  pid_t pid = ::fork();
  if (pid == 0) {
    // The child gets default dispositions and an empty mask, like a fresh program.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int code = 70;  // EX_SOFTWARE if the role throws
    try {
      code = role.main();
    } catch (...) {
    }
    ::_exit(code);
  }
  return pid;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
  return "stopped";
}

}  // namespace

int run_watcher(const std::vector<ChildRole>& roles, const WatcherOptions& options) {
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  // Signals are taken synchronously with sigtimedwait: no handler runs
  // between fork and the child's own setup.
  sigset_t watched;
  sigemptyset(&watched);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&watched, s);
  ::sigprocmask(SIG_BLOCK, &watched, nullptr);

  write_pid_file(options.run_dir / "imtad.pid", ::getpid());
  std::vector<Child> children;
  for (const auto& r : roles) children.push_back({&r});

  auto start = [&](Child& c) {
    c.pid = spawn(*c.role);
    c.started = Clock::now();
    if (c.pid < 0) {
      log("cannot start " + c.role->name + ": " + std::strerror(errno));
      c.restart_at = Clock::now() + c.delay;
      return;
    }
    write_pid_file(options.run_dir / (c.role->name + ".pid"), c.pid);
    log("started " + c.role->name + " (pid " + std::to_string(c.pid) + ")");
  };
  for (auto& c : children) start(c);

  bool stopping = false;
  Clock::time_point kill_at{};
  for (;;) {
    // Reap every child that ended.
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      for (auto& c : children) {
        if (c.pid != pid) continue;
        c.pid = -1;
        std::error_code ignored;
        std::filesystem::remove(options.run_dir / (c.role->name + ".pid"), ignored);
        if (stopping) {
          log(c.role->name + " " + describe_status(status));
          break;
        }
        // A child that ran a while earns a fresh, short delay; one that dies
        // at once waits longer each time (1, 2, 4 ... max seconds).
        if (Clock::now() - c.started > std::chrono::seconds(60)) c.delay = std::chrono::seconds(1);
        log(c.role->name + " " + describe_status(status) + "; restarting in " + std::to_string(c.delay.count()) + " s");
        c.restart_at = Clock::now() + c.delay;
        c.delay = std::min(c.delay * 2, options.max_restart_delay);
      }
    }
    bool any_running = std::any_of(children.begin(), children.end(), [](const Child& c) { return c.pid > 0; });
    if (stopping && !any_running) break;
    if (stopping && Clock::now() >= kill_at) {
      for (auto& c : children)
        if (c.pid > 0) {
          log(c.role->name + " did not stop in time; killing it");
          ::kill(c.pid, SIGKILL);
        }
    }
    if (!stopping)
      for (auto& c : children)
        if (c.pid < 0 && Clock::now() >= c.restart_at) start(c);

    timespec wait{0, 200'000'000};
    int sig = ::sigtimedwait(&watched, nullptr, &wait);
    if (sig == SIGHUP) {
      log("reload requested");
      for (auto& c : children)
        if (c.pid > 0) ::kill(c.pid, SIGHUP);
    } else if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
      log("stopping");
      stopping = true;
      kill_at = Clock::now() + options.stop_timeout;
      for (auto& c : children)
        if (c.pid > 0) ::kill(c.pid, SIGTERM);
    }
  }
  std::error_code ignored;
  std::filesystem::remove(options.run_dir / "imtad.pid", ignored);
  log("stopped");
  return 0;
}

}  // namespace imta::dispatcher
