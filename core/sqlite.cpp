#include "core/sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace imta::core::sqlite {

namespace fs = std::filesystem;

namespace {

/// "users.sqlite: cannot prepare statement: no such table: users".
[[noreturn]] void fail(sqlite3* db, std::string_view what, int code) {
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  std::string message = std::string(file && *file ? file : "database") + ": " + std::string(what) + ": " +
                        (db ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  throw Error(message, code);
}

/// Creates the database file with `mode` if it does not exist, so that it
/// never exists with SQLite's default (umask-dependent) permissions: the
/// users database holds password hashes. SQLite gives its -wal and -shm
/// files the permissions of the database file.
void create_file(const fs::path& path, mode_t mode) {
  std::error_code ec;
  if (auto dir = path.parent_path(); !dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) throw Error("cannot create " + dir.string() + ": " + ec.message(), SQLITE_CANTOPEN);
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd >= 0) {
    // The mode passed to open() is filtered by the umask; say it exactly.
    int rc = ::fchmod(fd, mode);
    ::close(fd);
    if (rc != 0) throw Error("cannot set the mode of " + path.string() + ": " + std::strerror(errno), SQLITE_CANTOPEN);
  } else if (errno != EEXIST) {
    throw Error("cannot create " + path.string() + ": " + std::strerror(errno), SQLITE_CANTOPEN);
  }
}

}  // namespace

void Connection::Closer::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

void Statement::Finalizer::operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }

Connection Connection::open(const fs::path& path, const Options& options) {
  if (options.create) create_file(path, options.create_mode);
  sqlite3* raw = nullptr;
  // Multi-thread mode (NOMUTEX): see the header, one thread per connection.
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, Closer> db(raw);  // owned even when open failed
  if (rc != SQLITE_OK) {
    std::string why = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    throw Error(path.string() + ": cannot open database: " + why, rc);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), options.busy_timeout_ms);
  return Connection(std::move(db), path);
}

void Connection::exec(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &message);
  // sqlite3_exec allocates its message with sqlite3_malloc; errmsg says the same.
  sqlite3_free(message);
  if (rc != SQLITE_OK) fail(db_.get(), "cannot run \"" + sql.substr(0, 40) + "\"", rc);
}

Statement Connection::prepare(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                              &raw, nullptr);
  std::unique_ptr<sqlite3_stmt, Statement::Finalizer> statement(raw);
  if (rc != SQLITE_OK) fail(db_.get(), "cannot prepare statement", rc);
  return Statement(std::move(statement), db_.get());
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_.get()); }

void Statement::check_bind(int rc, int index) {
  if (rc != SQLITE_OK) fail(db_, "cannot bind parameter " + std::to_string(index), rc);
}

Statement& Statement::bind(int index, std::string_view text) {
  check_bind(sqlite3_bind_text64(statement_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
             index);
  return *this;
}

Statement& Statement::bind_view(int index, const std::string& text) {
  check_bind(sqlite3_bind_text64(statement_.get(), index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8),
             index);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(statement_.get(), index, value), index);
  return *this;
}

Statement& Statement::bind_null(int index) {
  check_bind(sqlite3_bind_null(statement_.get(), index), index);
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(statement_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, "statement failed", rc);
}

std::string_view Statement::text(int column) const {
  auto* bytes = reinterpret_cast<const char*>(sqlite3_column_text(statement_.get(), column));
  if (!bytes) return {};
  return {bytes, static_cast<std::size_t>(sqlite3_column_bytes(statement_.get(), column))};
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(statement_.get(), column); }

bool Statement::is_null(int column) const {
  return sqlite3_column_type(statement_.get(), column) == SQLITE_NULL;
}

void Statement::reset() noexcept {
  sqlite3_reset(statement_.get());
  sqlite3_clear_bindings(statement_.get());
}

Transaction::Transaction(Connection& connection) : connection_(connection) { connection_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!open_) return;
  try {
    connection_.exec("ROLLBACK");
  } catch (const Error&) {
    // SQLite has already rolled back when the failure that brought us here
    // ended the transaction; nothing else can be done in a destructor.
  }
}

void Transaction::commit() {
  connection_.exec("COMMIT");
  open_ = false;
}

std::int64_t user_version(Connection& connection) {
  auto statement = connection.prepare("PRAGMA user_version");
  const std::int64_t version = statement.step() ? statement.integer(0) : 0;
  statement.reset();
  return version;
}

}  // namespace imta::core::sqlite
