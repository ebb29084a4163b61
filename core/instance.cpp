#include "core/instance.hpp"

#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <system_error>

namespace imta::core {

Instance Instance::locate(const std::optional<std::string>& root_option) {
  if (root_option && !root_option->empty()) return Instance(*root_option);
  if (const char* env = std::getenv("IMTA_ROOT"); env && *env) return Instance(env);
  return Instance(default_instance_root);
}

pid_t Instance::running_pid(const std::string& name) const {
  std::ifstream in(run_dir() / (name + ".pid"));
  pid_t pid = 0;
  // EPERM: alive, but another user's (the daemon runs as the instance owner).
  if (in >> pid && pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM)) return pid;
  return 0;
}

std::string Instance::problem() const {
  std::error_code ec;
  const std::string where = root_.string();
  if (!std::filesystem::exists(root_, ec))
    return "no imta instance at " + where + " (directory does not exist); create one with: imta init " + where;
  if (!std::filesystem::is_directory(root_, ec))
    return "no imta instance at " + where + " (not a directory)";
  if (!std::filesystem::exists(config_dir() / "imta.cnf", ec))
    return "no imta instance at " + where + " (config/imta.cnf missing); create one with: imta init " + where;
  return {};
}

}  // namespace imta::core
