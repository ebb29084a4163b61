// RAII over the SQLite C API for imta's databases under db/ (users now;
// tracking and counters later): a connection closed by its destructor, and
// prepared statements finalised by theirs and reset after every use, so that
// a statement prepared once is reused for every lookup of a hot path.
//
// Failures: every SQLite error throws sqlite::Error, whose text names the
// database file and SQLite's message. Code on the SMTP data path catches it
// at its edge and answers a temporary failure (4xx); it is never a reason to
// refuse mail permanently.
//
// Threads: connections are opened in SQLite's multi-thread mode (no mutex on
// every call), so a Connection and the statements prepared on it belong to
// one thread at a time. Give each thread its own Connection; with the WAL
// journal readers on different connections never block each other.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace imta::core::sqlite {

/// A failed SQLite call. `code` is SQLite's extended result code.
struct Error : std::runtime_error {
  Error(const std::string& what, int code) : std::runtime_error(what), code(code) {}
  int code;
};

class Statement;

class Connection {
 public:
  struct Options {
    /// Create the file when it does not exist (with `create_mode`, and its
    /// directory with 0700). Otherwise a missing file is an Error.
    bool create = false;
    mode_t create_mode = 0600;
    /// How long a statement waits for another connection's write lock
    /// before failing with SQLITE_BUSY.
    int busy_timeout_ms = 5000;
  };

  /// Opens (or creates) the database at `path`. Throws Error.
  static Connection open(const std::filesystem::path& path, const Options& options);

  /// Runs one or more statements that return no rows worth reading
  /// (DDL, PRAGMA, BEGIN/COMMIT). Throws Error.
  void exec(const std::string& sql);
  /// Compiles one statement. Throws Error.
  Statement prepare(std::string_view sql);
  /// Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  std::int64_t changes() const;

  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() const { return db_.get(); }

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  Connection(std::unique_ptr<sqlite3, Closer> db, std::filesystem::path path)
      : db_(std::move(db)), path_(std::move(path)) {}

  std::unique_ptr<sqlite3, Closer> db_;
  std::filesystem::path path_;
};

/// A prepared statement. Bind parameters (1-based), step through the rows,
/// then reset() — or let a Statement::Use do it — before the next use; a
/// SELECT left half-read would keep its read transaction open.
class Statement {
 public:
  Statement& bind(int index, std::string_view text);
  /// Binds text without a copy (bind() copies: a malloc, a memcpy and a
  /// free per parameter): `text` must stay alive and unchanged until the
  /// statement is reset (the end of its Use). Lvalues only, so that a
  /// temporary cannot be bound by mistake.
  Statement& bind_view(int index, const std::string& text);
  Statement& bind_view(int index, std::string&& text) = delete;
  Statement& bind(int index, std::int64_t value);
  Statement& bind_null(int index);

  /// Advances to the next row: true when a row is available, false when the
  /// statement has finished. Throws Error.
  bool step();
  /// Steps a statement that returns no rows (INSERT/UPDATE/DELETE).
  void run() {
    while (step()) {
    }
  }

  /// Column values of the current row (0-based). Text stays valid until the
  /// next step() or reset().
  std::string_view text(int column) const;
  std::int64_t integer(int column) const;
  bool is_null(int column) const;

  /// Makes the statement ready for its next use: resets it and clears its
  /// bindings. Never throws.
  void reset() noexcept;

  /// Resets the statement when the scope of one use ends, however it ends.
  class Use {
   public:
    explicit Use(Statement& statement) : statement_(statement) {}
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    ~Use() { statement_.reset(); }
    Statement* operator->() const { return &statement_; }
    Statement& operator*() const { return statement_; }

   private:
    Statement& statement_;
  };

 private:
  friend class Connection;
  struct Finalizer {
    void operator()(sqlite3_stmt* statement) const;
  };
  Statement(std::unique_ptr<sqlite3_stmt, Finalizer> statement, sqlite3* db)
      : statement_(std::move(statement)), db_(db) {}
  void check_bind(int rc, int index);

  std::unique_ptr<sqlite3_stmt, Finalizer> statement_;
  sqlite3* db_;  ///< the connection's handle, for error messages
};

/// BEGIN IMMEDIATE on construction (takes the write lock at once, so two
/// writers never deadlock upgrading read locks); ROLLBACK on destruction
/// unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Connection& connection);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Connection& connection_;
  bool open_ = true;
};

/// The file's schema version (PRAGMA user_version; 0 for a new file). Throws Error.
std::int64_t user_version(Connection& connection);

}  // namespace imta::core::sqlite
