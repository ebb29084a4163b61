// The programs the pipe channel may run, maintained with `imta program`
// (imta-program(8)): one SQLite file per instance, db/programs.sqlite. A
// program has a name (what addresses of the pipe channel name), the
// absolute path of an executable, an argument template in which %s stands
// for the recipient, the user it runs as when imta runs as root, and a
// timeout.
//
// Failures: every database failure throws core::sqlite::Error;
// std::invalid_argument for a name, path or template that cannot be stored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/instance.hpp"
#include "core/sqlite.hpp"

namespace imta::channels::pipe {

/// <root>/db/programs.sqlite
std::filesystem::path programs_db_path(const core::Instance& instance);

inline constexpr int default_program_timeout_s = 300;

struct Program {
  std::string name;       ///< lower case: letters, digits, `.`, `_`, `-`; 1..64
  std::string path;       ///< absolute path of the executable
  std::string arguments;  ///< template, split at blanks ("..." keeps blanks); %s = recipient, %% = %
  std::string user;       ///< run as this user when imta is root; empty = nobody
  int timeout_s = default_program_timeout_s;
  std::int64_t created = 0;  ///< seconds since the epoch
};

/// `name` lower-cased when it is a valid program name, else nullopt and why.
std::optional<std::string> normalize_program_name(std::string_view name, std::string* why = nullptr);

/// Why `path` cannot be a program ("" when it can): not absolute, missing,
/// not a regular file, not executable. Looks at the file system.
std::string program_path_problem(const std::string& path);

/// Why an argument template is unusable ("" when fine): an unterminated
/// quote, or a `%` followed by anything but `s` or `%`.
std::string arguments_problem(std::string_view arguments);

/// The argument vector for one delivery: the path, then the template's
/// words with %s replaced by `recipient` (each word stays one argument,
/// whatever the recipient contains: no shell ever sees it).
std::vector<std::string> program_argv(const Program& program, std::string_view recipient);

class ProgramRegistry {
 public:
  struct Options {
    bool create = false;  ///< create the file (mode 0600) when missing
    int busy_timeout_ms = 5000;
  };
  static ProgramRegistry open(const std::filesystem::path& path, const Options& options);

  /// false when a program of that name exists.
  bool add(const Program& program);
  /// Replaces the stored program of that name; false when there is none.
  bool change(const Program& program);
  /// false when there is no such program.
  bool remove(std::string_view name);
  std::optional<Program> find(std::string_view name);
  /// Every program, by name.
  std::vector<Program> list();

 private:
  explicit ProgramRegistry(core::sqlite::Connection connection) : connection_(std::move(connection)) {}
  core::sqlite::Connection connection_;
};

}  // namespace imta::channels::pipe
