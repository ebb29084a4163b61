#include "channels/pipe/program_registry.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <stdexcept>

#include "core/text.hpp"

namespace imta::channels::pipe {

namespace {

constexpr std::int64_t schema_version = 1;

constexpr const char* create_schema = R"sql(
CREATE TABLE programs (
  name      TEXT PRIMARY KEY NOT NULL CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 64),
  path      TEXT NOT NULL CHECK (substr(path, 1, 1) = '/'),
  arguments TEXT NOT NULL DEFAULT '',
  user      TEXT NOT NULL DEFAULT '',
  timeout   INTEGER NOT NULL DEFAULT 300 CHECK (timeout > 0),
  created   INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

std::int64_t read_user_version(core::sqlite::Connection& connection) {
  auto statement = connection.prepare("PRAGMA user_version");
  return statement.step() ? statement.integer(0) : 0;
}

void ensure_schema(core::sqlite::Connection& connection) {
  if (read_user_version(connection) == schema_version) return;
  core::sqlite::Transaction transaction(connection);
  auto version = read_user_version(connection);
  if (version == 0) {
    connection.exec(create_schema);
    connection.exec("PRAGMA user_version = " + std::to_string(schema_version));
  } else if (version > schema_version) {
    throw core::sqlite::Error(connection.path().string() + ": programs database schema version " +
                                  std::to_string(version) + " is newer than this program's",
                              0);
  }
  transaction.commit();
}

Program read_row(core::sqlite::Statement& s) {
  Program p;
  p.name = std::string(s.text(0));
  p.path = std::string(s.text(1));
  p.arguments = std::string(s.text(2));
  p.user = std::string(s.text(3));
  p.timeout_s = static_cast<int>(s.integer(4));
  p.created = s.integer(5);
  return p;
}

std::string checked_name(std::string_view name) {
  std::string why;
  auto n = normalize_program_name(name, &why);
  if (!n) throw std::invalid_argument(why);
  return *n;
}

}  // namespace

std::filesystem::path programs_db_path(const core::Instance& instance) {
  return instance.db_dir() / "programs.sqlite";
}

std::optional<std::string> normalize_program_name(std::string_view name, std::string* why) {
  auto fail = [&](std::string text) -> std::optional<std::string> {
    if (why) *why = std::move(text);
    return std::nullopt;
  };
  if (name.empty()) return fail("the program name is empty");
  if (name.size() > 64) return fail("the program name is longer than 64 characters");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok)
      return fail("\"" + std::string(name) + "\" is not a valid program name (letters, digits, '.', '_', '-')");
  }
  return core::to_lower(name);
}

std::string program_path_problem(const std::string& path) {
  if (path.empty() || path.front() != '/') return path + ": not an absolute path";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return path + ": no such file";
  if (!S_ISREG(st.st_mode)) return path + ": not a regular file";
  if ((st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0 || ::access(path.c_str(), X_OK) != 0)
    return path + ": not executable";
  return {};
}

std::string arguments_problem(std::string_view arguments) {
  bool quoted = false;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    char c = arguments[i];
    if (c == '"') quoted = !quoted;
    if (c == '%') {
      if (i + 1 < arguments.size() && (arguments[i + 1] == 's' || arguments[i + 1] == '%')) {
        ++i;
        continue;
      }
      return "\"%\" must be followed by s (the recipient) or % (a percent sign)";
    }
  }
  if (quoted) return "unterminated double quote";
  return {};
}

std::vector<std::string> program_argv(const Program& program, std::string_view recipient) {
  std::vector<std::string> argv{program.path};
  for (const auto& word : core::split_words(program.arguments)) {
    std::string arg;
    for (std::size_t i = 0; i < word.size(); ++i) {
      if (word[i] == '%' && i + 1 < word.size() && word[i + 1] == 's') {
        arg += recipient;
        ++i;
      } else if (word[i] == '%' && i + 1 < word.size() && word[i + 1] == '%') {
        arg += '%';
        ++i;
      } else {
        arg += word[i];
      }
    }
    argv.push_back(std::move(arg));
  }
  return argv;
}

ProgramRegistry ProgramRegistry::open(const std::filesystem::path& path, const Options& options) {
  core::sqlite::Connection::Options o;
  o.create = options.create;
  o.create_mode = 0600;
  o.busy_timeout_ms = options.busy_timeout_ms;
  auto connection = core::sqlite::Connection::open(path, o);
  connection.exec("PRAGMA journal_mode = WAL");
  ensure_schema(connection);
  return ProgramRegistry(std::move(connection));
}

bool ProgramRegistry::add(const Program& p) {
  auto name = checked_name(p.name);
  auto s = connection_.prepare(
      "INSERT INTO programs (name, path, arguments, user, timeout, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
      "ON CONFLICT (name) DO NOTHING");
  s.bind(1, name).bind(2, p.path).bind(3, p.arguments).bind(4, p.user);
  s.bind(5, static_cast<std::int64_t>(p.timeout_s)).bind(6, static_cast<std::int64_t>(std::time(nullptr)));
  s.run();
  return connection_.changes() == 1;
}

bool ProgramRegistry::change(const Program& p) {
  auto name = checked_name(p.name);
  auto s = connection_.prepare("UPDATE programs SET path = ?2, arguments = ?3, user = ?4, timeout = ?5 WHERE name = ?1");
  s.bind(1, name).bind(2, p.path).bind(3, p.arguments).bind(4, p.user).bind(5, static_cast<std::int64_t>(p.timeout_s));
  s.run();
  return connection_.changes() == 1;
}

bool ProgramRegistry::remove(std::string_view name) {
  auto s = connection_.prepare("DELETE FROM programs WHERE name = ?1");
  s.bind(1, core::to_lower(name));
  s.run();
  return connection_.changes() == 1;
}

std::optional<Program> ProgramRegistry::find(std::string_view name) {
  auto s = connection_.prepare("SELECT name, path, arguments, user, timeout, created FROM programs WHERE name = ?1");
  s.bind(1, core::to_lower(name));
  if (!s.step()) return std::nullopt;
  return read_row(s);
}

std::vector<Program> ProgramRegistry::list() {
  auto s = connection_.prepare("SELECT name, path, arguments, user, timeout, created FROM programs ORDER BY name");
  std::vector<Program> out;
  while (s.step()) out.push_back(read_row(s));
  return out;
}

}  // namespace imta::channels::pipe
