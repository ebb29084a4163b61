// imta start | stop | restart | reload | process -- drive imtad through its
// pid files and signals, the way imsimta start/stop/restart/refresh did.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "queue/job_control.hpp"
#include "tools/command_line.hpp"

namespace imta::tools {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// imtad lives next to imta (same build or install directory).
fs::path imtad_path() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  auto next = self.parent_path() / "imtad";
  return fs::exists(next, ec) ? next : fs::path("imtad");
}

template <typename Pred>
bool wait_for(Pred done, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

int start(const core::Instance& instance) {
  if (pid_t pid = instance.running_pid("imtad")) {
    std::cerr << "imta start: imtad is already running (pid " << pid << ")\n";
    return exit_failure;
  }
  std::error_code ec;
  fs::remove(instance.run_dir() / "dispatcher.status", ec);
  pid_t child = ::fork();
  if (child == 0) {
    auto path = imtad_path();
    auto root = instance.root().string();
    ::execl(path.c_str(), "imtad", "--root", root.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);  // imtad detaches: its first process exits at once
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "imta start: imtad failed to start (see " << (instance.log_dir() / "imtad.log").string() << ")\n";
    return exit_failure;
  }
  // Ready when the dispatcher has bound its ports.
  if (!wait_for([&] { return fs::exists(instance.run_dir() / "dispatcher.status"); }, 10s)) {
    std::cerr << "imta start: the dispatcher did not come up within 10 s (see "
              << (instance.log_dir() / "imtad.log").string() << ")\n";
    return exit_failure;
  }
  std::cout << "imtad started (pid " << instance.running_pid("imtad") << ")\n";
  return exit_ok;
}

int stop(const core::Instance& instance) {
  pid_t pid = instance.running_pid("imtad");
  if (!pid) {
    std::cerr << "imta stop: imtad is not running\n";
    return exit_failure;
  }
  ::kill(pid, SIGTERM);
  if (!wait_for([&] { return ::kill(pid, 0) != 0; }, 90s)) {
    std::cerr << "imta stop: imtad (pid " << pid << ") did not stop within 90 s\n";
    return exit_failure;
  }
  std::cout << "imtad stopped\n";
  return exit_ok;
}

int reload(const core::Instance& instance, const std::string& which) {
  pid_t pid = instance.running_pid(which.empty() ? "imtad" : which);
  if (!pid) {
    std::cerr << "imta reload: " << (which.empty() ? "imtad" : which) << " is not running\n";
    return exit_failure;
  }
  ::kill(pid, SIGHUP);
  std::cout << "reload signalled (pid " << pid << "); the compiled configuration is read again\n";
  return exit_ok;
}

std::string uptime_of(pid_t pid) {
  // /proc/PID/stat field 22 is the start time in clock ticks since boot.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  if (close == std::string::npos) return "?";
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
  }
  double boot_ticks = std::stod(field);
  std::ifstream up("/proc/uptime");
  double uptime = 0;
  up >> uptime;
  long seconds = static_cast<long>(uptime - boot_ticks / static_cast<double>(::sysconf(_SC_CLK_TCK)));
  std::ostringstream out;
  if (seconds >= 86400) out << seconds / 86400 << "d";
  out << (seconds % 86400) / 3600 << "h" << (seconds % 3600) / 60 << "m" << seconds % 60 << "s";
  return out.str();
}

int process(const core::Instance& instance) {
  bool any = false;
  for (const std::string name : {"imtad", "dispatcher", "job_controller"}) {
    pid_t pid = instance.running_pid(name);
    if (!pid) continue;
    any = true;
    std::cout << name << std::string(16 - name.size(), ' ') << "pid " << pid << "  up " << uptime_of(pid);
    if (name == "dispatcher") {
      std::ifstream status(instance.run_dir() / "dispatcher.status");
      std::string service, address, port;
      std::string listening;
      while (status >> service >> address >> port) listening += " " + service + "@" + address + ":" + port;
      std::ifstream conns(instance.run_dir() / "dispatcher.connections");
      std::string n = "?";
      conns >> n;
      std::cout << "  connections " << n << " ;" << listening;
    }
    if (name == "job_controller") {
      // Its control socket answers with the cache size and the running jobs.
      auto answer = queue::ask_job_controller(instance.run_dir(), "jobs");
      std::size_t jobs = 0;
      std::string cached = "?";
      if (answer) {
        auto lines = queue::answer_lines(*answer);
        if (lines.front().size() > 2) cached = lines.front()[2];
        jobs = lines.size() - 1;
      }
      std::cout << "  jobs " << (answer ? std::to_string(jobs) : "?") << " ; cached files " << cached;
    }
    std::cout << "\n";
  }
  if (!any) {
    std::cout << "imtad is not running\n";
    return exit_failure;
  }
  return exit_ok;
}

}  // namespace

int run_daemon_command(const CommandContext& context, const std::string& verb, const std::vector<std::string>& args) {
  std::string which;
  if (!args.empty()) {
    if (args.size() > 1 || (args[0] != "dispatcher" && args[0] != "job_controller"))
      throw UsageError("imta " + verb + " takes no argument or one of: dispatcher, job_controller");
    which = args[0];
  }
  auto instance = usable_instance(context);
  if (!instance) return exit_failure;
  if (verb == "start") return start(*instance);
  if (verb == "stop") return stop(*instance);
  if (verb == "restart") {
    if (instance->running_pid("imtad") && stop(*instance) != exit_ok) return exit_failure;
    return start(*instance);
  }
  if (verb == "reload") return reload(*instance, which);
  return process(*instance);
}

int run_start(const CommandContext& c, const std::vector<std::string>& a) { return run_daemon_command(c, "start", a); }
int run_stop(const CommandContext& c, const std::vector<std::string>& a) { return run_daemon_command(c, "stop", a); }
int run_restart(const CommandContext& c, const std::vector<std::string>& a) { return run_daemon_command(c, "restart", a); }
int run_reload(const CommandContext& c, const std::vector<std::string>& a) { return run_daemon_command(c, "reload", a); }
int run_process(const CommandContext& c, const std::vector<std::string>& a) { return run_daemon_command(c, "process", a); }

}  // namespace imta::tools
