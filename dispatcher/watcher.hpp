// The watcher (imtad's parent process): runs each child role (the dispatcher,
// later the job controller) in its own process, restarts a child that dies
// (with a growing delay, logged), forwards SIGHUP (reload) to every child and
// SIGTERM/SIGINT (graceful stop) to every child, then waits for them. A crash
// in one child never takes the others down.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace imta::dispatcher {

struct ChildRole {
  std::string name;           ///< "dispatcher", "job_controller"
  std::function<int()> main;  ///< runs in the forked child; its return value is the exit code
};

struct WatcherOptions {
  std::filesystem::path run_dir;               ///< pid files: imtad.pid, <role>.pid
  std::function<void(const std::string&)> log;  ///< one line per event
  std::chrono::seconds max_restart_delay{60};
  std::chrono::seconds stop_timeout{60};        ///< then SIGKILL
};

/// Runs the roles until SIGTERM/SIGINT; returns the watcher's exit code.
int run_watcher(const std::vector<ChildRole>& roles, const WatcherOptions& options);

}  // namespace imta::dispatcher
