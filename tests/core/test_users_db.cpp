// Password hashes and the users database: what AUTH and the local-recipient
// check rely on. Databases live in temporary directories removed afterwards.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/password_hash.hpp"
#include "core/sqlite.hpp"
#include "core/users_db.hpp"

using namespace imta::core;
namespace fs = std::filesystem;

namespace {

// Cheap parameters where a test only needs *a* hash (2^10: about 3 ms).
constexpr ScryptParameters cheap{10, 8, 1};

// RFC 7914 section 12, fourth vector, in our written form (checked against
// Python's hashlib.scrypt): proves the KDF and the encoding are the standard ones.
constexpr const char* rfc7914_hash =
    "$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$"
    "cCO9yzr9c0hGHAbNgf046/2o+7qQT44+qbVD9lRdofLVQylVYT8Pz2LUlwUkKpr55h6F3A1lHkDfzwF7RVdYhw";
constexpr const char* rfc7914_password = "pleaseletmein";

// PBKDF2-HMAC-SHA256("correct horse battery staple", "0123456789abcdef",
// 29000 iterations), made with Python's hashlib, in PHC and passlib forms.
constexpr const char* pbkdf2_phc =
    "$pbkdf2-sha256$i=29000$MDEyMzQ1Njc4OWFiY2RlZg$vajIaozrb7q4x+G3R5Y+FIe07ZH3QEjPYV1bs8kEikU";
constexpr const char* pbkdf2_passlib =
    "$pbkdf2-sha256$29000$MDEyMzQ1Njc4OWFiY2RlZg$vajIaozrb7q4x.G3R5Y.FIe07ZH3QEjPYV1bs8kEikU";
constexpr const char* pbkdf2_password = "correct horse battery staple";

/// A hash whose parameters are replaced by `parameters` (salt and hash kept).
std::string with_parameters(const std::string& stored, const std::string& parameters) {
  auto start = stored.find('$', 1) + 1;
  auto end = stored.find('$', start);
  return stored.substr(0, start) + parameters + stored.substr(end);
}

std::string parse_error(const std::string& stored) {
  std::string error;
  CHECK_FALSE(parse_stored_hash(stored, &error));
  return error;
}

/// A fresh directory under TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    auto base = fs::temp_directory_path() / "imta-users-XXXXXX";
    std::string buf = base.string();
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

UsersDb create_db(const fs::path& path) { return UsersDb::open(path, {.create = true}); }

}  // namespace

TEST_CASE("a hashed password verifies, a wrong one does not", "[password_hash]") {
  auto stored = hash_password("s3cret pass");
  CHECK(stored.starts_with("$scrypt$ln=14,r=8,p=1$"));
  CHECK(check_password("s3cret pass", stored) == PasswordCheck::match);
  CHECK(check_password("s3cret pasS", stored) == PasswordCheck::mismatch);
  CHECK(check_password("", stored) == PasswordCheck::mismatch);
  CHECK_FALSE(needs_rehash(stored));
}

TEST_CASE("the same password hashed twice gives different hashes", "[password_hash]") {
  auto a = hash_password("same", cheap);
  auto b = hash_password("same", cheap);
  CHECK(a != b);
  auto pa = parse_stored_hash(a);
  auto pb = parse_stored_hash(b);
  REQUIRE(pa);
  REQUIRE(pb);
  CHECK(pa->salt.size() == default_salt_bytes);
  CHECK(pa->salt != pb->salt);
  CHECK(check_password("same", a) == PasswordCheck::match);
  CHECK(check_password("same", b) == PasswordCheck::match);
}

TEST_CASE("scrypt matches the RFC 7914 test vector", "[password_hash]") {
  CHECK(check_password(rfc7914_password, rfc7914_hash) == PasswordCheck::match);
  CHECK(check_password("pleaseletmeout", rfc7914_hash) == PasswordCheck::mismatch);
  auto parsed = parse_stored_hash(rfc7914_hash);
  REQUIRE(parsed);
  CHECK(parsed->scrypt == ScryptParameters{14, 8, 1});
  CHECK(std::string(parsed->salt.begin(), parsed->salt.end()) == "SodiumChloride");
  CHECK(parsed->hash.size() == 64);
  CHECK(format_stored_hash(*parsed) == rfc7914_hash);
}

TEST_CASE("PBKDF2-SHA256 hashes from elsewhere verify and ask for a rehash", "[password_hash]") {
  CHECK(check_password(pbkdf2_password, pbkdf2_phc) == PasswordCheck::match);
  CHECK(check_password(pbkdf2_password, pbkdf2_passlib) == PasswordCheck::match);
  CHECK(check_password("Correct horse battery staple", pbkdf2_phc) == PasswordCheck::mismatch);
  CHECK(needs_rehash(pbkdf2_phc));
  auto parsed = parse_stored_hash(pbkdf2_passlib);
  REQUIRE(parsed);
  CHECK(parsed->scheme == HashScheme::pbkdf2_sha256);
  CHECK(parsed->pbkdf2_iterations == 29000);
  CHECK(format_stored_hash(*parsed) == pbkdf2_phc);
}

TEST_CASE("changing a hash's parameters or bytes makes it fail", "[password_hash]") {
  auto stored = hash_password("pw", cheap);
  CHECK(check_password("pw", with_parameters(stored, "ln=11,r=8,p=1")) == PasswordCheck::mismatch);
  CHECK(check_password("pw", with_parameters(stored, "ln=10,r=8,p=2")) == PasswordCheck::mismatch);
  auto flipped = stored;
  flipped[flipped.size() - 3] = flipped[flipped.size() - 3] == 'A' ? 'B' : 'A';
  CHECK(check_password("pw", flipped) == PasswordCheck::mismatch);
}

TEST_CASE("stored hashes asking for absurd resources are refused before any work", "[password_hash]") {
  auto stored = hash_password("pw", cheap);
  // 2^30 * 8 * 128 bytes = 1 TiB: must be refused, not attempted.
  CHECK_THAT(parse_error(with_parameters(stored, "ln=30,r=8,p=1")), Catch::Contains("ln=30"));
  CHECK_THAT(parse_error(with_parameters(stored, "ln=20,r=8,p=1")), Catch::Contains("memory"));
  CHECK_THAT(parse_error(with_parameters(stored, "ln=14,r=8,p=64")), Catch::Contains("work"));
  CHECK_THAT(parse_error(with_parameters(stored, "ln=14,r=0,p=1")), Catch::Contains("r=0"));
  CHECK(check_password("pw", with_parameters(stored, "ln=30,r=8,p=1")) == PasswordCheck::unusable);
  CHECK(check_password("pw", with_parameters(stored, "ln=20,r=1024,p=1024")) == PasswordCheck::unusable);
  CHECK_THAT(parse_error("$pbkdf2-sha256$i=999999999$MDEyMzQ1Njc4OWFiY2RlZg$vajIaozrb7q4x+G3R5Y+FIe07ZH3QEjPYV1bs8kEikU"),
             Catch::Contains("iterations"));
}

TEST_CASE("malformed stored hashes are refused with a reason", "[password_hash]") {
  auto stored = hash_password("pw", cheap);
  CHECK_THAT(parse_error(with_parameters(stored, "r=8,ln=10,p=1")), Catch::Contains("ln=N,r=N,p=N"));
  CHECK_THAT(parse_error(with_parameters(stored, "ln=10,r=8")), Catch::Contains("ln=N,r=N,p=N"));
  CHECK_THAT(parse_error(with_parameters(stored, "ln=10,r=8,p=1,x=2")), Catch::Contains("ln=N,r=N,p=N"));
  CHECK_THAT(parse_error(with_parameters(stored, "ln=-1,r=8,p=1")), Catch::Contains("ln=N,r=N,p=N"));
  CHECK_THAT(parse_error("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
             Catch::Contains("unknown hash scheme"));
  CHECK_THAT(parse_error("$scrypt$ln=10,r=8,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA"), Catch::Contains("salt has 4 bytes"));
  CHECK_THAT(parse_error("$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$aGFzaA"), Catch::Contains("hash has 4 bytes"));
  CHECK_THAT(parse_error("$scrypt$ln=10,r=8,p=1$c2Fs*HNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"), Catch::Contains("not base64"));
  CHECK_THAT(parse_error("plaintext"), Catch::Contains("$scheme$parameters$salt$hash"));
  CHECK_THAT(parse_error(stored + "$extra"), Catch::Contains("$scheme$parameters$salt$hash"));
  CHECK_THAT(parse_error(std::string(600, '$')), Catch::Contains("longer than"));
  CHECK(check_password("pw", "") == PasswordCheck::unusable);
}

TEST_CASE("needs_rehash flags hashes weaker than the defaults", "[password_hash]") {
  CHECK_FALSE(needs_rehash(hash_password("pw")));
  CHECK(needs_rehash(hash_password("pw", cheap)));
  CHECK(needs_rehash(hash_password("pw", {14, 4, 1})));
  CHECK_FALSE(needs_rehash(hash_password("pw", {15, 8, 1})));
  CHECK(needs_rehash(pbkdf2_phc));
  CHECK(needs_rehash("not a hash"));
  // A 14-byte salt is below our 16 even with default cost.
  CHECK(needs_rehash(rfc7914_hash));
}

TEST_CASE("passwords that could never be used are refused for storing", "[password_hash]") {
  CHECK(password_problem("fine").empty());
  CHECK_THAT(password_problem(""), Catch::Contains("empty"));
  CHECK_THAT(password_problem(std::string("a\0b", 3)), Catch::Contains("NUL"));
  CHECK_THAT(password_problem(std::string(max_password_length + 1, 'x')), Catch::Contains("longer"));
  CHECK_THROWS_AS(hash_password("pw", {40, 8, 1}), std::invalid_argument);
}

TEST_CASE("user names are validated and lower-cased", "[users_db]") {
  CHECK(normalize_user_name("Alice@Example.TEST") == "alice@example.test");
  CHECK(normalize_user_name("postmaster") == "postmaster");
  CHECK(normalize_user_name("first.last+tag@mail.example.org") == "first.last+tag@mail.example.org");
  std::string why;
  for (const char* bad : {"", "a b", "a@@b", "@example.test", "alice@", "alice@-x.test", "alice@x..test",
                          ".alice", "alice.", "al..ice", "a\"b", "alice@exa_mple.test", "alice@x.test."}) {
    INFO(bad);
    CHECK_FALSE(normalize_user_name(bad, &why));
    CHECK_FALSE(why.empty());
  }
  CHECK_FALSE(normalize_user_name(std::string(65, 'a')));
  CHECK(normalize_user_name(std::string(64, 'a')));
}

TEST_CASE("a new database file is created with mode 0600", "[users_db]") {
  TempDir tmp;
  auto path = tmp.path() / "db" / "users.sqlite";
  auto old_mask = ::umask(0);  // the mode must not depend on the caller's umask
  {
    auto db = create_db(path);
    db.add("alice", PasswordSetting::none());
  }
  ::umask(old_mask);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("opening a missing database without create fails", "[users_db]") {
  TempDir tmp;
  CHECK_THROWS_AS(UsersDb::open(tmp.path() / "users.sqlite", {}), sqlite::Error);
  CHECK_FALSE(fs::exists(tmp.path() / "users.sqlite"));
}

TEST_CASE("a file that is not a users database is refused", "[users_db]") {
  TempDir tmp;
  auto path = tmp.path() / "users.sqlite";
  std::ofstream(path) << "this is not SQLite, just some text long enough to be a header...........\n";
  CHECK_THROWS_WITH(UsersDb::open(path, {.create = true}), Catch::Contains("users.sqlite"));
}

TEST_CASE("a database from a newer imta is refused", "[users_db]") {
  TempDir tmp;
  auto path = tmp.path() / "users.sqlite";
  { create_db(path); }
  {
    auto raw = sqlite::Connection::open(path, {});
    raw.exec("PRAGMA user_version = 99");
  }
  CHECK_THROWS_WITH(UsersDb::open(path, {}), Catch::Contains("newer"));
}

TEST_CASE("users are added once, found case-insensitively, removed", "[users_db]") {
  TempDir tmp;
  auto db = create_db(tmp.path() / "users.sqlite");
  CHECK(db.add("Alice@Example.Test", PasswordSetting::plain("pw1")) == UsersDb::AddResult::added);
  CHECK(db.add("alice@example.test", PasswordSetting::none()) == UsersDb::AddResult::duplicate);
  CHECK(db.add("ALICE@EXAMPLE.TEST", PasswordSetting::plain("other")) == UsersDb::AddResult::duplicate);
  // The duplicate did not touch the first user's password.
  CHECK(db.verify("alice@example.test", "pw1") == VerifyResult::ok);

  auto alice = db.find("ALICE@example.test");
  REQUIRE(alice);
  CHECK(alice->name == "alice@example.test");
  CHECK(alice->has_password);
  CHECK(alice->enabled);
  CHECK(alice->created > 1'600'000'000);

  CHECK(db.remove("Alice@example.test"));
  CHECK_FALSE(db.remove("alice@example.test"));
  CHECK_FALSE(db.find("alice@example.test"));
  CHECK(db.verify("alice@example.test", "pw1") == VerifyResult::no_such_user);
}

TEST_CASE("bad names and passwords are refused, nothing is stored", "[users_db]") {
  TempDir tmp;
  auto db = create_db(tmp.path() / "users.sqlite");
  CHECK_THROWS_AS(db.add("not valid", PasswordSetting::none()), std::invalid_argument);
  CHECK_THROWS_AS(db.add("bob", PasswordSetting::plain("")), std::invalid_argument);
  CHECK_THROWS_AS(db.add("bob", PasswordSetting::hashed("$plain$text")), std::invalid_argument);
  CHECK(db.list().empty());
}

TEST_CASE("set_password changes, removes and imports passwords", "[users_db]") {
  TempDir tmp;
  auto db = create_db(tmp.path() / "users.sqlite");
  db.add("bob", PasswordSetting::plain("old"));
  CHECK(db.set_password("bob", PasswordSetting::plain("new")));
  CHECK(db.verify("bob", "old") == VerifyResult::wrong_password);
  CHECK(db.verify("bob", "new") == VerifyResult::ok);

  CHECK(db.set_password("bob", PasswordSetting::none()));
  CHECK_FALSE(db.find("bob")->has_password);
  CHECK(db.verify("bob", "new") == VerifyResult::no_password);

  CHECK(db.set_password("bob", PasswordSetting::hashed(pbkdf2_passlib)));
  CHECK(db.verify("bob", pbkdf2_password) == VerifyResult::ok);

  CHECK_FALSE(db.set_password("nobody", PasswordSetting::plain("x")));
}

TEST_CASE("verify reports each outcome and maps it to one AUTH reply", "[users_db]") {
  TempDir tmp;
  auto db = create_db(tmp.path() / "users.sqlite");
  db.add("carol@example.test", PasswordSetting::plain("right"));
  db.add("mailonly", PasswordSetting::none());

  CHECK(db.verify("Carol@Example.Test", "right") == VerifyResult::ok);
  CHECK(db.verify("carol@example.test", "wrong") == VerifyResult::wrong_password);
  CHECK(db.verify("dave@example.test", "right") == VerifyResult::no_such_user);
  CHECK(db.verify("not a name", "right") == VerifyResult::no_such_user);
  CHECK(db.verify("mailonly", "") == VerifyResult::no_password);

  CHECK(db.set_enabled("carol@example.test", false));
  CHECK(db.verify("carol@example.test", "right") == VerifyResult::disabled);
  CHECK(db.verify("carol@example.test", "wrong") == VerifyResult::wrong_password);
  CHECK_FALSE(db.find("carol@example.test")->enabled);
  CHECK(db.set_enabled("carol@example.test", true));
  CHECK(db.verify("carol@example.test", "right") == VerifyResult::ok);
  CHECK_FALSE(db.set_enabled("nobody", false));

  CHECK(auth_reply(VerifyResult::ok).code == 235);
  CHECK(auth_reply(VerifyResult::unavailable).code == 454);
  CHECK(std::string(auth_reply(VerifyResult::unavailable).status) == "4.7.0");
  for (auto failure : {VerifyResult::no_such_user, VerifyResult::wrong_password, VerifyResult::disabled,
                       VerifyResult::no_password, VerifyResult::unusable_hash}) {
    CHECK(auth_reply(failure).code == 535);
    CHECK(std::string(auth_reply(failure).status) == "5.7.8");
  }
}

TEST_CASE("a tampered stored hash fails the login without costly work", "[users_db]") {
  TempDir tmp;
  auto path = tmp.path() / "users.sqlite";
  auto db = create_db(path);
  db.add("eve", PasswordSetting::plain("pw"));
  {
    auto raw = sqlite::Connection::open(path, {});
    raw.exec("UPDATE users SET password_hash = '$scrypt$ln=30,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA' "
             "WHERE name = 'eve'");
  }
  CHECK(db.verify("eve", "pw") == VerifyResult::unusable_hash);
}

TEST_CASE("verify with upgrade replaces a weak hash by a default one", "[users_db]") {
  TempDir tmp;
  auto db = create_db(tmp.path() / "users.sqlite");
  db.add("frank", PasswordSetting::hashed(pbkdf2_phc));
  CHECK(db.verify("frank", pbkdf2_password) == VerifyResult::ok);
  CHECK(*db.credentials("frank").password_hash == pbkdf2_phc);  // no upgrade unless asked

  CHECK(db.verify("frank", "wrong", true) == VerifyResult::wrong_password);
  CHECK(*db.credentials("frank").password_hash == pbkdf2_phc);  // never on a failed login

  CHECK(db.verify("frank", pbkdf2_password, true) == VerifyResult::ok);
  auto upgraded = *db.credentials("frank").password_hash;
  CHECK(upgraded.starts_with("$scrypt$ln=14,r=8,p=1$"));
  CHECK_FALSE(needs_rehash(upgraded));
  CHECK(db.verify("frank", pbkdf2_password) == VerifyResult::ok);
}

TEST_CASE("recipients match a full address first, then the local part in local domains", "[users_db]") {
  TempDir tmp;
  auto db = create_db(tmp.path() / "users.sqlite");
  db.add("alice", PasswordSetting::none());
  db.add("bob@example.test", PasswordSetting::none());
  db.add("carol", PasswordSetting::none());
  db.add("carol@example.org", PasswordSetting::none());
  const std::vector<std::string> local = {"example.test", "Example.ORG"};

  CHECK(db.find_recipient("alice@example.test", local).user == "alice");
  CHECK(db.find_recipient("ALICE@EXAMPLE.org", local).user == "alice");
  CHECK(db.find_recipient("alice", local).user == "alice");
  CHECK(db.find_recipient("alice@elsewhere.net", local).status == RecipientStatus::unknown);

  CHECK(db.find_recipient("Bob@Example.Test", local).user == "bob@example.test");
  CHECK(db.find_recipient("bob@example.org", local).status == RecipientStatus::unknown);
  CHECK(db.find_recipient("bob", local).status == RecipientStatus::unknown);

  CHECK(db.find_recipient("carol@example.org", local).user == "carol@example.org");
  CHECK(db.find_recipient("carol@example.test", local).user == "carol");

  CHECK_FALSE(db.exists("dave@example.test", local));
  CHECK_FALSE(db.exists("", local));
  CHECK_FALSE(db.exists("@example.test", local));
  CHECK_FALSE(db.exists("\"alice\"@example.test", local));
  CHECK_FALSE(db.exists("alice@example.test", {}));  // no local domains: whole address only
  CHECK(db.exists("alice@example.test", local));
}

TEST_CASE("a disabled user still receives mail", "[users_db]") {
  TempDir tmp;
  auto db = create_db(tmp.path() / "users.sqlite");
  db.add("gina", PasswordSetting::plain("pw"));
  db.set_enabled("gina", false);
  const std::vector<std::string> local = {"example.test"};
  auto match = db.find_recipient("gina@example.test", local);
  CHECK(match.status == RecipientStatus::found);
  CHECK_FALSE(match.enabled);
}

TEST_CASE("list returns every user in name order", "[users_db]") {
  TempDir tmp;
  auto db = create_db(tmp.path() / "users.sqlite");
  CHECK(db.list().empty());
  db.add("zed", PasswordSetting::plain("pw"));
  db.add("Adam@Example.Test", PasswordSetting::none());
  db.add("mia", PasswordSetting::none());
  db.set_enabled("mia", false);
  auto users = db.list();
  REQUIRE(users.size() == 3);
  CHECK(users[0].name == "adam@example.test");
  CHECK_FALSE(users[0].has_password);
  CHECK(users[1].name == "mia");
  CHECK_FALSE(users[1].enabled);
  CHECK(users[2].name == "zed");
  CHECK(users[2].has_password);
  CHECK(users[2].enabled);
}

TEST_CASE("changes persist when the database is reopened", "[users_db]") {
  TempDir tmp;
  auto path = tmp.path() / "users.sqlite";
  {
    auto db = create_db(path);
    db.add("henry", PasswordSetting::plain("pw"));
    db.add("ivy", PasswordSetting::none());
    db.remove("ivy");
  }
  auto db = UsersDb::open(path, {});
  CHECK(db.verify("henry", "pw") == VerifyResult::ok);
  CHECK_FALSE(db.find("ivy"));
}

TEST_CASE("two handles on one file see each other's changes", "[users_db]") {
  TempDir tmp;
  auto path = tmp.path() / "users.sqlite";
  auto first = create_db(path);
  auto second = UsersDb::open(path, {});
  const std::vector<std::string> local = {"example.test"};

  first.add("jack", PasswordSetting::plain("one"));
  CHECK(second.exists("jack@example.test", local));
  CHECK(second.verify("jack", "one") == VerifyResult::ok);

  second.set_password("jack", PasswordSetting::plain("two"));
  CHECK(first.verify("jack", "two") == VerifyResult::ok);
  CHECK(second.add("jack", PasswordSetting::none()) == UsersDb::AddResult::duplicate);

  second.remove("jack");
  CHECK_FALSE(first.exists("jack@example.test", local));
}

TEST_CASE("a broken database answers unavailable instead of throwing", "[users_db]") {
  TempDir tmp;
  auto path = tmp.path() / "users.sqlite";
  auto db = create_db(path);
  db.add("kim", PasswordSetting::plain("pw"));
  // Someone breaks the schema under the running program.
  sqlite::Connection::open(path, {}).exec("ALTER TABLE users RENAME TO broken");
  const std::vector<std::string> local = {"example.test"};
  auto match = db.find_recipient("kim@example.test", local);
  CHECK(match.status == RecipientStatus::unavailable);
  CHECK_THAT(match.error, Catch::Contains("users"));
  CHECK(db.verify("kim", "pw") == VerifyResult::unavailable);
  CHECK(db.credentials("kim").status == Credentials::Status::unavailable);
  CHECK_THROWS_AS(db.list(), sqlite::Error);
}
