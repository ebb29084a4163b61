#include "core/instance.hpp"

#include <cstdlib>
#include <system_error>

namespace imta::core {

Instance Instance::locate(const std::optional<std::string>& root_option) {
  if (root_option && !root_option->empty()) return Instance(*root_option);
  if (const char* env = std::getenv("IMTA_ROOT"); env && *env) return Instance(env);
  return Instance(default_instance_root);
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
