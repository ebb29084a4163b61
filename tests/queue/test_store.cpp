#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "queue/crash_message.hpp"
#include "queue/fd.hpp"
#include "queue/store.hpp"

using namespace imta::queue;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using imta::core::Envelope;
using imta::core::Recipient;

extern char** environ;

namespace {

/// A queue/ folder in a temporary directory, removed afterwards.
struct TempQueue {
  fs::path base;
  fs::path root;
  TempQueue() {
    std::string tmpl = (fs::temp_directory_path() / "imta-store-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    base = tmpl;
    root = base / "queue";
    fs::create_directory(root);
  }
  ~TempQueue() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }
  TempQueue(const TempQueue&) = delete;
  TempQueue& operator=(const TempQueue&) = delete;
};

StoreOptions options_for(const fs::path& root, SyncMode mode = SyncMode::group) {
  StoreOptions o;
  o.root = root;
  o.sync = mode;
  o.subdirs = [](std::string_view channel) { return channel == "l" ? 16u : 0u; };
  o.stale_temp_age = 0s;
  o.incomplete_grace = 0s;
  return o;
}

Envelope envelope_for(std::vector<std::string> recipients, std::string from = "sender@example.org") {
  Envelope e;
  e.from = std::move(from);
  e.source_channel = "tcp_local";
  e.client_ip = "192.0.2.9";
  e.received_ms = 1795000000000;
  e.message_id = "<m@example.org>";
  for (auto& r : recipients) e.recipients.push_back({r, r, 0, ""});
  return e;
}

/// Enqueues `message` to `channels` (one copy each) and returns the paths.
std::vector<QueuePath> enqueue(Store& store, const std::vector<std::string>& channels, const std::string& message,
                               const Envelope& envelope = envelope_for({"rcpt@example.net"})) {
  std::vector<Copy> copies;
  for (const auto& c : channels) copies.push_back({c, envelope});
  std::error_code error;
  auto t = store.begin(copies, error);
  REQUIRE(t);
  REQUIRE_FALSE(error);
  REQUIRE_FALSE(t->write(message));
  std::vector<QueuePath> committed;
  auto e = t->commit(&committed);
  INFO(e.message());
  REQUIRE_FALSE(e);
  return committed;
}

/// A transaction of one tcp_local copy with its message written, not yet committed.
std::unique_ptr<Transaction> written_transaction(Store& store) {
  std::error_code error;
  auto t = store.begin({{"tcp_local", envelope_for({"r@example.net"})}}, error);
  REQUIRE(t);
  REQUIRE_FALSE(t->write("hello\r\n"));
  return t;
}

/// Every regular file under `root` (hidden ones too), as paths relative to it.
std::set<std::string> files_under(const fs::path& root) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file()) out.insert(fs::relative(it->path(), root).string());
  return out;
}

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

std::vector<QueueEntry> scan_all(const Store& store, ScanOptions so = {}, std::vector<std::string>* notes = nullptr) {
  std::vector<QueueEntry> out;
  store.scan(so, [&](const QueueEntry& e) { out.push_back(e); },
             [&](std::string_view n) {
               if (notes) notes->emplace_back(n);
             });
  return out;
}

HistoryRecord deferred(std::string rcpt, std::string why) {
  return {1795000100000, Outcome::deferred, std::move(rcpt), std::move(why)};
}

}  // namespace

// --- ids ---------------------------------------------------------------------

TEST_CASE("queue ids are 18 base-36 characters that carry their creation time", "[store]") {
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  auto id = new_queue_id();
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(id.size() == 18);
  CHECK(id.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos);
  auto ms = id_time_ms(id);
  REQUIRE(ms);
  CHECK(*ms >= before);
  CHECK(*ms <= after);
  CHECK_FALSE(id_time_ms("ABC"));
  CHECK_FALSE(id_time_ms("01IS3D2ZP7FQ9UN54r"));
  // A valid file name around it.
  auto name = parse_queue_file_name(QueueFileName{0, id, false}.str());
  REQUIRE(name);
  CHECK(name->id == id);
}

TEST_CASE("queue ids never repeat, across threads and processes", "[store]") {
  std::vector<std::vector<std::string>> per_thread(8);
  std::vector<std::thread> threads;
  for (auto& ids : per_thread)
    threads.emplace_back([&ids] {
      for (int i = 0; i < 5000; ++i) ids.push_back(new_queue_id());
    });
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& ids : per_thread) all.insert(ids.begin(), ids.end());
  // A child process started now makes ids of its own in the same milliseconds.
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    for (int i = 0; i < 5000; ++i) {
      auto line = new_queue_id() + "\n";
      if (::write(pipe_fds[1], line.data(), line.size()) < 0) ::_exit(1);
    }
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::istringstream lines(text);
  std::size_t child_ids = 0;
  // Characters 10 to 14 are the process: the child's own pid, not the
  // parent's (the pid is remembered, and refreshed in a forked child).
  auto process_part = [](std::string_view id) {
    std::uint64_t n = 0;
    for (char c : id.substr(9, 5)) n = n * 36 + static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'A' + 10);
    return n;
  };
  const std::uint64_t modulus = 36ull * 36 * 36 * 36 * 36;
  std::size_t child_pid_ids = 0;
  for (std::string line; std::getline(lines, line); ++child_ids) {
    all.insert(line);
    if (process_part(line) == static_cast<std::uint64_t>(pid) % modulus) ++child_pid_ids;
  }
  CHECK(child_ids == 5000);
  CHECK(child_pid_ids == 5000);
  CHECK(process_part(new_queue_id()) == static_cast<std::uint64_t>(::getpid()) % modulus);
  CHECK(all.size() == 8 * 5000 + 5000);
}

// --- enqueue -------------------------------------------------------------------

TEST_CASE("an enqueue writes one durable file per channel copy and nothing else", "[store]") {
  auto [mode, barrier] = GENERATE(std::pair{SyncMode::group, GroupBarrier::syncfs},
                                  std::pair{SyncMode::group, GroupBarrier::fdatasync},
                                  std::pair{SyncMode::per_file, GroupBarrier::syncfs});
  TempQueue q;
  auto opts = options_for(q.root, mode);
  opts.group_barrier = barrier;
  Store store(opts);
  const std::string message = "Subject: test\r\n\r\nline one\r\n.leading dot\r\n";
  auto envelope = envelope_for({"a@example.net", "b@example.net"});
  envelope.auth_user = "alice smith";

  std::vector<Copy> copies{{"tcp_local", envelope}, {"l", envelope}};
  std::error_code error;
  auto t = store.begin(copies, error);
  REQUIRE(t);
  const std::string id = t->id();
  // Streamed in pieces, as an SMTP server hands lines over.
  for (std::size_t i = 0; i < message.size(); i += 5) REQUIRE_FALSE(t->write(message.substr(i, 5)));
  std::vector<QueuePath> committed;
  REQUIRE_FALSE(t->commit(&committed));
  t.reset();

  REQUIRE(committed.size() == 2);
  CHECK(committed[0].channel == "tcp_local");
  CHECK(committed[0].name.str() == "ZZ" + id + ".00");
  CHECK(committed[0].path == q.root / "tcp_local" / ("ZZ" + id + ".00"));
  // `l` has subdirs 16: a three-digit subfolder below 016.
  CHECK(committed[1].channel == "l");
  CHECK(committed[1].name.id == id);
  const fs::path second = committed[1].path;
  auto sub = second.parent_path().filename().string();
  CHECK(second.parent_path().parent_path() == q.root / "l");
  CHECK(sub.size() == 3);
  CHECK(std::stoi(sub) < 16);

  // Exactly the two files exist: no temporaries left.
  CHECK(files_under(q.root) == std::set<std::string>{"tcp_local/ZZ" + id + ".00", "l/" + sub + "/ZZ" + id + ".00"});

  for (const auto& c : committed) {
    auto parsed = parse_file(read_file(c.path));
    REQUIRE(parsed.status == ParseStatus::ok);
    CHECK(parsed.envelope.size == message.size());
    CHECK(parsed.envelope.auth_user == "alice smith");
    CHECK(parsed.envelope.recipients.size() == 2);
    CHECK(read_file(c.path).substr(parsed.message_offset, message.size()) == message);
  }
}

TEST_CASE("the same id always lands in the same subfolder", "[store]") {
  TempQueue q;
  auto opts = options_for(q.root);
  Store store(opts);
  auto first = enqueue(store, {"l"}, "x\r\n");
  // Another store (another process would do the same) finds it where the
  // id says, and a second message with another id may land elsewhere.
  Store again(opts);
  auto found = again.find(first[0].name.id, "l");
  REQUIRE(found);
  CHECK(found->path == first[0].path);
}

TEST_CASE("a large message written in one call and in many is stored byte for byte", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  std::string message;
  for (int i = 0; message.size() < 300000; ++i) message += "line " + std::to_string(i) + " \x01\x7f\xff\r\n";
  std::error_code error;
  auto t = store.begin({{"tcp_local", envelope_for({"r@example.net"})}}, error);
  REQUIRE(t);
  REQUIRE_FALSE(t->write(message.substr(0, 200000)));  // one call larger than the buffer
  for (std::size_t i = 200000; i < message.size(); i += 1000) REQUIRE_FALSE(t->write(message.substr(i, 1000)));
  std::vector<QueuePath> committed;
  REQUIRE_FALSE(t->commit(&committed));
  auto found = store.find(committed[0].name.str());
  REQUIRE(found);
  auto claim = store.claim(*found);
  REQUIRE(claim);
  CHECK(claim->message() == message);
}

TEST_CASE("commit_async calls back from the commit thread once the file is durable", "[store]") {
  auto mode = GENERATE(SyncMode::group, SyncMode::per_file);
  TempQueue q;
  Store store(options_for(q.root, mode));
  auto t = written_transaction(store);
  std::promise<std::tuple<std::error_code, std::vector<QueuePath>, std::thread::id>> promise;
  t->commit_async([&](std::error_code e, std::vector<QueuePath> paths) {
    promise.set_value({e, std::move(paths), std::this_thread::get_id()});
  });
  t.reset();  // the transaction may go away before the callback
  auto [e, paths, thread] = promise.get_future().get();
  CHECK_FALSE(e);
  CHECK(thread != std::this_thread::get_id());
  REQUIRE(paths.size() == 1);
  CHECK(parse_file(read_file(paths[0].path)).status == ParseStatus::ok);
}

// Gathering (group_commit.hpp): the commit thread waits for messages on
// their way before a batch's barrier. With the wait set to a minute, a
// callback that comes at all shows the thread did not wait it out.
namespace {

using CommitFuture = std::future<std::error_code>;

CommitFuture commit_in_background(Transaction& t) {
  auto promise = std::make_shared<std::promise<std::error_code>>();
  auto future = promise->get_future();
  t.commit_async([promise](std::error_code e, std::vector<QueuePath>) { promise->set_value(e); });
  return future;
}

bool arrives(CommitFuture& f, std::chrono::milliseconds within) {
  return f.wait_for(within) == std::future_status::ready;
}

StoreOptions gathering_for(const fs::path& root) {
  auto o = options_for(root);
  o.commit_gather = std::chrono::minutes(1);
  return o;
}

}  // namespace

TEST_CASE("a lone message is committed without waiting to gather others", "[store][gather]") {
  TempQueue q;
  Store store(gathering_for(q.root));
  auto t = written_transaction(store);
  auto done = commit_in_background(*t);
  REQUIRE(arrives(done, 30s));
  CHECK_FALSE(done.get());
}

TEST_CASE("a batch waits for a message on its way, and goes when it is given up", "[store][gather]") {
  // On its way: another session past MAIL FROM (a token) or an open
  // transaction; given up: RSET, a refusal, the session ends, an abort.
  const bool token = GENERATE(true, false);
  TempQueue q;
  Store store(gathering_for(q.root));
  ExpectedMessage expected;
  std::unique_ptr<Transaction> abandoned;
  if (token)
    expected = store.expect_message();
  else
    abandoned = written_transaction(store);
  auto t = written_transaction(store);
  auto done = commit_in_background(*t);
  CHECK_FALSE(arrives(done, 300ms));
  expected = {};
  abandoned.reset();
  REQUIRE(arrives(done, 30s));
  CHECK_FALSE(done.get());
}

TEST_CASE("a batch waits for a message being written, and goes with it", "[store][gather]") {
  TempQueue q;
  Store store(gathering_for(q.root));
  auto first = written_transaction(store);
  auto second = written_transaction(store);
  auto first_done = commit_in_background(*first);
  CHECK_FALSE(arrives(first_done, 300ms));
  auto expected = store.expect_message();
  expected.handed_over();  // the session's own token, given up as its message is committed
  auto second_done = commit_in_background(*second);
  REQUIRE(arrives(first_done, 30s));
  REQUIRE(arrives(second_done, 30s));
  CHECK_FALSE(first_done.get());
  CHECK_FALSE(second_done.get());
}

TEST_CASE("a full batch does not wait for more", "[store][gather]") {
  TempQueue q;
  Store store(gathering_for(q.root));
  auto expected = store.expect_message();  // held throughout
  std::vector<std::unique_ptr<Transaction>> transactions;
  for (std::size_t i = 0; i < GroupCommit::gather_files; ++i) transactions.push_back(written_transaction(store));
  std::vector<CommitFuture> done;
  for (auto& t : transactions) done.push_back(commit_in_background(*t));
  for (auto& d : done) {
    REQUIRE(arrives(d, 30s));
    CHECK_FALSE(d.get());
  }
}

TEST_CASE("an aborted or abandoned enqueue leaves nothing behind", "[store]") {
  TempQueue q;
  auto opts = options_for(q.root);
  opts.unnamed_temporaries = GENERATE(true, false);
  Store store(opts);
  std::error_code error;
  {
    auto t = store.begin({{"tcp_local", envelope_for({"r@example.net"})}, {"l", envelope_for({"s@example.net"})}},
                         error);
    REQUIRE(t);
    REQUIRE_FALSE(t->write("partial message"));
    // Meanwhile: named temporaries, or (O_TMPFILE) nothing at all; never a queue file.
    for (const auto& f : files_under(q.root)) CHECK(fs::path(f).filename().string().starts_with(".tmp."));
    if (!opts.unnamed_temporaries) CHECK(files_under(q.root).size() == 2);
  }
  auto t = store.begin({{"tcp_local", envelope_for({"r@example.net"})}}, error);
  REQUIRE(t);
  REQUIRE_FALSE(t->write("x"));
  t->abort();
  CHECK(t->commit());  // too late: reports an error
  CHECK(files_under(q.root).empty());
}

TEST_CASE("copies to the same channel get names of their own", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"tcp_local", "tcp_local"}, "m\r\n");
  REQUIRE(paths.size() == 2);
  CHECK(paths[0].path != paths[1].path);
  CHECK(files_under(q.root).size() == 2);
}

TEST_CASE("begin refuses what cannot be a queue file", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  std::error_code error;
  CHECK_FALSE(store.begin({}, error));
  CHECK(error);
  CHECK_FALSE(store.begin({{"../escape", envelope_for({"r@x"})}}, error));
  CHECK(error);
  CHECK_FALSE(store.begin({{".bad", envelope_for({"r@x"})}}, error));
  CHECK_FALSE(store.begin({{"tcp_local", envelope_for({})}}, error));
  CHECK(error);
  CHECK(files_under(q.root).empty());
  CHECK_FALSE(fs::exists(q.base / "escape"));
}

TEST_CASE("a failed enqueue reports the error and leaves nothing visible", "[store]") {
  auto mode = GENERATE(SyncMode::group, SyncMode::per_file);
  TempQueue q;
  Store store(options_for(q.root, mode));

  SECTION("the channel folder cannot be created (a file is in the way)") {
    write_file(q.root / "tcp_local", "not a folder");
    std::error_code error;
    auto t = store.begin({{"l", envelope_for({"r@x"})}, {"tcp_local", envelope_for({"r@x"})}}, error);
    CHECK_FALSE(t);
    CHECK(error == std::errc::not_a_directory);
    CHECK(files_under(q.root) == std::set<std::string>{"tcp_local"});
  }
  SECTION("the queue folder does not exist") {
    Store missing(options_for(q.base / "nowhere", mode));
    std::error_code error;
    CHECK_FALSE(missing.begin({{"tcp_local", envelope_for({"r@x"})}}, error));
    CHECK(error == std::errc::no_such_file_or_directory);
    CHECK_FALSE(fs::exists(q.base / "nowhere"));
  }
  SECTION("the disk refuses the bytes (file size limit: EFBIG)") {
    // RLIMIT_FSIZE stops root as well; with SIGXFSZ ignored write() fails.
    struct rlimit old {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old;
    small.rlim_cur = 100000;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::error_code error;
    auto t = store.begin({{"tcp_local", envelope_for({"r@x"})}, {"l", envelope_for({"r@x"})}}, error);
    std::error_code failed;
    if (t) {
      for (int i = 0; i < 50 && !failed; ++i) failed = t->write(std::string(10000, 'x'));
      if (!failed) failed = t->commit();
    }
    ::setrlimit(RLIMIT_FSIZE, &old);
    ::signal(SIGXFSZ, old_handler);
    REQUIRE(t);
    CHECK(failed == std::errc::file_too_large);
    CHECK(t->commit() == failed);  // stays failed
    t.reset();
    std::set<std::string> left;
    for (const auto& f : files_under(q.root)) left.insert(f);
    CHECK(left.empty());
  }
}

TEST_CASE("concurrent enqueues from many threads all arrive, each under its own name", "[store]") {
  auto barrier = GENERATE(GroupBarrier::syncfs, GroupBarrier::fdatasync);
  TempQueue q;
  auto opts = options_for(q.root, SyncMode::group);
  opts.group_barrier = barrier;
  Store store(opts);
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < 8; ++w)
    writers.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        std::error_code error;
        auto t = store.begin({{"tcp_local", envelope_for({"r@example.net"})}}, error);
        if (!t || t->write("message\r\n") || t->commit()) ++failures;
      }
    });
  for (auto& t : writers) t.join();
  CHECK(failures == 0);
  auto entries = scan_all(store);
  CHECK(entries.size() == 200);
  std::set<std::string> ids;
  for (const auto& e : entries) ids.insert(e.name.id);
  CHECK(ids.size() == 200);
}

// --- scan ----------------------------------------------------------------------

TEST_CASE("the scan reports every queue file with what its name and stat say", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto a = enqueue(store, {"tcp_local"}, "aaaa\r\n");
  auto b = enqueue(store, {"l"}, "bbbb\r\n");
  auto c = enqueue(store, {"tcp_local"}, "cccc\r\n");
  write_file(q.root / "tcp_local" / "README", "a stray file is not a queue file");
  write_file(q.root / ".notes", "ignored");
  fs::create_directories(q.root / ".bad");
  write_file(q.root / ".bad" / "tcp_local-ZZ0000000000000000000A.00", "never scanned");

  auto entry_c = store.find(c[0].name.id);
  REQUIRE(entry_c);
  REQUIRE(store.hold(*entry_c).ok);
  auto claim = store.claim(*store.find(a[0].name.id));
  REQUIRE(claim);
  REQUIRE(store.retry(*claim, {deferred("rcpt@example.net", "smtp;451 4.7.1 later")}).ok);
  claim.reset();

  auto entries = scan_all(store);
  REQUIRE(entries.size() == 3);
  std::map<std::string, QueueEntry> by_id;
  for (const auto& e : entries) by_id[e.name.id] = e;
  const auto& ea = by_id.at(a[0].name.id);
  CHECK(ea.channel == "tcp_local");
  CHECK(ea.name.attempts == 1);
  CHECK(ea.path.filename() == "ZY" + a[0].name.id + ".00");
  CHECK(ea.last_attempt_ms > 0);
  CHECK(ea.arrival_ms == *id_time_ms(a[0].name.id));
  CHECK(ea.file_size == fs::file_size(ea.path));
  CHECK_FALSE(ea.held);
  const auto& eb = by_id.at(b[0].name.id);
  CHECK(eb.channel == "l");
  CHECK(eb.path == b[0].path);
  CHECK(eb.last_attempt_ms == 0);
  CHECK(by_id.at(c[0].name.id).held);
  CHECK(by_id.at(c[0].name.id).path.filename() == "ZZ" + c[0].name.id + ".HELD");

  ScanOptions no_held;
  no_held.include_held = false;
  CHECK(scan_all(store, no_held).size() == 2);
  ScanOptions only_l;
  only_l.channel = "l";
  auto l_entries = scan_all(store, only_l);
  REQUIRE(l_entries.size() == 1);
  CHECK(l_entries[0].name.id == b[0].name.id);
  // Channels come one after the other, in name order.
  CHECK(entries[0].channel == "l");
}

TEST_CASE("the scan removes stale temporaries, but not one a live writer holds", "[store][crash]") {
  TempQueue q;
  auto named = options_for(q.root);
  named.unnamed_temporaries = false;  // a live writer's temporary is visible
  Store store(named);
  fs::create_directories(q.root / "tcp_local" );
  fs::create_directories(q.root / "l" / "003");
  write_file(q.root / "tcp_local" / ".tmp.DEADWRITER.0", "IMTA-QUEUE 1\nsize 0000");
  write_file(q.root / "l" / "003" / ".tmp.DEADWRITER.1", "");

  std::error_code error;
  auto live = store.begin({{"tcp_local", envelope_for({"r@example.net"})}}, error);
  REQUIRE(live);
  REQUIRE_FALSE(live->write("in progress\r\n"));

  std::vector<std::string> notes;
  scan_all(store, {}, &notes);
  CHECK(notes.size() == 2);
  for (const auto& n : notes) CHECK(n.find("removed stale temporary file") != std::string::npos);
  auto left = files_under(q.root);
  REQUIRE(left.size() == 1);
  CHECK(left.begin()->starts_with("tcp_local/.tmp." + live->id()));
  REQUIRE_FALSE(live->commit());
  CHECK(scan_all(store).size() == 1);

  // Young temporaries stay when the age says so.
  auto opts = options_for(q.root);
  opts.stale_temp_age = 300s;
  Store patient(opts);
  write_file(q.root / "tcp_local" / ".tmp.YOUNG.0", "");
  notes.clear();
  scan_all(patient, {}, &notes);
  CHECK(notes.empty());
  CHECK(fs::exists(q.root / "tcp_local" / ".tmp.YOUNG.0"));
}

TEST_CASE("the scan removes unacknowledged files and quarantines corrupt ones", "[store][crash]") {
  TempQueue q;
  auto opts = options_for(q.root);
  Store store(opts);
  auto good = enqueue(store, {"tcp_local"}, "good\r\n");
  const auto folder = q.root / "tcp_local";

  // What a machine crash before the barrier can leave: a queue name whose
  // contents never reached the disk in full.
  auto envelope = envelope_for({"r@example.net"});
  envelope.size = 0;  // size never patched
  const std::string torn_name = QueueFileName{0, new_queue_id(), false}.str();
  write_file(folder / torn_name, encode_header(envelope) + "half a mess");
  const std::string empty_name = QueueFileName{0, new_queue_id(), false}.str();
  write_file(folder / empty_name, "");
  // Complete (end marker present) but the envelope is damaged.
  envelope.size = 3;
  auto bytes = encode_header(envelope) + "abc" + std::string(end_marker);
  bytes.replace(bytes.find("from "), 5, "from %Q");
  const std::string corrupt_name = QueueFileName{2, new_queue_id(), false}.str();
  write_file(folder / corrupt_name, bytes);

  SECTION("a recent incomplete file gets its grace period") {
    auto patient_opts = opts;
    patient_opts.incomplete_grace = 300s;
    Store patient(patient_opts);
    std::vector<std::string> notes;
    auto entries = scan_all(patient, {}, &notes);
    CHECK(entries.size() == 1);  // the incomplete ones are not listed
    CHECK(fs::exists(folder / torn_name));
    CHECK(fs::exists(folder / empty_name));
    CHECK_FALSE(fs::exists(folder / corrupt_name));  // quarantined at once
  }
  SECTION("an incomplete file someone holds locked stays") {
    Fd held(::open((folder / torn_name).c_str(), O_RDONLY));
    REQUIRE(::flock(held.get(), LOCK_EX) == 0);
    scan_all(store);
    CHECK(fs::exists(folder / torn_name));
    held.reset();
    scan_all(store);
    CHECK_FALSE(fs::exists(folder / torn_name));
  }
  SECTION("old enough and unlocked: removed; corrupt: moved to .bad") {
    std::vector<std::string> notes;
    auto entries = scan_all(store, {}, &notes);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].path == good[0].path);
    CHECK(files_under(q.root) ==
          std::set<std::string>{"tcp_local/" + good[0].name.str(), ".bad/tcp_local-" + corrupt_name});
    REQUIRE(notes.size() == 3);
    std::sort(notes.begin(), notes.end());
    CHECK(notes[0].find("moved unparseable file " + (folder / corrupt_name).string()) == 0);
    CHECK(notes[0].find("escape") != std::string::npos);
    CHECK(notes[1].find("removed ") == 0);
    CHECK(notes[2].find("removed ") == 0);
    // A second scan has nothing more to do.
    notes.clear();
    CHECK(scan_all(store, {}, &notes).size() == 1);
    CHECK(notes.empty());
  }
  SECTION("without cleanup the scan only lists (no file is read)") {
    ScanOptions list_only;
    list_only.cleanup = false;
    std::vector<std::string> notes;
    CHECK(scan_all(store, list_only, &notes).size() == 4);
    CHECK(notes.empty());
    CHECK(files_under(q.root).size() == 4);
  }
}

// --- find and read -------------------------------------------------------------

TEST_CASE("find takes an id or a whole file name, in any case", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"l", "tcp_local"}, "m\r\n");
  const auto id = paths[0].name.id;

  auto by_id = store.find(id);
  REQUIRE(by_id);
  CHECK(by_id->channel == "l");  // channels in name order
  auto lower = id;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) { return std::tolower(c); });
  CHECK(store.find(lower));
  auto by_name = store.find("ZZ" + id + ".00", "tcp_local");
  REQUIRE(by_name);
  CHECK(by_name->path == paths[1].path);
  CHECK(store.find_all(id).size() == 2);
  CHECK(store.find_all(id, "tcp_local").size() == 1);
  CHECK_FALSE(store.find("ZY" + id + ".00"));
  CHECK_FALSE(store.find("NOSUCHID"));
  CHECK_FALSE(store.find("../../etc/passwd"));
  CHECK_FALSE(store.find(""));

  // A file tried many times (beyond the names find probes first).
  auto tried = q.root / "tcp_local" / QueueFileName{200, id, false}.str();
  fs::rename(paths[1].path, tried);
  auto many = store.find(id, "tcp_local");
  REQUIRE(many);
  CHECK(many->path == tried);
  CHECK(many->name.attempts == 200);

  // A file left where an older subdirs value put it is still found.
  fs::create_directories(q.root / "l" / "999");
  fs::rename(paths[0].path, q.root / "l" / "999" / paths[0].name.str());
  auto moved = store.find(id, "l");
  REQUIRE(moved);
  CHECK(moved->path == q.root / "l" / "999" / paths[0].name.str());
}

TEST_CASE("read returns envelope and history without the message", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"tcp_local"}, std::string(50000, 'm'), envelope_for({"a@x", "b@x"}));
  auto entry = *store.find(paths[0].name.id);
  {
    auto claim = store.claim(entry);
    REQUIRE(claim);
    REQUIRE(store.retry(*claim, {deferred("a@x", "smtp;452 4.2.2 mailbox full"), deferred("b@x", "timeout")}).ok);
  }
  entry = *store.find(paths[0].name.id);
  auto parsed = store.read(entry);
  REQUIRE(parsed.status == ParseStatus::ok);
  CHECK(parsed.envelope.recipients.size() == 2);
  CHECK(parsed.envelope.size == 50000);
  REQUIRE(parsed.history.size() == 2);
  CHECK(parsed.history[0].diagnostic == "smtp;452 4.2.2 mailbox full");
  CHECK(parsed.history[1].recipient == "b@x");

  fs::remove(entry.path);
  auto gone = store.read(entry);
  CHECK(gone.status != ParseStatus::ok);
  CHECK(gone.error == "no such message");
}

// --- masters -----------------------------------------------------------------------

TEST_CASE("a claimed file cannot be claimed, held, released or deleted by anyone else", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"tcp_local"}, "m\r\n");
  auto entry = *store.find(paths[0].name.id);
  auto claim = store.claim(entry);
  REQUIRE(claim);
  CHECK(claim->file().envelope.from == "sender@example.org");
  CHECK(claim->message() == "m\r\n");

  Store other(options_for(q.root));  // another program: its own descriptors
  ClaimError why{};
  CHECK_FALSE(other.claim(entry, &why));
  CHECK(why == ClaimError::busy);
  CHECK(claim_error_text(why) == "being delivered");
  auto hold = other.hold(entry);
  CHECK_FALSE(hold.ok);
  CHECK(hold.error == "being delivered");
  CHECK(other.remove(entry).error == "being delivered");
  CHECK(fs::exists(entry.path));

  claim.reset();  // released
  CHECK(other.claim(entry));
}

TEST_CASE("complete removes the file", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"l"}, "m\r\n");
  auto entry = *store.find(paths[0].name.id);
  auto claim = store.claim(entry);
  REQUIRE(claim);
  REQUIRE(store.complete(*claim).ok);
  CHECK_FALSE(fs::exists(entry.path));
  CHECK_FALSE(store.complete(*claim).ok);
  ClaimError why{};
  CHECK_FALSE(store.claim(entry, &why));
  CHECK(why == ClaimError::gone);
}

TEST_CASE("retry appends history and renames to the next retry prefix, keeping the id", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"tcp_local"}, "m\r\n");
  const auto id = paths[0].name.id;
  for (unsigned attempt = 1; attempt <= 3; ++attempt) {
    auto claim = store.claim(*store.find(id));
    REQUIRE(claim);
    REQUIRE(store.retry(*claim, {deferred("rcpt@example.net", "try " + std::to_string(attempt))}).ok);
    CHECK(claim->entry().name.attempts == attempt);
    CHECK(claim->file().history.size() == attempt);
  }
  // ZZ new, ZY after one failure, ZX after two, ZW after three.
  CHECK(files_under(q.root) == std::set<std::string>{"tcp_local/ZW" + id + ".00"});
  auto stale = paths[0];  // the old name
  ClaimError why{};
  CHECK_FALSE(store.claim(QueueEntry{"tcp_local", stale.name, stale.path}, &why));
  CHECK(why == ClaimError::gone);
  auto parsed = parse_file(read_file(q.root / "tcp_local" / ("ZW" + id + ".00")));
  REQUIRE(parsed.status == ParseStatus::ok);
  REQUIRE(parsed.history.size() == 3);
  CHECK(parsed.history[2].diagnostic == "try 3");
}

TEST_CASE("a torn history record does not swallow the next one", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"tcp_local"}, "m\r\n");
  std::ofstream(paths[0].path, std::ios::app) << "hist 1795000000000 defer";  // a crash mid-append
  auto claim = store.claim(*store.find(paths[0].name.id));
  REQUIRE(claim);
  CHECK(claim->file().history.empty());
  REQUIRE(store.retry(*claim, {deferred("r", "after the tear")}).ok);
  claim.reset();
  auto parsed = store.read(*store.find(paths[0].name.id));
  REQUIRE(parsed.history.size() == 1);
  CHECK(parsed.history[0].diagnostic == "after the tear");
}

TEST_CASE("note appends history without touching the last-attempt time", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"tcp_local"}, "m\r\n");
  {
    auto claim = store.claim(*store.find(paths[0].name.id));
    REQUIRE(store.retry(*claim, {deferred("r", "first")}).ok);
  }
  auto before = *store.find(paths[0].name.id);
  struct timespec old_time[2] = {{0, UTIME_OMIT}, {1700000000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, before.path.c_str(), old_time, 0) == 0);
  before = *store.find(paths[0].name.id);
  CHECK(before.last_attempt_ms == 1700000000000);
  auto claim = store.claim(before);
  REQUIRE(claim);
  REQUIRE(store.note(*claim, {{1795000200000, Outcome::warned, "", "delay notice sent"}}).ok);
  claim.reset();
  auto after = *store.find(paths[0].name.id);
  CHECK(after.last_attempt_ms == 1700000000000);
  CHECK(after.name.attempts == 1);
  auto parsed = store.read(after);
  REQUIRE(parsed.history.size() == 2);
  CHECK(parsed.history[1].outcome == Outcome::warned);
}

TEST_CASE("partial replaces the file with one for the remaining recipients", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  const std::string message = "Subject: split\r\n\r\n" + std::string(70000, 'z') + "\r\n";
  auto paths = enqueue(store, {"tcp_local"}, message, envelope_for({"a@x", "b@x", "c@x"}));
  auto entry = *store.find(paths[0].name.id);
  {
    auto claim = store.claim(entry);
    REQUIRE(store.retry(*claim, {deferred("a@x", "first try")}).ok);
  }
  entry = *store.find(paths[0].name.id);
  auto claim = store.claim(entry);
  REQUIRE(claim);
  std::vector<Recipient> remaining{claim->file().envelope.recipients[2]};
  auto r = store.partial(*claim, remaining, {{1795000300000, Outcome::delivered, "a@x", "250 ok"},
                                             {1795000300000, Outcome::bounced, "b@x", "550 no"}});
  REQUIRE(r.ok);
  // Same name, one file, and the claim moved to the new file.
  CHECK(files_under(q.root) == std::set<std::string>{"tcp_local/" + entry.name.str()});
  CHECK(claim->file().envelope.recipients.size() == 1);
  CHECK(claim->message() == message);
  ClaimError why{};
  Store other(options_for(q.root));
  CHECK_FALSE(other.claim(entry, &why));
  CHECK(why == ClaimError::busy);
  // The claim goes on: a retry after the partial counts the attempt.
  REQUIRE(store.retry(*claim, {deferred("c@x", "later")}).ok);
  claim.reset();

  auto now = *store.find(paths[0].name.id);
  CHECK(now.name.attempts == 2);
  auto parsed = parse_file(read_file(now.path));
  REQUIRE(parsed.status == ParseStatus::ok);
  REQUIRE(parsed.envelope.recipients.size() == 1);
  CHECK(parsed.envelope.recipients[0].active == "c@x");
  CHECK(parsed.envelope.from == "sender@example.org");
  CHECK(read_file(now.path).substr(parsed.message_offset, message.size()) == message);
  REQUIRE(parsed.history.size() == 4);
  CHECK(parsed.history[0].diagnostic == "first try");
  CHECK(parsed.history[2].outcome == Outcome::bounced);
  CHECK(parsed.history[3].diagnostic == "later");
  auto again = store.claim(now);
  REQUIRE(again);
  CHECK_FALSE(store.partial(*again, {}, {}).ok);
}

TEST_CASE("claims refuse incomplete and corrupt files", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  fs::create_directories(q.root / "tcp_local");
  auto envelope = envelope_for({"r@x"});
  envelope.size = 10;
  const QueueFileName torn{0, new_queue_id(), false};
  write_file(q.root / "tcp_local" / torn.str(), encode_header(envelope) + "short");
  const QueueFileName bad{0, new_queue_id(), false};
  write_file(q.root / "tcp_local" / bad.str(), "garbage\n" + std::string(end_marker));
  ClaimError why{};
  CHECK_FALSE(store.claim({"tcp_local", torn, q.root / "tcp_local" / torn.str()}, &why));
  CHECK(why == ClaimError::incomplete);
  CHECK_FALSE(store.claim({"tcp_local", bad, q.root / "tcp_local" / bad.str()}, &why));
  CHECK(why == ClaimError::corrupt);
}

// --- administration ----------------------------------------------------------------

TEST_CASE("hold and release rename between .00 and .HELD", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"l"}, "m\r\n");
  const auto id = paths[0].name.id;
  auto entry = *store.find(id);
  REQUIRE(store.hold(entry).ok);
  CHECK_FALSE(fs::exists(entry.path));
  auto held = store.find(id);
  REQUIRE(held);
  CHECK(held->held);
  CHECK(held->path == fs::path(paths[0].path).parent_path() / ("ZZ" + id + ".HELD"));
  CHECK(store.hold(*held).error == "already held");
  CHECK(store.hold(entry).error == "no such message");  // stale entry: the .00 name is gone
  CHECK(store.release(entry).error == "not held");
  REQUIRE(store.release(*held).ok);
  CHECK(fs::exists(paths[0].path));
  CHECK(store.release(*held).error == "no such message");
}

TEST_CASE("remove deletes a file nobody delivers", "[store]") {
  TempQueue q;
  Store store(options_for(q.root));
  auto paths = enqueue(store, {"tcp_local"}, "m\r\n");
  auto entry = *store.find(paths[0].name.id);
  REQUIRE(store.remove(entry).ok);
  CHECK(files_under(q.root).empty());
  CHECK(store.remove(entry).error == "no such message");
}

// --- two processes -----------------------------------------------------------------

namespace {

/// Runs `act` on every entry in two forked processes at once; returns how
/// many times each process succeeded. Each child keeps what it got (claims
/// stay held) until both have finished trying.
std::pair<int, int> race(const fs::path& root, const std::vector<QueueEntry>& entries,
                         const std::function<bool(Store&, const QueueEntry&, std::vector<Claim>&)>& act) {
  int start[2], finish[2], results[2][2];
  REQUIRE(::pipe(start) == 0);
  REQUIRE(::pipe(finish) == 0);
  pid_t pids[2];
  for (int c = 0; c < 2; ++c) {
    REQUIRE(::pipe(results[c]) == 0);
    pids[c] = ::fork();
    REQUIRE(pids[c] >= 0);
    if (pids[c] == 0) {
      ::close(start[1]);
      ::close(finish[1]);
      char byte;
      while (::read(start[0], &byte, 1) < 0) {}  // EOF: go
      Store store(options_for(root, SyncMode::per_file));
      std::vector<Claim> kept;
      int done = 0;
      // The two children walk the list from opposite ends so that they meet.
      for (std::size_t i = 0; i < entries.size(); ++i)
        done += act(store, entries[c == 0 ? i : entries.size() - 1 - i], kept) ? 1 : 0;
      if (::write(results[c][1], &done, sizeof done) != sizeof done) ::_exit(1);
      while (::read(finish[0], &byte, 1) < 0) {}  // EOF: both are done
      ::_exit(0);
    }
    ::close(results[c][1]);
  }
  ::close(start[0]);
  ::close(finish[0]);
  ::close(start[1]);  // both children start now
  int done[2] = {-1, -1};
  for (int c = 0; c < 2; ++c) {
    if (::read(results[c][0], &done[c], sizeof done[c]) != sizeof done[c]) done[c] = -1;
    ::close(results[c][0]);
  }
  ::close(finish[1]);
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
  }
  return {done[0], done[1]};
}

}  // namespace

TEST_CASE("two processes racing for the same files never both act", "[store][crash]") {
  TempQueue q;
  Store store(options_for(q.root, SyncMode::group));
  constexpr int count = 150;
  std::vector<std::thread> writers;
  for (int w = 0; w < 6; ++w)
    writers.emplace_back([&store] {
      for (int i = 0; i < count / 6; ++i) {
        std::error_code error;
        if (auto t = store.begin({{"tcp_local", envelope_for({"r@example.net"})}}, error)) t->commit();
      }
    });
  for (auto& w : writers) w.join();
  auto entries = scan_all(store);
  REQUIRE(entries.size() == count);

  SECTION("claim") {
    auto [a, b] = race(q.root, entries, [](Store& s, const QueueEntry& e, std::vector<Claim>& kept) {
      auto claim = s.claim(e);
      if (claim) kept.push_back(std::move(*claim));
      return claim.has_value();
    });
    CHECK(a + b == count);
    CHECK(scan_all(store).size() == count);
  }
  SECTION("claim and retry") {
    auto [a, b] = race(q.root, entries, [](Store& s, const QueueEntry& e, std::vector<Claim>&) {
      auto claim = s.claim(e);
      return claim && s.retry(*claim, {deferred("r", "x")}).ok;
    });
    CHECK(a + b == count);
    for (const auto& e : scan_all(store)) CHECK(e.name.attempts == 1);
  }
  SECTION("delete") {
    auto [a, b] = race(q.root, entries, [](Store& s, const QueueEntry& e, std::vector<Claim>&) {
      return s.remove(e).ok;
    });
    CHECK(a + b == count);
    CHECK(files_under(q.root).empty());
  }
  SECTION("hold") {
    auto [a, b] = race(q.root, entries, [](Store& s, const QueueEntry& e, std::vector<Claim>&) {
      return s.hold(e).ok;
    });
    CHECK(a + b == count);
    auto after = scan_all(store);
    CHECK(after.size() == count);
    for (const auto& e : after) CHECK(e.held);
  }
}

// --- crash safety --------------------------------------------------------------------

namespace {

fs::path enqueue_child_program() {
  if (const char* env = std::getenv("IMTA_ENQUEUE_CHILD"); env && *env) return env;
  return fs::read_symlink("/proc/self/exe").parent_path() / "enqueue_child";
}

/// Starts the child with its stdout on a pipe; returns pid and read end.
std::pair<pid_t, Fd> spawn_child(const fs::path& program, const std::vector<std::string>& args) {
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::vector<std::string> all{program.string()};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  Fd read_end(out[0]);
  REQUIRE(rc == 0);
  return {pid, std::move(read_end)};
}

/// Reads what is available until `deadline` (or EOF).
void read_until(int fd, std::string& into, std::chrono::steady_clock::time_point deadline) {
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    struct pollfd p {fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return;
    into.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

TEST_CASE("an enqueue that returned survives SIGKILL; nothing half-written is ever visible", "[crash]") {
  const auto program = enqueue_child_program();
  REQUIRE(fs::exists(program));
  TempQueue q;
  std::mt19937 random(Catch::rngSeed());
  std::set<std::string> acknowledged;
  const char* modes[] = {"group-fdatasync", "per_file", "group-syncfs"};
  constexpr int rounds = 36;
  for (int round = 0; round < rounds; ++round) {
    auto [pid, out] = spawn_child(program, {q.root.string(), modes[round % 3], "2", std::to_string(random())});
    std::string printed;
    // Killed at a random moment: during start-up, mid-write, mid-commit...
    auto lifetime = std::chrono::milliseconds(10 + random() % 200);
    read_until(out.get(), printed, std::chrono::steady_clock::now() + lifetime);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    read_until(out.get(), printed, std::chrono::steady_clock::now() + 2s);  // the rest of the pipe
    std::istringstream lines(printed);
    for (std::string line; std::getline(lines, line);)
      if (!line.empty()) acknowledged.insert(line);
  }

  Store store(options_for(q.root));
  // Every visible queue file is complete and holds exactly the message its
  // writer meant (checked byte for byte), whether or not it was acknowledged.
  ScanOptions list_only;
  list_only.cleanup = false;
  std::map<std::string, int> copies_by_id;
  std::size_t visible = 0;
  std::size_t bad = 0;
  store.scan(list_only, [&](const QueueEntry& e) {
    ++visible;
    auto claim = store.claim(e);
    if (!claim) {
      ++bad;
      return;
    }
    auto message = claim->message();
    if (message != test::crash_message(e.name.id, test::crash_message_length(message))) ++bad;
    ++copies_by_id[e.name.id];
  });
  INFO(visible << " visible files, " << acknowledged.size() << " acknowledged enqueues");
  CHECK(bad == 0);
  CHECK(visible > 0);
  // Every acknowledged enqueue has both of its copies.
  std::size_t missing = 0;
  for (const auto& id : acknowledged)
    if (copies_by_id[id] != 2) ++missing;
  CHECK(missing == 0);
  CHECK(acknowledged.size() > 0);

  // The next scan removes the leftovers (temporaries of killed writers) and
  // lists every file again.
  std::vector<std::string> notes;
  auto after = scan_all(store, {}, &notes);
  CHECK(after.size() == visible);
  for (const auto& n : notes) CHECK(n.find("removed stale temporary file") == 0);
  std::size_t hidden = 0;
  for (const auto& f : files_under(q.root))
    if (fs::path(f).filename().string().starts_with(".")) ++hidden;
  CHECK(hidden == 0);
}

// --- recycling (QUEUE_RECYCLE) -----------------------------------------------------

namespace {

StoreOptions recycling_options(const fs::path& root) {
  auto o = options_for(root);
  o.recycle = true;
  return o;
}

/// Enqueues one message with a store that does not recycle, then claims and
/// completes it with `jc`: the delivered file's inode. (An enqueueing store
/// looks into .recycle at most every 100 ms while it finds it empty, so
/// each test makes its enqueueing store after the deliveries it reuses.)
ino_t deliver_one(Store& jc, const std::string& channel, const std::string& message) {
  Store writer(options_for(jc.options().root));
  auto paths = enqueue(writer, {channel}, message);
  auto entry = *jc.find(paths[0].name.id);
  auto claim = jc.claim(entry);
  REQUIRE(claim);
  struct stat st {};
  REQUIRE(::stat(entry.path.c_str(), &st) == 0);
  REQUIRE(jc.complete(*claim).ok);
  CHECK_FALSE(fs::exists(entry.path));
  return st.st_ino;
}

std::vector<std::string> recycle_slots_in(const fs::path& root) {
  std::vector<std::string> out;
  if (!fs::exists(root / ".recycle")) return out;
  for (const auto& e : fs::directory_iterator(root / ".recycle")) out.push_back(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE("a delivered file is recycled: the next enqueue writes into it, byte for byte", "[store][recycle]") {
  TempQueue q;
  Store jc(recycling_options(q.root));
  const std::string long_message = "Subject: long\r\n\r\n" + std::string(3000, 'x') + "\r\n";
  const ino_t delivered = deliver_one(jc, "tcp_local", long_message);
  REQUIRE(recycle_slots_in(q.root).size() == 1);
  Store store(recycling_options(q.root));
  // Shorter than what was in the file: nothing of the old bytes may remain.
  const std::string message = "Subject: short\r\n\r\nhello\r\n";
  auto paths = enqueue(store, {"tcp_local"}, message);
  struct stat st {};
  REQUIRE(::stat(paths[0].path.c_str(), &st) == 0);
  CHECK(st.st_ino == delivered);
  CHECK(recycle_slots_in(q.root).empty());
  const std::string bytes = read_file(paths[0].path);
  CHECK(bytes.find(std::string(100, 'x')) == std::string::npos);
  auto parsed = parse_file(bytes);
  REQUIRE(parsed.status == ParseStatus::ok);
  CHECK(parsed.seal.id == paths[0].name.id);
  CHECK(parsed.seal.check);
  auto claim = store.claim(*store.find(paths[0].name.id));
  REQUIRE(claim);
  CHECK(claim->message() == message);
  // The scan does not take .recycle for a channel.
  for (const auto& e : scan_all(store)) CHECK(e.channel == "tcp_local");
}

TEST_CASE("a message longer than the recycled file grows it; big files are removed, not recycled",
          "[store][recycle]") {
  TempQueue q;
  Store jc(recycling_options(q.root));
  deliver_one(jc, "tcp_local", "Subject: a\r\n\r\nshort\r\n");
  Store store(recycling_options(q.root));
  const std::string message = "Subject: b\r\n\r\n" + std::string(20000, 'y') + "\r\n";
  auto paths = enqueue(store, {"tcp_local"}, message);
  auto claim = store.claim(*store.find(paths[0].name.id));
  REQUIRE(claim);
  CHECK(claim->message() == message);
  claim.reset();
  auto done = jc.claim(*jc.find(paths[0].name.id));
  REQUIRE(done);
  REQUIRE(jc.complete(*done).ok);
  CHECK(recycle_slots_in(q.root).size() == 1);  // the 20,000-byte one
  // Over recycle_max_size: removed as before.
  const std::string big = "Subject: c\r\n\r\n" + std::string(recycle_max_size + 10, 'z') + "\r\n";
  deliver_one(jc, "tcp_local", big);
  CHECK(recycle_slots_in(q.root).size() == 1);
}

TEST_CASE("recycling keeps at most recycle_slots files; past that, delivered files are removed",
          "[store][recycle]") {
  TempQueue q;
  Store jc(recycling_options(q.root));
  fs::create_directories(q.root / ".recycle");
  // Every slot taken (by files nobody reuses: only an enqueue would).
  for (unsigned i = 0; i < recycle_slots; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%04u", i);
    write_file(q.root / ".recycle" / name, "old");
  }
  deliver_one(jc, "tcp_local", "m\r\n");
  CHECK(recycle_slots_in(q.root).size() == recycle_slots);
  // A full folder is looked at again 100 ms later, not on every delivery;
  // then a slot freed meanwhile (an enqueue took its file) is found, whichever.
  fs::remove(q.root / ".recycle" / "0700");
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  deliver_one(jc, "tcp_local", "m\r\n");
  CHECK(recycle_slots_in(q.root).size() == recycle_slots);
  CHECK(read_file(q.root / ".recycle" / "0700") != "old");
}

TEST_CASE("a recycled slot also linked elsewhere is never written into", "[store][recycle][crash]") {
  // A machine crash in the middle of the rename into .recycle can leave the
  // file under both names (fsck then counts two links): the other name may
  // be a message still to deliver.
  TempQueue q;
  Store writer(options_for(q.root));
  auto queued = enqueue(writer, {"tcp_local"}, "Subject: keep\r\n\r\nkeep me\r\n");
  const std::string before = read_file(queued[0].path);
  fs::create_directories(q.root / ".recycle");
  fs::create_hard_link(queued[0].path, q.root / ".recycle" / "0007");
  Store store(recycling_options(q.root));
  auto fresh = enqueue(store, {"tcp_local"}, "Subject: new\r\n\r\nnew\r\n");
  CHECK(read_file(queued[0].path) == before);
  CHECK_FALSE(fs::exists(q.root / ".recycle" / "0007"));  // only the slot's name went
  struct stat a {}, b {};
  REQUIRE(::stat(queued[0].path.c_str(), &a) == 0);
  REQUIRE(::stat(fresh[0].path.c_str(), &b) == 0);
  CHECK(a.st_ino != b.st_ino);
}

TEST_CASE("old bytes of a recycled file under a new name are never delivered", "[store][recycle][crash]") {
  // What a machine crash before the commit barrier can leave: the rename of
  // a recycled file reached the disk, its new bytes did not.
  TempQueue q;
  Store store(recycling_options(q.root));
  auto old_paths = enqueue(store, {"tcp_local"}, "Subject: delivered long ago\r\n\r\nold\r\n");
  const QueueFileName new_name{0, new_queue_id(), false};
  const fs::path stale = q.root / "tcp_local" / new_name.str();
  fs::rename(old_paths[0].path, stale);
  ClaimError why{};
  CHECK_FALSE(store.claim({"tcp_local", new_name, stale}, &why));
  CHECK(why == ClaimError::corrupt);
  CHECK_FALSE(fs::exists(stale));
  CHECK(fs::exists(q.root / ".bad" / ("tcp_local-" + new_name.str())));

  // The scan finds the same from the header alone.
  auto more = enqueue(store, {"tcp_local"}, "Subject: also old\r\n\r\nold\r\n");
  const QueueFileName other{0, new_queue_id(), false};
  fs::rename(more[0].path, q.root / "tcp_local" / other.str());
  ScanOptions so;
  so.cleanup = true;
  std::vector<std::string> notes;
  CHECK(scan_all(store, so, &notes).empty());
  CHECK(fs::exists(q.root / ".bad" / ("tcp_local-" + other.str())));
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].find("recycled file") != std::string::npos);
}

TEST_CASE("a mix of new and old bytes fails the check and is never delivered", "[store][recycle][crash]") {
  TempQueue q;
  Store store(recycling_options(q.root));
  const std::string message = "Subject: new\r\n\r\n" + std::string(6000, 'n') + "\r\n";
  auto paths = enqueue(store, {"tcp_local"}, message);
  // The second block still holds what the file held before.
  std::string bytes = read_file(paths[0].path);
  std::fill(bytes.begin() + 4096, bytes.begin() + 5000, 'o');
  write_file(paths[0].path, bytes);
  ClaimError why{};
  auto entry = *store.find(paths[0].name.id);
  CHECK_FALSE(store.claim(entry, &why));
  CHECK(why == ClaimError::corrupt);
  CHECK(fs::exists(q.root / ".bad" / ("tcp_local-" + paths[0].name.str())));
}
