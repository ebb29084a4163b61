// The l (Maildir), bitbucket and hold masters on a real instance directory:
// the default configuration of `imta init` written to a temporary root,
// users in its users database, messages enqueued with queue::Store and
// claimed as the job controller would, then checked on disk.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "channels/bitbucket/bitbucket_master.hpp"
#include "channels/hold/hold_master.hpp"
#include "channels/local/local_master.hpp"
#include "channels/local/mailbox_path.hpp"
#include "channels/local/maildir.hpp"
#include "config/default_files.hpp"
#include "config/snapshot.hpp"
#include "core/users_db.hpp"
#include "queue/submit.hpp"

using namespace imta;
using imta::queue::RecipientStatus;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

/// Regular files directly in `dir` (none if it does not exist).
std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file()) out.push_back(e.path());
  return out;
}

std::string fill(std::string_view text, const fs::path& root) {
  std::string s(text);
  for (auto [from, to] : {std::pair<std::string, std::string>{"{{DOMAIN}}", "example.test"},
                          {"{{HOSTNAME}}", "mail.example.test"},
                          {"{{ROOT}}", root.string()}})
    for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
      s.replace(p, from.size(), to);
  return s;
}

const std::string kMessage =
    "From: Sender <sender@remote.example>\r\n"
    "To: alice@example.test\r\n"
    "Subject: hello\r\n"
    "Message-ID: <m1@remote.example>\r\n"
    "\r\n"
    "line one\r\n"
    "\r\n"
    ".a line with a dot\r\n"
    "a bare\rCR stays\r\n";

/// The message as it lands in a Maildir (LF line ends).
const std::string kMessageLf =
    "From: Sender <sender@remote.example>\n"
    "To: alice@example.test\n"
    "Subject: hello\n"
    "Message-ID: <m1@remote.example>\n"
    "\n"
    "line one\n"
    "\n"
    ".a line with a dot\n"
    "a bare\rCR stays\n";

/// A temporary instance: default configuration, a queue, a users database.
/// Everything is removed afterwards.
struct Instance {
  fs::path root;
  std::shared_ptr<const config::Snapshot> snapshot;
  std::unique_ptr<queue::Store> store;
  std::unique_ptr<queue::Submitter> submitter;
  core::Instance core_instance{""};
  std::vector<std::string> traces;

  explicit Instance(const std::string& aliases_extra = {}, const std::string& l_option = {}) {
    std::string tmpl = (fs::temp_directory_path() / "imta-local-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    root = tmpl;
    core_instance = core::Instance(root);
    for (const char* d : {"config", "queue", "log", "db"}) fs::create_directories(root / d);
    for (const auto& f : config::default_files())
      write_file(root / "config" / std::string(f.name), fill(f.contents, root));
    if (!aliases_extra.empty()) {
      std::ofstream(root / "config" / "aliases", std::ios::app) << aliases_extra;
    }
    if (!l_option.empty()) write_file(root / "config" / "l_option", l_option);
    config::Diagnostics diags;
    auto snap = config::load_configuration(root / "config", diags);
    for (const auto& item : diags.items()) INFO(item.str());
    REQUIRE(diags.ok());
    snapshot = std::make_shared<const config::Snapshot>(std::move(snap));
    queue::StoreOptions o;
    o.root = root / "queue";
    o.sync = queue::SyncMode::per_file;
    o.subdirs = [](std::string_view) { return 0u; };
    store = std::make_unique<queue::Store>(o);
    submitter = std::make_unique<queue::Submitter>(snapshot, *store, nullptr, nullptr);
  }
  ~Instance() {
    std::error_code ec;
    // Undo permission changes a test made, so that everything can go.
    for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator(); ++it)
      if (it->is_directory(ec)) ::chmod(it->path().c_str(), 0700);
    fs::remove_all(root, ec);
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  void add_users(std::initializer_list<std::string_view> names) {
    auto db = core::UsersDb::open(core::users_db_path(core_instance), {.create = true, .busy_timeout_ms = 5000});
    for (auto n : names) REQUIRE(db.add(n, core::PasswordSetting::none()) == core::UsersDb::AddResult::added);
  }

  fs::path maildir(const std::string& domain, const std::string& user) const {
    return root / "mailboxes" / domain / user / "Maildir";
  }

  /// Enqueues `message` for `recipients` to `channel`; returns the queue id.
  std::string enqueue(const std::string& channel, const std::vector<std::string>& recipients,
                      const std::string& from = "sender@remote.example", const std::string& message = kMessage) {
    core::Envelope e;
    e.from = from;
    e.source_channel = "tcp_local";
    e.client_ip = "192.0.2.9";
    e.received_ms = 1795000000000;
    e.message_id = "<m1@remote.example>";
    for (const auto& r : recipients) e.recipients.push_back({r, "orig-" + r, 0, "rfc822;" + r});
    std::error_code error;
    auto t = store->begin({queue::Copy{channel, e}}, error);
    REQUIRE(t);
    REQUIRE_FALSE(error);
    REQUIRE_FALSE(t->write(message));
    REQUIRE_FALSE(t->commit());
    return t->id();
  }

  queue::Claim claim(const std::string& id, const std::string& channel) {
    auto entry = store->find(id, channel);
    REQUIRE(entry);
    auto c = store->claim(*entry);
    REQUIRE(c);
    return std::move(*c);
  }

  queue::MasterServices services() {
    queue::MasterServices s;
    s.instance = &core_instance;
    s.snapshot = snapshot;
    s.store = store.get();
    s.submitter = submitter.get();
    s.now_ms = [] { return std::int64_t{1795000100000}; };
    s.trace = [this](std::string_view line) { traces.emplace_back(line); };
    return s;
  }

  queue::DeliveryReport run(const std::string& channel, const std::string& id) {
    auto services_ = services();
    std::unique_ptr<queue::Master> master;
    if (channel == "l") master = channels::local::make_master(channel, services_);
    else if (channel == "bitbucket") master = channels::bitbucket::make_master(channel, services_);
    else master = channels::hold::make_master(channel, services_);
    REQUIRE(master);
    auto c = claim(id, channel);
    auto report = master->deliver(c);
    master->idle();
    REQUIRE(report.recipients.size() == c.file().envelope.recipients.size());
    return report;
  }
};

}  // namespace

// ---- pure parts -------------------------------------------------------------

TEST_CASE("Maildir bytes: Return-Path and Delivered-To first, CRLF turned into LF", "[local]") {
  using channels::local::maildir_bytes;
  CHECK(maildir_bytes("a@b.example", "c@d.example", "Subject: x\r\n\r\nbody\r\n") ==
        "Return-Path: <a@b.example>\nDelivered-To: c@d.example\nSubject: x\n\nbody\n");
  // A notification: empty sender.
  CHECK(maildir_bytes("", "c@d.example", "S: x\r\n\r\n") == "Return-Path: <>\nDelivered-To: c@d.example\nS: x\n\n");
  // Lone CR and LF are kept; a CR at the very end too.
  CHECK(maildir_bytes("", "x", "a\rb\nc\r") == "Return-Path: <>\nDelivered-To: x\na\rb\nc\r");
}

TEST_CASE("Maildir file names are time.pid_counter.host and never repeat", "[local]") {
  using channels::local::maildir_unique_name;
  auto a = maildir_unique_name(1795000000);
  auto b = maildir_unique_name(1795000000);
  CHECK(a != b);
  std::string prefix = "1795000000." + std::to_string(::getpid()) + "_";
  CHECK(a.rfind(prefix, 0) == 0);
  CHECK(a.ends_with("." + channels::local::maildir_host_name()));
  CHECK(channels::local::maildir_host_name().find_first_of("/:") == std::string::npos);
}

TEST_CASE("MAILDIR_TEMPLATE: substitutions, relative paths, checks", "[local]") {
  using namespace channels::local;
  fs::path root = "/srv/imta";
  auto owner = mailbox_owner("Alice", "Example.TEST");
  CHECK(owner.user == "alice");
  CHECK(owner.domain == "example.test");
  auto full = mailbox_owner("bob@other.example", "example.test");
  CHECK(full.user == "bob");
  CHECK(full.domain == "other.example");

  CHECK(maildir_path(default_maildir_template, root, owner) == fs::path("/srv/imta/mailboxes/example.test/alice/Maildir"));
  CHECK(maildir_path("/home/$U/Maildir/", root, owner) == fs::path("/home/alice/Maildir/"));
  CHECK(maildir_path("mail/$D/$U", root, owner) == fs::path("/srv/imta/mail/example.test/alice"));
  CHECK(maildir_path("$R/$$/$U", root, owner) == fs::path("/srv/imta/$/alice"));
  // A slash in a local part cannot make a folder of its own.
  CHECK(maildir_path("$R/m/$U", root, {"a/b", "example.test"}) == fs::path("/srv/imta/m/a\\057b"));

  CHECK(check_maildir_template(default_maildir_template).empty());
  CHECK(check_maildir_template("") != "");
  CHECK(check_maildir_template("/var/mail/$D") != "");       // no $U
  CHECK(check_maildir_template("/var/mail/$X/$U") != "");    // unknown
  CHECK(check_maildir_template("/var/mail/$U$") != "");      // $ at the end
  std::string error;
  CHECK_FALSE(maildir_path("/m/$D/$U", root, {"..", "example.test"}, &error));
  CHECK(error.find("..") != std::string::npos);
  CHECK_FALSE(maildir_path("/m/$U/$X", root, owner, &error));
  CHECK(error.find("MAILDIR_TEMPLATE") != std::string::npos);
}

// ---- l ------------------------------------------------------------------------

TEST_CASE("l delivers into the user's Maildir: exact bytes, modes, nothing left in tmp", "[local]") {
  Instance inst;
  inst.add_users({"alice"});
  auto id = inst.enqueue("l", {"alice@example.test"});
  auto report = inst.run("l", id);
  REQUIRE(report.recipients.size() == 1);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK_FALSE(report.hold);
  CHECK(report.log_dequeue);

  auto md = inst.maildir("example.test", "alice");
  auto files = files_in(md / "new");
  REQUIRE(files.size() == 1);
  CHECK(read_file(files[0]) ==
        "Return-Path: <sender@remote.example>\nDelivered-To: alice@example.test\n" + kMessageLf);
  CHECK(mode_of(files[0]) == 0600);
  for (const char* d : {"", "tmp", "new", "cur"}) CHECK(mode_of(md / d) == 0700);
  CHECK(mode_of(inst.root / "mailboxes") == 0700);
  CHECK(files_in(md / "tmp").empty());
  CHECK(files_in(md / "cur").empty());
  // Maildir names: time.pid_counter.host.
  auto name = files[0].filename().string();
  CHECK(name.find("." + std::to_string(::getpid()) + "_") != std::string::npos);

  // A second message goes next to it.
  auto id2 = inst.enqueue("l", {"ALICE@example.test"}, "");
  auto report2 = inst.run("l", id2);
  CHECK(report2.recipients[0].status == RecipientStatus::delivered);
  files = files_in(md / "new");
  REQUIRE(files.size() == 2);
  int notifications = 0;
  for (const auto& f : files)
    if (read_file(f) == "Return-Path: <>\nDelivered-To: ALICE@example.test\n" + kMessageLf) ++notifications;
  CHECK(notifications == 1);
  CHECK(files_in(md / "tmp").empty());
}

TEST_CASE("l: a user missing at delivery time bounces 5.1.1; the others are delivered", "[local]") {
  Instance inst;
  inst.add_users({"alice", "carol@example.test"});
  auto id = inst.enqueue("l", {"alice@example.test", "bob@example.test", "carol@example.test"});
  auto report = inst.run("l", id);
  REQUIRE(report.recipients.size() == 3);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(report.recipients[1].status == RecipientStatus::bounced);
  CHECK(report.recipients[1].dsn_status == "5.1.1");
  CHECK(report.recipients[1].log_diagnostics == "no such user: bob@example.test");
  CHECK(report.recipients[1].diagnostic_code == "x-local; no such user: bob@example.test");
  CHECK(report.recipients[2].status == RecipientStatus::delivered);
  CHECK(files_in(inst.maildir("example.test", "alice") / "new").size() == 1);
  CHECK(files_in(inst.maildir("example.test", "carol") / "new").size() == 1);
  CHECK_FALSE(fs::exists(inst.maildir("example.test", "bob")));
}

TEST_CASE("l: without a users database every recipient is unknown", "[local]") {
  Instance inst;
  auto id = inst.enqueue("l", {"alice@example.test"});
  auto report = inst.run("l", id);
  CHECK(report.recipients[0].status == RecipientStatus::bounced);
  CHECK(report.recipients[0].dsn_status == "5.1.1");
  CHECK_FALSE(fs::exists(inst.root / "mailboxes"));
}

TEST_CASE("l: one copy per mailbox when a user is named twice in a file", "[local]") {
  Instance inst;
  inst.add_users({"alice"});
  // A bare user receives for every local domain: both addresses are alice's.
  auto id = inst.enqueue("l", {"alice@example.test", "alice@mail.example.test"});
  auto report = inst.run("l", id);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(report.recipients[1].status == RecipientStatus::delivered);
  auto files = files_in(inst.maildir("example.test", "alice") / "new");
  REQUIRE(files.size() == 1);
  CHECK(read_file(files[0]).find("Delivered-To: alice@example.test\n") != std::string::npos);
}

TEST_CASE("l: MAILDIR_TEMPLATE in l_option says where mailboxes are", "[local]") {
  Instance inst({}, "MAILDIR_TEMPLATE=homes/$U/mail@$D\n");
  inst.add_users({"alice"});
  auto id = inst.enqueue("l", {"alice@example.test"});
  auto report = inst.run("l", id);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(files_in(inst.root / "homes" / "alice" / "mail@example.test" / "new").size() == 1);
  CHECK_FALSE(fs::exists(inst.root / "mailboxes"));
}

TEST_CASE("l: a mailbox that cannot be written defers the recipient with the error", "[local]") {
  Instance inst;
  inst.add_users({"alice", "carol"});
  auto md = inst.maildir("example.test", "alice");
  fs::create_directories(md);
  // new/ is a file: the Maildir is broken (whoever runs the test, root too).
  write_file(md / "new", "not a folder");
  auto id = inst.enqueue("l", {"alice@example.test", "carol@example.test"});
  auto report = inst.run("l", id);
  CHECK(report.recipients[0].status == RecipientStatus::deferred);
  CHECK(report.recipients[0].dsn_status == "4.2.0");
  CHECK(report.recipients[0].log_diagnostics.find((md / "new").string()) != std::string::npos);
  CHECK(report.recipients[0].log_diagnostics.find("Not a directory") != std::string::npos);
  CHECK(report.recipients[1].status == RecipientStatus::delivered);
  CHECK(files_in(md / "tmp").empty());

  if (::geteuid() != 0) {
    // Permission denied (root would pass through).
    fs::remove(md / "new");
    fs::create_directory(md / "new");
    ::chmod((md / "new").c_str(), 0700);
    ::chmod((md / "tmp").c_str(), 0500);
    auto id2 = inst.enqueue("l", {"alice@example.test"});
    auto r2 = inst.run("l", id2);
    CHECK(r2.recipients[0].status == RecipientStatus::deferred);
    CHECK(r2.recipients[0].dsn_status == "4.2.0");
    CHECK(r2.recipients[0].log_diagnostics.find("Permission denied") != std::string::npos);
    ::chmod((md / "tmp").c_str(), 0700);
    CHECK(files_in(md / "new").empty());
  }
}

TEST_CASE("l: an alias that now points outside is re-enqueued there, members here delivered", "[local]") {
  Instance inst("alice: carol, bob@elsewhere.example\n");
  inst.add_users({"alice", "carol"});
  auto id = inst.enqueue("l", {"alice@example.test"});
  auto report = inst.run("l", id);
  REQUIRE(report.recipients.size() == 1);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  // carol got it here, alice did not (she is an alias now).
  auto carol = files_in(inst.maildir("example.test", "carol") / "new");
  REQUIRE(carol.size() == 1);
  CHECK(read_file(carol[0]).find("Delivered-To: carol@example.test\n") != std::string::npos);
  CHECK_FALSE(fs::exists(inst.maildir("example.test", "alice")));
  // bob's copy waits in tcp_local, as a message of the l channel.
  std::vector<queue::QueueEntry> out;
  queue::ScanOptions only_tcp_local;
  only_tcp_local.channel = "tcp_local";
  inst.store->scan(only_tcp_local, [&](const queue::QueueEntry& e) { out.push_back(e); });
  REQUIRE(out.size() == 1);
  auto parsed = inst.store->read(out[0]);
  REQUIRE(parsed.envelope.recipients.size() == 1);
  CHECK(parsed.envelope.recipients[0].active == "bob@elsewhere.example");
  CHECK(parsed.envelope.recipients[0].original == "orig-alice@example.test");
  CHECK(parsed.envelope.recipients[0].orcpt == "rfc822;alice@example.test");
  CHECK(parsed.envelope.source_channel == "l");
  CHECK(parsed.envelope.from == "sender@remote.example");
  auto c = inst.store->claim(out[0]);
  REQUIRE(c);
  CHECK(c->message() == kMessage);
}

TEST_CASE("l: an alias that names itself was expanded on arrival: delivered here only", "[local]") {
  Instance inst("alice: alice, bob@elsewhere.example\n");
  inst.add_users({"alice"});
  auto id = inst.enqueue("l", {"alice@example.test"});
  auto report = inst.run("l", id);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(files_in(inst.maildir("example.test", "alice") / "new").size() == 1);
  CHECK_FALSE(fs::exists(inst.root / "queue" / "tcp_local"));
}

TEST_CASE("l: an alias whose local member is no user bounces 5.1.1, nothing delivered", "[local]") {
  Instance inst("team: carol, dave\n");
  inst.add_users({"carol"});
  auto id = inst.enqueue("l", {"team@example.test"});
  auto report = inst.run("l", id);
  CHECK(report.recipients[0].status == RecipientStatus::bounced);
  CHECK(report.recipients[0].dsn_status == "5.1.1");
  CHECK(report.recipients[0].log_diagnostics.find("dave@example.test") != std::string::npos);
  CHECK_FALSE(fs::exists(inst.maildir("example.test", "carol")));
}

// ---- bitbucket and hold ---------------------------------------------------------

TEST_CASE("bitbucket reports every recipient delivered and writes nothing", "[bitbucket]") {
  Instance inst;
  auto id = inst.enqueue("bitbucket", {"a@remote.example", "b@remote.example"});
  auto report = inst.run("bitbucket", id);
  REQUIRE(report.recipients.size() == 2);
  for (const auto& r : report.recipients) CHECK(r.status == RecipientStatus::delivered);
  CHECK_FALSE(report.hold);
  CHECK(report.log_dequeue);
  CHECK_FALSE(fs::exists(inst.root / "mailboxes"));
  // The queue file is untouched: queue/ acts on the report, not the master.
  CHECK(inst.store->find(id, "bitbucket"));
}

TEST_CASE("hold asks for the file to be held", "[hold]") {
  Instance inst;
  auto id = inst.enqueue("hold", {"a@remote.example"});
  auto report = inst.run("hold", id);
  CHECK(report.hold);
  CHECK(report.recipients.size() == 1);
  auto entry = inst.store->find(id, "hold");
  REQUIRE(entry);
  CHECK_FALSE(entry->held);
}

TEST_CASE("imta cnbuild refuses a MAILDIR_TEMPLATE without $U or with an unknown $x", "[local]") {
  Instance inst;
  for (auto [value, complaint] : {std::pair<std::string, std::string>{"/var/mail/$D", "no $U"},
                                  {"/var/mail/$U/$Q", "unknown substitution $Q"}}) {
    write_file(inst.root / "config" / "l_option", "MAILDIR_TEMPLATE=" + value + "\n");
    config::Diagnostics diags;
    config::load_configuration(inst.root / "config", diags);
    CHECK_FALSE(diags.ok());
    bool named = false;
    for (const auto& item : diags.items())
      if (item.str().find(complaint) != std::string::npos && item.str().find("l_option") != std::string::npos)
        named = true;
    CHECK(named);
  }
  write_file(inst.root / "config" / "l_option", "MAILDIR_TEMPLATE=/var/mail/$D/$U\n");
  config::Diagnostics diags;
  auto snap = config::load_configuration(inst.root / "config", diags);
  CHECK(diags.ok());
  CHECK(snap.channel_options.at("l").text("MAILDIR_TEMPLATE") == "/var/mail/$D/$U");
}
