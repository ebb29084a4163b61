// An imta instance: one directory root holding everything of one installation
// (config/, queue/, log/, db/, bin/, run/). Every command finds its instance
// the same way: --root DIR, else $IMTA_ROOT, else the default root.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <sys/types.h>

namespace imta::core {

/// Where an instance lives when neither --root nor IMTA_ROOT says otherwise.
inline constexpr const char* default_instance_root = "/var/lib/imta";

class Instance {
 public:
  explicit Instance(std::filesystem::path root) : root_(std::move(root)) {}

  /// --root if given, else $IMTA_ROOT if set and not empty, else the default.
  static Instance locate(const std::optional<std::string>& root_option);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path config_dir() const { return root_ / "config"; }
  std::filesystem::path queue_dir() const { return root_ / "queue"; }
  std::filesystem::path log_dir() const { return root_ / "log"; }
  std::filesystem::path db_dir() const { return root_ / "db"; }
  std::filesystem::path bin_dir() const { return root_ / "bin"; }
  std::filesystem::path run_dir() const { return root_ / "run"; }
  /// The compiled configuration written by `imta cnbuild`.
  std::filesystem::path image_path() const { return config_dir() / "imta.image"; }

  /// The pid in run/<name>.pid ("imtad", "dispatcher", "job_controller")
  /// if that process is alive, else 0.
  pid_t running_pid(const std::string& name) const;

  /// Empty when the instance looks usable; otherwise one line saying what is
  /// wrong and what to do ("no imta instance at /x (config/imta.cnf missing);
  /// create one with: imta init /x").
  std::string problem() const;

 private:
  std::filesystem::path root_;
};

}  // namespace imta::core
