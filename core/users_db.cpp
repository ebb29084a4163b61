#include "core/users_db.hpp"

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "core/password_hash.hpp"
#include "core/text.hpp"

namespace imta::core {

namespace {

/// The schema this program writes and reads (PRAGMA user_version). A later
/// version adds a migration step in ensure_schema() for each step up.
constexpr std::int64_t schema_version = 1;

// WITHOUT ROWID: the name is the key every lookup uses, so the table is
// stored as that index alone.
constexpr const char* create_schema = R"sql(
CREATE TABLE users (
  name          TEXT PRIMARY KEY NOT NULL CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 320),
  password_hash TEXT,
  enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  created       INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

constexpr std::size_t max_local_part = 64;
constexpr std::size_t max_domain = 253;

bool is_atext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

/// RFC 5322 dot-atom text: atext runs separated by single dots.
std::string local_part_problem(std::string_view local) {
  if (local.empty()) return "the local part is empty";
  if (local.size() > max_local_part) return "the local part is longer than 64 characters";
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return "the local part has a misplaced dot";
  for (char c : local)
    if (c != '.' && !is_atext(c)) return "the local part contains a character not allowed in a user name";
  return {};
}

/// Letters, digits and hyphens in labels of 1..63 separated by dots.
std::string domain_problem(std::string_view domain) {
  if (domain.empty()) return "the domain is empty";
  if (domain.size() > max_domain) return "the domain is longer than 253 characters";
  std::size_t label = 0;
  for (std::size_t i = 0; i < domain.size(); ++i) {
    char c = domain[i];
    if (c == '.') {
      if (label == 0 || domain[i - 1] == '-') return "the domain has an empty or malformed label";
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c == '-' && label > 0);
    if (!ok) return "the domain contains a character not allowed in a domain name";
    if (++label > 63) return "a domain label is longer than 63 characters";
  }
  if (label == 0 || domain.back() == '-') return "the domain has an empty or malformed label";
  return {};
}

std::string normalized_or_throw(std::string_view name) {
  std::string why;
  auto normalized = normalize_user_name(name, &why);
  if (!normalized) throw std::invalid_argument("\"" + std::string(name.substr(0, 80)) + "\" is not a valid user name: " + why);
  return *normalized;
}

void bind_password(sqlite::Statement& statement, int index, const std::optional<std::string>& stored) {
  if (stored) statement.bind(index, *stored);
  else statement.bind_null(index);
}

/// Creates the schema in a new file, checks the version of an old one.
void ensure_schema(sqlite::Connection& connection) {
  auto version = sqlite::user_version(connection);
  if (version == schema_version) return;
  auto newer = [&](std::int64_t v) {
    return sqlite::Error(connection.path().string() + ": users database schema version " + std::to_string(v) +
                             " is newer than this program's (" + std::to_string(schema_version) + ")",
                         0);
  };
  if (version > schema_version) throw newer(version);
  // Two programs may open a new file at once: take the write lock, then
  // look again.
  sqlite::Transaction transaction(connection);
  version = sqlite::user_version(connection);
  if (version == 0) {
    connection.exec(create_schema);
    connection.exec("PRAGMA user_version = " + std::to_string(schema_version));
  } else if (version > schema_version) {
    throw newer(version);
  }
  transaction.commit();
}

}  // namespace

std::filesystem::path users_db_path(const Instance& instance) { return instance.db_dir() / "users.sqlite"; }

std::optional<std::string> normalize_user_name(std::string_view name, std::string* error) {
  auto at = name.find('@');
  std::string why = local_part_problem(name.substr(0, at));
  if (why.empty() && at != std::string_view::npos) {
    auto domain = name.substr(at + 1);
    why = domain.find('@') != std::string_view::npos ? "more than one @" : domain_problem(domain);
  }
  if (!why.empty()) {
    if (error) *error = why;
    return std::nullopt;
  }
  return to_lower(name);
}

PasswordSetting::~PasswordSetting() { wipe(text_); }

std::optional<std::string> PasswordSetting::stored_form() const {
  switch (kind_) {
    case Kind::none:
      return std::nullopt;
    case Kind::plain:
      if (auto problem = password_problem(text_); !problem.empty()) throw std::invalid_argument(problem);
      return hash_password(text_);
    case Kind::hashed: {
      std::string why;
      if (!parse_stored_hash(text_, &why)) throw std::invalid_argument("not a usable password hash: " + why);
      return text_;
    }
  }
  return std::nullopt;
}

std::string_view describe(VerifyResult result) {
  switch (result) {
    case VerifyResult::ok: return "ok";
    case VerifyResult::no_such_user: return "no such user";
    case VerifyResult::wrong_password: return "wrong password";
    case VerifyResult::disabled: return "user disabled";
    case VerifyResult::no_password: return "user has no password";
    case VerifyResult::unusable_hash: return "stored password hash unusable";
    case VerifyResult::unavailable: return "users database unavailable";
  }
  return "unknown";
}

AuthReply auth_reply(VerifyResult result) {
  switch (result) {
    case VerifyResult::ok: return {235, "2.7.0", "Authentication successful"};
    case VerifyResult::unavailable: return {454, "4.7.0", "Temporary authentication failure"};
    default: return {535, "5.7.8", "Authentication credentials invalid"};
  }
}

UsersDb::UsersDb(sqlite::Connection connection)
    : connection_(std::move(connection)),
      select_user_(connection_.prepare("SELECT name, password_hash, enabled, created FROM users WHERE name = ?1")),
      insert_user_(connection_.prepare(
          "INSERT INTO users (name, password_hash, enabled, created) VALUES (?1, ?2, 1, ?3) "
          "ON CONFLICT (name) DO NOTHING")),
      delete_user_(connection_.prepare("DELETE FROM users WHERE name = ?1")),
      update_password_(connection_.prepare("UPDATE users SET password_hash = ?2 WHERE name = ?1")),
      update_enabled_(connection_.prepare("UPDATE users SET enabled = ?2 WHERE name = ?1")),
      // Only if the hash is still the one that was checked: a concurrent
      // `imta user passwd` must win over an automatic upgrade.
      replace_hash_(connection_.prepare("UPDATE users SET password_hash = ?3 WHERE name = ?1 AND password_hash = ?2")),
      select_all_(connection_.prepare(
          "SELECT name, password_hash IS NOT NULL, enabled, created FROM users ORDER BY name")) {}

UsersDb UsersDb::open(const std::filesystem::path& path, const Options& options) {
  sqlite::Connection::Options connection_options;
  connection_options.create = options.create;
  connection_options.create_mode = 0600;
  connection_options.busy_timeout_ms = options.busy_timeout_ms;
  auto connection = sqlite::Connection::open(path, connection_options);
  // WAL: readers (every RCPT, every AUTH) never wait for each other or for
  // a writer; the setting is stored in the file, so this is a no-op after
  // the first time.
  connection.exec("PRAGMA journal_mode = WAL");
  ensure_schema(connection);
  return UsersDb(std::move(connection));
}

UsersDb::AddResult UsersDb::add(std::string_view name, const PasswordSetting& password) {
  auto user = normalized_or_throw(name);
  auto stored = password.stored_form();
  sqlite::Statement::Use insert(insert_user_);
  insert->bind(1, user);
  bind_password(*insert, 2, stored);
  insert->bind(3, static_cast<std::int64_t>(std::time(nullptr)));
  insert->run();
  return connection_.changes() == 1 ? AddResult::added : AddResult::duplicate;
}

bool UsersDb::remove(std::string_view name) {
  sqlite::Statement::Use remove(delete_user_);
  remove->bind(1, normalized_or_throw(name));
  remove->run();
  return connection_.changes() == 1;
}

bool UsersDb::set_password(std::string_view name, const PasswordSetting& password) {
  auto user = normalized_or_throw(name);
  auto stored = password.stored_form();
  sqlite::Statement::Use update(update_password_);
  update->bind(1, user);
  bind_password(*update, 2, stored);
  update->run();
  return connection_.changes() == 1;
}

bool UsersDb::set_enabled(std::string_view name, bool enabled) {
  sqlite::Statement::Use update(update_enabled_);
  update->bind(1, normalized_or_throw(name));
  update->bind(2, std::int64_t{enabled ? 1 : 0});
  update->run();
  return connection_.changes() == 1;
}

std::vector<User> UsersDb::list() {
  std::vector<User> users;
  sqlite::Statement::Use select(select_all_);
  while (select->step())
    users.push_back({std::string(select->text(0)), select->integer(1) != 0, select->integer(2) != 0,
                     select->integer(3)});
  return users;
}

std::optional<User> UsersDb::find(std::string_view name) {
  auto user = normalize_user_name(name);
  if (!user) return std::nullopt;
  sqlite::Statement::Use select(select_user_);
  select->bind(1, *user);
  if (!select->step()) return std::nullopt;
  return User{std::string(select->text(0)), !select->is_null(1), select->integer(2) != 0, select->integer(3)};
}

Credentials UsersDb::credentials(std::string_view name) noexcept {
  Credentials result;
  try {
    auto user = normalize_user_name(name);
    if (!user) return result;
    sqlite::Statement::Use select(select_user_);
    select->bind(1, *user);
    if (!select->step()) return result;
    result.status = Credentials::Status::found;
    result.user = std::move(*user);
    if (!select->is_null(1)) result.password_hash = std::string(select->text(1));
    result.enabled = select->integer(2) != 0;
  } catch (const std::exception& e) {
    result = {};
    result.status = Credentials::Status::unavailable;
    result.error = e.what();
  }
  return result;
}

RecipientMatch UsersDb::find_recipient(std::string_view address,
                                       std::span<const std::string> local_domains) noexcept {
  RecipientMatch match;
  try {
    auto found = [&](std::string_view name) {
      auto user = credentials(name);
      if (user.status == Credentials::Status::unavailable) {
        match.status = RecipientStatus::unavailable;
        match.error = user.error;
      } else if (user.status == Credentials::Status::found) {
        match.status = RecipientStatus::found;
        match.user = std::move(user.user);
        match.enabled = user.enabled;
      }
      return match.status != RecipientStatus::unknown;
    };
    if (found(address)) return match;
    auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0) return match;
    auto domain = address.substr(at + 1);
    bool local = std::any_of(local_domains.begin(), local_domains.end(),
                             [&](const std::string& d) { return iequals(d, domain); });
    if (local) found(address.substr(0, at));
  } catch (const std::exception& e) {
    match = {};
    match.status = RecipientStatus::unavailable;
    match.error = e.what();
  }
  return match;
}

VerifyResult UsersDb::verify(std::string_view name, std::string_view password, bool upgrade) noexcept {
  auto user = credentials(name);
  if (user.status == Credentials::Status::unavailable) return VerifyResult::unavailable;
  if (user.status == Credentials::Status::unknown || !user.password_hash) {
    spend_check_time(password);
    return user.status == Credentials::Status::unknown ? VerifyResult::no_such_user : VerifyResult::no_password;
  }
  switch (check_password(password, *user.password_hash)) {
    case PasswordCheck::unusable:
      spend_check_time(password);
      return VerifyResult::unusable_hash;
    case PasswordCheck::mismatch:
      return VerifyResult::wrong_password;
    case PasswordCheck::match:
      break;
  }
  if (!user.enabled) return VerifyResult::disabled;
  if (upgrade && needs_rehash(*user.password_hash)) {
    try {
      upgrade_hash(user.user, *user.password_hash, password);
    } catch (const std::exception&) {
      // The login is good; the upgrade is retried at the next one.
    }
  }
  return VerifyResult::ok;
}

void UsersDb::upgrade_hash(const std::string& user, const std::string& old_hash, std::string_view password) {
  auto fresh = hash_password(password);
  sqlite::Statement::Use update(replace_hash_);
  update->bind(1, user);
  update->bind(2, old_hash);
  update->bind(3, fresh);
  update->run();
}

}  // namespace imta::core
