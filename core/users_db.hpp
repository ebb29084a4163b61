// The users database: who has a mailbox here and who may log in with SMTP
// AUTH. One SQLite file per instance, db/users.sqlite (mode 0600: it holds
// password hashes), WAL journal so that lookups never wait for each other.
//
// Names. A user's name is its login name and is stored lower-cased (ASCII):
// either a full address `local@domain` or a bare local name `local` (at most
// 64 characters of RFC 5322 dot-atom text; a domain of letters, digits,
// hyphens and dots).
//
// Recipients. A recipient address is looked up as a whole first; if no user
// has that name and its domain is one of the local domains the caller passes
// in, its local part is looked up alone. So a bare `alice` receives mail for
// alice@ every local domain, while `alice@example.org` receives only that
// address. Comparison ignores ASCII case. A disabled user still receives
// mail: disabling stops SMTP AUTH (for a compromised account); delete the
// user to refuse its mail.
//
// Failures. The administrative calls (add, remove, set_password, ...) throw
// sqlite::Error on database failures and std::invalid_argument on a name or
// password that cannot be stored. The calls on the SMTP data path
// (find_recipient, verify) never throw: a database failure comes back as
// `unavailable`, for a 4xx reply.
//
// Threads. A UsersDb is one SQLite connection with its prepared statements
// (prepared once, reused for every lookup): use each object from one thread
// at a time, and give every worker thread its own. Separate objects, in one
// process or several, see each other's committed changes at their next call.
//
// Time. verify() runs scrypt (tens of milliseconds, see password_hash.hpp):
// run it off an event loop. Its database part is a single indexed read;
// credentials() and check_password() split the two for callers that want to
// do the read in place and the hashing on a worker.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/instance.hpp"
#include "core/sqlite.hpp"

namespace imta::core {

/// <root>/db/users.sqlite
std::filesystem::path users_db_path(const Instance& instance);

/// `name` lower-cased if it is a valid user name (see above); otherwise
/// nullopt, and `error` (if given) says why.
std::optional<std::string> normalize_user_name(std::string_view name, std::string* error = nullptr);

/// One row of the database, for listings.
struct User {
  std::string name;
  bool has_password = false;
  bool enabled = true;
  std::int64_t created = 0;  ///< seconds since the epoch (UTC)
};

/// What to store as a user's password.
class PasswordSetting {
 public:
  /// No password: the mailbox receives mail but cannot log in.
  static PasswordSetting none() { return PasswordSetting(Kind::none, {}); }
  /// A password in clear, hashed with the current defaults.
  static PasswordSetting plain(std::string_view password) { return PasswordSetting(Kind::plain, password); }
  /// A hash made elsewhere (import), stored as it is after validation.
  static PasswordSetting hashed(std::string_view stored) { return PasswordSetting(Kind::hashed, stored); }

  PasswordSetting(const PasswordSetting&) = default;
  PasswordSetting& operator=(const PasswordSetting&) = default;
  ~PasswordSetting();  ///< wipes the clear text

  /// The value for the password_hash column: nullopt for none(). Throws
  /// std::invalid_argument for an unacceptable password or hash.
  std::optional<std::string> stored_form() const;

 private:
  enum class Kind { none, plain, hashed };
  PasswordSetting(Kind kind, std::string_view text) : kind_(kind), text_(text) {}
  Kind kind_;
  std::string text_;
};

enum class RecipientStatus { found, unknown, unavailable };

struct RecipientMatch {
  RecipientStatus status = RecipientStatus::unknown;
  std::string user;   ///< found: the user's name (whose mailbox receives it)
  bool enabled = true;  ///< found: whether that user may log in
  std::string error;  ///< unavailable: the database's complaint, for the log
};

enum class VerifyResult {
  ok,
  no_such_user,
  wrong_password,
  disabled,       ///< the password was right but the user is disabled
  no_password,    ///< the user exists but has no password (mail only)
  unusable_hash,  ///< the stored hash is malformed or out of bounds
  unavailable,    ///< the database failed: a temporary failure
};

/// Short words for logs: "ok", "no such user", "wrong password", ...
std::string_view describe(VerifyResult result);

/// An SMTP reply for AUTH (RFC 4954): 235 2.7.0 for ok, 454 4.7.0 for
/// unavailable, 535 5.7.8 for every failure (one answer, so a client cannot
/// probe which names exist).
struct AuthReply {
  int code;
  std::string_view status;
  std::string_view text;
};
AuthReply auth_reply(VerifyResult result);

/// The stored credentials of one user (for callers splitting verify()).
struct Credentials {
  enum class Status { found, unknown, unavailable } status = Status::unknown;
  std::string user;                          ///< normalised name
  std::optional<std::string> password_hash;  ///< nullopt: no password
  bool enabled = true;
  std::string error;  ///< unavailable: why
};

class UsersDb {
 public:
  struct Options {
    bool create = false;         ///< create the file (0600) and schema if missing
    int busy_timeout_ms = 5000;  ///< how long to wait for another writer
  };

  /// Opens the database at `path`, creating the file and the schema when
  /// options.create says so. Throws sqlite::Error (missing file without
  /// create, not a database, a schema newer than this program).
  static UsersDb open(const std::filesystem::path& path, const Options& options);

  enum class AddResult { added, duplicate };
  /// Adds a user (enabled). Throws std::invalid_argument for a bad name or
  /// password, sqlite::Error on database failures.
  AddResult add(std::string_view name, const PasswordSetting& password);
  /// False when there is no such user.
  bool remove(std::string_view name);
  bool set_password(std::string_view name, const PasswordSetting& password);
  bool set_enabled(std::string_view name, bool enabled);
  /// Every user, ordered by name.
  std::vector<User> list();
  std::optional<User> find(std::string_view name);

  /// The user that receives mail for `address` (see the header comment for
  /// the matching rule). Never throws.
  RecipientMatch find_recipient(std::string_view address, std::span<const std::string> local_domains) noexcept;
  /// find_recipient(...).status == found.
  bool exists(std::string_view address, std::span<const std::string> local_domains) noexcept {
    return find_recipient(address, local_domains).status == RecipientStatus::found;
  }

  /// Checks a login. Costs one KDF run whatever the outcome (even for an
  /// unknown name) so that timing does not reveal which names exist. With
  /// `upgrade_hash`, an ok login whose hash needs_rehash() gets a fresh hash
  /// with the current defaults (unless the password was changed meanwhile).
  /// Never throws.
  VerifyResult verify(std::string_view name, std::string_view password, bool upgrade_hash = false) noexcept;

  /// The database read of verify(). Never throws.
  Credentials credentials(std::string_view name) noexcept;

 private:
  explicit UsersDb(sqlite::Connection connection);
  void upgrade_hash(const std::string& user, const std::string& old_hash, std::string_view password);

  sqlite::Connection connection_;  // first member: destroyed after the statements
  sqlite::Statement select_user_;
  sqlite::Statement insert_user_;
  sqlite::Statement delete_user_;
  sqlite::Statement update_password_;
  sqlite::Statement update_enabled_;
  sqlite::Statement replace_hash_;
  sqlite::Statement select_all_;
};

}  // namespace imta::core
