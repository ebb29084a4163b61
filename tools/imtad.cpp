// imtad -- the MTA daemon. The watcher process starts the dispatcher and the
// job controller as child processes, independent of each other, restarts a
// child that dies, forwards SIGHUP (reload) and SIGTERM (graceful stop).
//
//   imtad [--root DIR] [--foreground]
//
// In the foreground it logs to stderr; otherwise it detaches and logs to
// log/imtad.log. Either way it writes run/imtad.pid, run/<child>.pid, and
// the dispatcher writes run/dispatcher.status (the addresses it listens on);
// the job controller listens on run/job_controller.sock (enqueue
// notifications) and run/job_controller.ctl (imta cache, imta qm jobs).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "channels/masters.hpp"
#include "channels/tcp/smtp_server.hpp"
#include "config/snapshot.hpp"
#include "core/atomic_file.hpp"
#include "core/instance.hpp"
#include "dispatcher/dispatcher.hpp"
#include "dispatcher/watcher.hpp"
#include "queue/job_daemon.hpp"

namespace {

using namespace imta;

/// "2026-11-21 10:31:05 imtad[123] text" lines on stderr (a file when detached).
void log_line(const std::string& text) {
  static std::mutex mutex;
  std::time_t now = std::time(nullptr);
  // localtime_r: the threads of a process log at the same time, and
  // localtime's one static result would be shared between them.
  std::tm local{};
  ::localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &local);
  std::lock_guard lock(mutex);
  std::cerr << stamp << " imtad[" << ::getpid() << "] " << text << std::endl;
}

int run_dispatcher(const core::Instance& instance) {
  std::shared_ptr<const config::Snapshot> snapshot;
  try {
    snapshot = std::make_shared<const config::Snapshot>(config::load_image(instance.image_path()));
  } catch (const std::exception& e) {
    log_line(std::string("dispatcher: ") + e.what());
    return 78;  // EX_CONFIG
  }
  try {
    channels::tcp::SmtpServer smtp(instance, snapshot);
    dispatcher::DispatcherOptions options;
    options.start_session = [&smtp](dispatcher::Connection c) { smtp.start(std::move(c)); };
    options.log = [](const std::string& s) { log_line("dispatcher: " + s); };
    options.reload = [&instance, &smtp] {
      auto fresh = std::make_shared<const config::Snapshot>(config::load_image(instance.image_path()));
      smtp.reload(fresh);
      return fresh;
    };
    options.status = [&instance](int connections) {
      std::ofstream(instance.run_dir() / "dispatcher.connections", std::ios::trunc) << connections << "\n";
    };
    options.refused = [](const dispatcher::Refusal& r) {
      log_line("dispatcher: refused " + r.remote_ip + ":" + std::to_string(r.remote_port) + " on " + r.service +
               ": " + r.reason);
    };
    dispatcher::Dispatcher dispatcher(snapshot, options);
    std::string status;
    for (const auto& ep : dispatcher.bind()) {
      status += ep.service + " " + ep.address + " " + std::to_string(ep.port) + "\n";
      log_line("dispatcher: " + ep.service + " listening on " + ep.address + " port " + std::to_string(ep.port));
    }
    core::write_file_atomic(instance.run_dir() / "dispatcher.status", status);
    dispatcher.run();
    std::error_code ignored;
    std::filesystem::remove(instance.run_dir() / "dispatcher.status", ignored);
    return 0;
  } catch (const std::exception& e) {
    log_line(std::string("dispatcher: ") + e.what());
    return 71;  // EX_OSERR: the watcher restarts it after a delay
  }
}

/// The job controller: the queue cache and the delivery jobs, with the
/// masters of every channel this build has.
int run_job_controller(const core::Instance& instance) {
  queue::JobDaemonOptions options;
  options.instance = instance;
  options.factory = channels::master_factory();
  options.log = log_line;
  return queue::run_job_daemon(options);
}

/// Detaches from the terminal: a new session, stdio to the log file.
bool daemonize(const core::Instance& instance) {
  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid > 0) ::_exit(0);
  ::setsid();
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  auto log_path = instance.log_dir() / "imtad.log";
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (null_fd < 0 || log_fd < 0) return false;
  ::dup2(null_fd, 0);
  ::dup2(log_fd, 1);
  ::dup2(log_fd, 2);
  ::close(null_fd);
  ::close(log_fd);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> root;
  bool foreground = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--root" || arg == "-root") && i + 1 < argc) root = argv[++i];
    else if (arg.starts_with("--root=")) root = arg.substr(7);
    else if (arg == "--foreground" || arg == "-f") foreground = true;
    else {
      std::cerr << "usage: imtad [--root DIR] [--foreground]\n";
      return 2;
    }
  }
  auto located = core::Instance::locate(root);
  // Absolute, so the paths in log entries and notifications mean the same
  // to every process, whatever its working directory.
  std::error_code ec;
  auto absolute = std::filesystem::absolute(located.root(), ec);
  const core::Instance instance(ec ? located.root() : absolute.lexically_normal());
  if (auto problem = instance.problem(); !problem.empty()) {
    std::cerr << "imtad: " << problem << "\n";
    return 1;
  }
  try {  // refuse to start on a missing or stale image rather than in the child
    config::load_image(instance.image_path());
  } catch (const std::exception& e) {
    std::cerr << "imtad: " << e.what() << "\n";
    return 1;
  }
  if (pid_t pid = instance.running_pid("imtad")) {
    std::cerr << "imtad: already running (pid " << pid << ")\n";
    return 1;
  }
  if (!foreground && !daemonize(instance)) {
    std::cerr << "imtad: cannot detach\n";
    return 1;
  }
  dispatcher::WatcherOptions options;
  options.run_dir = instance.run_dir();
  options.log = log_line;
  std::vector<dispatcher::ChildRole> roles{{"dispatcher", [&instance] { return run_dispatcher(instance); }},
                                           {"job_controller", [&instance] { return run_job_controller(instance); }}};
  return dispatcher::run_watcher(roles, options);
}
