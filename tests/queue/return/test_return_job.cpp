// The return job (queue/return_job.hpp) on real queue files in a temporary
// instance: the notices ages a channel gets, what is due at which age, and
// what a pass does at chosen times (the job's clock is an argument, so
// "nine days later" needs no waiting): delay warnings (W records, a delay
// notice enqueued to process, the step remembered in the file), returns (a
// failure notice, R or K records, the file removed), idempotent reruns,
// files being delivered, held files, dry runs, NOTIFY, warnpost and
// RETURN_UNITS=1.
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "config/snapshot.hpp"
#include "config/log_options.hpp"
#include "core/log/async_log.hpp"
#include "queue/job_daemon.hpp"
#include "queue/return_job.hpp"
#include "queue/submit.hpp"

using namespace imta;
using namespace imta::queue;

namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kHour = 3'600'000;
constexpr std::int64_t kDay = 24 * kHour;

/// `l` must come first; `process` takes the notices. The defaults line sets
/// logging for every channel; the channels' notices and warnpost keywords are
/// what the tests vary.
const char* kRules = R"(example.test              $U%example.test@mail.example.test
mail.example.test         $U%mail.example.test@mail.example.test
process-daemon            $U%process-daemon@process-daemon
.                         $U%$H@tcp_local-daemon

)";

const char* kChannels = R"(defaults logging copysendpost

l notices 1 2 4 7
mail.example.test example.test

process
process-daemon

tcp_local smtp copywarnpost
tcp_local-daemon

quick notices 1 3 nowarnpost
quick-daemon

normal normalnotices 2 5 notices 10 20 warnpost
normal-daemon

errors notices 1 3 errwarnpost
errors-daemon

plain
plain-daemon
)";

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Removed with everything in it, also when a Rig's constructor fails.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "imta-return-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

struct Rig {
  TempDir dir;  // first: destroyed last
  fs::path root = dir.path;
  std::shared_ptr<const config::Snapshot> snapshot;
  std::unique_ptr<core::Instance> instance;
  std::unique_ptr<Store> store;
  std::unique_ptr<core::log::AsyncMailLog> log;
  std::unique_ptr<Submitter> submitter;
  std::vector<std::string> traced;
  /// Ages count from here: the arrival time in the id of the file enqueued
  /// last (ids encode the real time; earlier files are a few ms older).
  std::int64_t start = wall_ms();
  int messages = 0;

  explicit Rig(std::string channels = kChannels, std::string option_dat = "LOG_FILENAME=1\nLOG_MESSAGE_ID=1\n",
               std::string job_controller_cnf = "[POOL=DEFAULT]\nJOB_LIMIT=10\n") {
    for (const char* d : {"config", "queue", "log", "run", "db"}) fs::create_directories(root / d);
    std::ofstream(root / "config" / "imta.cnf") << kRules << channels;
    std::ofstream(root / "config" / "option.dat") << option_dat;
    std::ofstream(root / "config" / "job_controller.cnf") << job_controller_cnf;
    config::Diagnostics diags;
    auto snap = config::load_configuration(root / "config", diags);
    for (const auto& i : diags.items()) {
      INFO(i.str());
      REQUIRE(i.severity != config::Severity::error);
    }
    snapshot = std::make_shared<const config::Snapshot>(std::move(snap));
    instance = std::make_unique<core::Instance>(root);
    StoreOptions so;
    so.root = root / "queue";
    auto s = snapshot;
    so.subdirs = [s](std::string_view ch) { return config::channel_subdirs(s->imta_cnf, ch); };
    store = std::make_unique<Store>(std::move(so));
    log = std::make_unique<core::log::AsyncMailLog>(config::mail_log_file_options(*instance, *snapshot),
                                                    std::chrono::milliseconds(10));
    submitter = std::make_unique<Submitter>(snapshot, *store, log.get(), nullptr);
  }
  ~Rig() {
    submitter.reset();
    log.reset();
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  MasterServices services() {
    MasterServices s;
    s.instance = instance.get();
    s.snapshot = snapshot;
    s.store = store.get();
    s.submitter = submitter.get();
    s.log = log.get();
    s.trace = [this](std::string_view line) { traced.emplace_back(line); };
    return s;
  }

  QueuePath enqueue(const std::string& channel, const std::vector<std::string>& recipients,
                    const std::string& from = "alice@example.org", unsigned notify = 0,
                    core::Ret ret = core::Ret::unspecified) {
    Copy copy;
    copy.channel = channel;
    copy.envelope.from = from;
    copy.envelope.ret = ret;
    copy.envelope.source_channel = "tcp_local";
    copy.envelope.received_ms = start;
    copy.envelope.message_id = "<m" + std::to_string(++messages) + "@example.org>";
    for (const auto& r : recipients) copy.envelope.recipients.push_back({r, r, notify, "rfc822;" + r});
    std::error_code ec;
    auto txn = store->begin({copy}, ec);
    REQUIRE(txn);
    std::string body = "From: " + from + "\r\nTo: " + recipients.front() + "\r\nMessage-ID: " +
                       copy.envelope.message_id + "\r\nSubject: stuck\r\n\r\n" + std::string(3000, 'x') + "\r\n";
    REQUIRE(!txn->write(body));
    std::vector<QueuePath> done;
    REQUIRE(!txn->commit(&done));
    REQUIRE(done.size() == 1);
    auto arrival = id_time_ms(done.front().name.id);
    REQUIRE(arrival);
    start = *arrival;
    return done.front();
  }

  /// Records a failed attempt, as a master's temporary failure would.
  void defer(const QueuePath& f, const std::string& diagnostic) {
    auto entry = store->find(f.name.id, f.channel);
    REQUIRE(entry);
    auto claim = store->claim(*entry);
    REQUIRE(claim);
    std::vector<HistoryRecord> records;
    for (const auto& r : claim->file().envelope.recipients)
      records.push_back({start, Outcome::deferred, r.active, diagnostic});
    REQUIRE(store->retry(*claim, records).ok);
  }

  struct Pass {
    ReturnJobSummary summary;
    std::vector<std::string> lines;  ///< describe() of each action
  };
  Pass run(std::int64_t age_ms, bool dry_run = false) {
    Pass p;
    ReturnJobOptions o;
    o.now_ms = start + age_ms;
    o.dry_run = dry_run;
    auto s = services();
    p.summary = run_return_job(s, o, [&](const ReturnAction& a) { p.lines.push_back(describe(a, dry_run)); });
    log->flush();
    return p;
  }

  std::vector<QueueEntry> entries(const std::string& channel) const {
    std::vector<QueueEntry> out;
    ScanOptions so;
    so.channel = channel;
    so.cleanup = false;
    store->scan(so, [&](const QueueEntry& e) { out.push_back(e); });
    return out;
  }
  std::vector<ParsedFile> parsed(const std::string& channel) const {
    std::vector<ParsedFile> out;
    for (const auto& e : entries(channel)) out.push_back(store->read(e));
    return out;
  }
  std::optional<QueueEntry> find(const QueuePath& f) const { return store->find(f.name.id, f.channel); }

  std::vector<std::string> log_lines() {
    log->flush();
    std::vector<std::string> out;
    std::ifstream in(root / "log" / "mail.log_current");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  /// "source dest CODE active" of each record, e.g. "tcp_local process E alice@example.org".
  std::vector<std::string> records() {
    std::vector<std::string> out;
    std::regex rx(R"(^\S+ \S+ (\S+)\s+(\S+)?\s+([A-Z]+) \d+ \S* rfc822;\S* (\S+))");
    for (const auto& l : log_lines()) {
      std::smatch m;
      if (!std::regex_search(l, m, rx)) continue;
      std::string dest = m[2].matched && m[2].str() != m[3].str() ? m[2].str() + " " : "";
      out.push_back(m[1].str() + " " + dest + m[3].str() + " " + m[4].str());
    }
    return out;
  }
  /// Removes the notices enqueued so far (after a test looked at them):
  /// they are new files, and a later pass with the clock days ahead would
  /// judge them too.
  void clear_process() {
    for (const auto& e : entries("process")) REQUIRE(store->remove(e).ok);
  }
};

std::vector<std::string> notice_recipients(const ParsedFile& f) {
  std::vector<std::string> out;
  for (const auto& r : f.envelope.recipients) out.push_back(r.active);
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("notices ages: the channel's, normalnotices first, else l's, else 3 6 9 12", "[return]") {
  Rig rig;
  auto ages = [&](std::string_view ch) { return notice_ages(*rig.snapshot, ch); };
  CHECK(ages("quick").values == std::vector<std::int64_t>{1, 3});
  CHECK(ages("quick").ms == std::vector<std::int64_t>{kDay, 3 * kDay});
  CHECK(ages("quick").origin == "notices");
  CHECK(ages("normal").values == std::vector<std::int64_t>{2, 5});
  CHECK(ages("normal").origin == "normalnotices");
  CHECK(ages("plain").values == std::vector<std::int64_t>{1, 2, 4, 7});
  CHECK(ages("plain").origin == "l notices");
  CHECK(ages("no-such-channel").origin == "l notices");
  CHECK(ages("quick").text() == "1 3 days");

  Rig bare("defaults logging\n\nl\nmail.example.test example.test\n\nprocess\nprocess-daemon\n\nplain\nplain-daemon\n");
  CHECK(notice_ages(*bare.snapshot, "plain").values == std::vector<std::int64_t>{3, 6, 9, 12});
  CHECK(notice_ages(*bare.snapshot, "plain").origin == "default");

  Rig hours(kChannels, "RETURN_UNITS=1\n");
  CHECK(hours.snapshot->options.integer("RETURN_UNITS") == 1);
  CHECK(notice_ages(*hours.snapshot, "quick").ms == std::vector<std::int64_t>{kHour, 3 * kHour});
  CHECK(notice_ages(*hours.snapshot, "quick").text() == "1 3 hours");
}

TEST_CASE("due_notice: one warning per step reached, the return at the last age", "[return]") {
  NoticeAges a;
  a.values = {1, 2, 4, 7};
  for (auto v : a.values) a.ms.push_back(v * kDay);
  auto due = [&](std::int64_t age, unsigned warned) {
    auto d = due_notice(a, age, warned);
    return std::to_string(d.kind) + ":" + std::to_string(d.step);
  };
  CHECK(due(0, 0) == "0:0");
  CHECK(due(kDay - 1, 0) == "0:0");
  CHECK(due(kDay, 0) == "1:1");
  CHECK(due(kDay, 1) == "0:0");             // already warned
  CHECK(due(2 * kDay + 5, 1) == "1:2");
  CHECK(due(5 * kDay, 0) == "1:3");         // missed runs: one warning, the highest step
  CHECK(due(5 * kDay, 3) == "0:0");
  CHECK(due(7 * kDay, 3) == "2:4");         // the last age returns
  CHECK(due(70 * kDay, 0) == "2:4");

  NoticeAges single;
  single.values = {5};
  single.ms = {5 * kDay};
  CHECK(due_notice(single, 4 * kDay, 0).kind == DueNotice::nothing);
  CHECK(due_notice(single, 5 * kDay, 0).kind == DueNotice::give_back);
}

TEST_CASE("warned_step reads back the highest step noted in the history", "[return]") {
  std::vector<HistoryRecord> h;
  CHECK(warned_step(h) == 0);
  h.push_back({1, Outcome::deferred, "a@b", "delay warning 9 looks like one but is no warned record"});
  h.push_back({2, Outcome::warned, "", warned_note(2, "of 3 sent")});
  h.push_back({3, Outcome::warned, "", warned_note(1, "of 3 sent")});
  h.push_back({4, Outcome::warned, "", "something else"});
  CHECK(warned_step(h) == 2);
  CHECK(warned_note(2, "of 3 sent") == "delay warning 2 of 3 sent");
}

TEST_CASE("a delay warning at each intermediate age, the return at the last", "[return]") {
  Rig rig;
  auto f = rig.enqueue("tcp_local", {"bob@example.net", "carol@example.net"});
  rig.defer(f, "dns;mx.example.net (TCP|127.0.0.1|4000|127.0.0.2|25) (mx ESMTP) smtp;451 4.7.1 try later");
  const std::string tried_name = rig.find(f)->name.str();
  CHECK(tried_name.starts_with("ZY"));

  SECTION("too young: nothing") {
    auto p = rig.run(kDay - 60'000);
    CHECK(p.lines.empty());
    CHECK(p.summary.examined == 0);  // not even opened
    CHECK(rig.log_lines().empty());
  }

  auto p = rig.run(kDay + 1000);
  REQUIRE(p.lines.size() == 1);
  CHECK(std::regex_match(p.lines[0], std::regex(R"(warned tcp_local/ZY\w+\.00 age 1d00h, warning 1 of 3, 2 recipients)")));
  CHECK(p.summary.warned == 1);
  // The notice (E records tcp_local -> process for the sender and the
  // postmaster: copywarnpost), then a W record per recipient.
  CHECK(rig.records() == Strings{"tcp_local process E alice@example.org",
                                 "tcp_local process E postmaster@example.test",
                                 "tcp_local W bob@example.net", "tcp_local W carol@example.net"});
  auto w = rig.log_lines()[2];
  CHECK(w.find("<m1@example.org>") != std::string::npos);
  CHECK(w.find("delayed 1d00h (warning 1 of 3, notices 1 2 4 7 days)") != std::string::npos);
  auto notices = rig.parsed("process");
  REQUIRE(notices.size() == 1);
  const auto& n = notices[0].envelope;
  CHECK(n.from.empty());
  CHECK(n.notice.kind == core::NoticeKind::delay);
  CHECK(n.notice.original_id == f.name.id);
  CHECK(n.notice.reporting_channel == "tcp_local");
  CHECK(notice_recipients(notices[0]) == Strings{"alice@example.org", "postmaster@example.test"});
  REQUIRE(n.notice.recipients.size() == 2);
  CHECK(n.notice.recipients[0].action == "delayed");
  CHECK(n.notice.recipients[0].status == "4.7.1");  // from the last SMTP reply
  CHECK(n.notice.recipients[0].diagnostic == "smtp; 451 4.7.1 try later");
  CHECK(n.notice.recipients[0].remote_mta == "dns; mx.example.net");
  // Last-Attempt-Date is the failed attempt's, not the warning's.
  CHECK(n.notice.recipients[0].last_attempt_ms > 0);
  CHECK(n.notice.recipients[0].last_attempt_ms < rig.start + kDay);
  // RET not FULL: a warning carries the header section only.
  CHECK(n.size < 400);
  // The step is in the file's history; the file stays under its name.
  auto still = rig.find(f);
  REQUIRE(still);
  CHECK(still->name.str() == tried_name);
  CHECK(warned_step(rig.store->read(*still).history) == 1);

  SECTION("running again at the same age sends nothing") {
    rig.clear_process();
    auto again = rig.run(kDay + 2000);
    CHECK(again.lines.empty());
    CHECK(again.summary.examined == 1);  // opened, nothing due
    CHECK(rig.records().size() == 4);
    CHECK(rig.entries("process").empty());
  }

  SECTION("the next steps, then the return at 7 days") {
    rig.clear_process();
    auto p2 = rig.run(2 * kDay + 1000);
    REQUIRE(p2.lines.size() == 1);
    CHECK(p2.lines[0].find("warning 2 of 3") != std::string::npos);
    rig.clear_process();
    CHECK(rig.run(3 * kDay).lines.empty());
    auto p3 = rig.run(4 * kDay);
    REQUIRE(p3.lines.size() == 1);
    CHECK(p3.lines[0].find("warning 3 of 3") != std::string::npos);
    rig.clear_process();
    CHECK(rig.run(7 * kDay - 1).lines.empty());
    auto before = rig.records().size();

    auto r = rig.run(7 * kDay);
    REQUIRE(r.lines.size() == 1);
    CHECK(std::regex_match(r.lines[0], std::regex(R"(returned tcp_local/ZY\w+\.00 age 7d00h, 2 recipients)")));
    CHECK(r.summary.returned == 1);
    CHECK(!rig.find(f));
    CHECK(rig.entries("tcp_local").empty());
    auto recs = rig.records();
    CHECK(Strings(recs.begin() + static_cast<long>(before), recs.end()) ==
          Strings{"tcp_local process E alice@example.org", "tcp_local process E postmaster@example.test",
                  "tcp_local R bob@example.net", "tcp_local R carol@example.net"});
    auto last = rig.log_lines().back();
    CHECK(last.find("delivery time expired: queued 7d00h (notices 1 2 4 7 days); last error: dns;mx.example.net") !=
          std::string::npos);
    auto failure = rig.parsed("process");
    REQUIRE(failure.size() == 1);
    CHECK(failure[0].envelope.notice.kind == core::NoticeKind::failure);
    REQUIRE(failure[0].envelope.notice.recipients.size() == 2);
    CHECK(failure[0].envelope.notice.recipients[1].action == "failed");
    CHECK(failure[0].envelope.notice.recipients[1].status == "4.4.7");
    CHECK(failure[0].envelope.notice.recipients[1].final_recipient == "carol@example.net");
    // A failure notice carries the whole message (the process channel decides what to return).
    CHECK(failure[0].envelope.size > 3000);

    // Nothing left to do.
    rig.clear_process();
    CHECK(rig.run(8 * kDay).lines.empty());
  }
}

TEST_CASE("a job that missed days sends one warning, for the highest step reached", "[return]") {
  Rig rig;
  auto f = rig.enqueue("tcp_local", {"bob@example.net"});
  auto p = rig.run(5 * kDay);
  REQUIRE(p.lines.size() == 1);
  CHECK(p.lines[0].find("warning 3 of 3") != std::string::npos);
  CHECK(rig.records() == Strings{"tcp_local process E alice@example.org",
                                 "tcp_local process E postmaster@example.test", "tcp_local W bob@example.net"});
  auto warning = rig.parsed("process");
  REQUIRE(warning.size() == 1);
  CHECK(warning[0].envelope.notice.recipients[0].last_attempt_ms == 0);  // never tried: no Last-Attempt-Date
  rig.clear_process();
  CHECK(rig.run(6 * kDay).lines.empty());
  // Without any attempt the return still says why.
  auto r = rig.run(7 * kDay);
  REQUIRE(r.lines.size() == 1);
  auto failure = rig.parsed("process");
  REQUIRE(failure.size() == 1);
  CHECK(failure[0].envelope.notice.recipients[0].diagnostic.starts_with("X-imta; delivery time expired"));
}

TEST_CASE("a file being delivered is skipped; the next run acts on it", "[return]") {
  Rig rig;
  auto f = rig.enqueue("tcp_local", {"bob@example.net"});
  {
    auto entry = rig.find(f);
    REQUIRE(entry);
    auto claim = rig.store->claim(*entry);
    REQUIRE(claim);
    auto p = rig.run(7 * kDay);
    REQUIRE(p.lines.size() == 1);
    CHECK(std::regex_match(p.lines[0], std::regex(R"(skipped tcp_local/ZZ\w+\.00 age 7d00h: being delivered, next run)")));
    CHECK(p.summary.skipped == 1);
    CHECK(p.summary.failed == 0);
    CHECK(rig.log_lines().empty());
    CHECK(rig.entries("process").empty());
  }
  auto p = rig.run(7 * kDay);
  REQUIRE(p.lines.size() == 1);
  CHECK(p.lines[0].starts_with("returned "));
  CHECK(!rig.find(f));
}

TEST_CASE("a dry run reports and changes nothing", "[return]") {
  Rig rig;
  auto young = rig.enqueue("tcp_local", {"bob@example.net"});
  auto never = rig.enqueue("quick", {"x@example.net", "y@example.net"}, "alice@example.org", core::notify_never);
  auto before_young = fs::last_write_time(rig.find(young)->path);
  auto p = rig.run(3 * kDay, true);
  std::sort(p.lines.begin(), p.lines.end());
  REQUIRE(p.lines.size() == 2);
  CHECK(std::regex_match(p.lines[0], std::regex(R"(would return quick/ZZ\w+\.00 age 3d00h, 0 recipients, 2 removed \(NOTIFY=NEVER\))")));
  CHECK(std::regex_match(p.lines[1], std::regex(R"(would warn tcp_local/ZZ\w+\.00 age 3d00h, warning 2 of 3, 1 recipient)")));
  CHECK(p.summary.warned == 1);
  CHECK(p.summary.returned == 1);
  CHECK(rig.find(never));
  CHECK(fs::last_write_time(rig.find(young)->path) == before_young);
  CHECK(warned_step(rig.store->read(*rig.find(young)).history) == 0);
  CHECK(rig.entries("process").empty());
  CHECK(rig.log_lines().empty());
}

TEST_CASE("NOTIFY: NEVER gets K and no notice, FAILURE only gets no warning", "[return]") {
  Rig rig;
  auto never = rig.enqueue("quick", {"x@example.net"}, "alice@example.org", core::notify_never);
  auto failure_only = rig.enqueue("quick", {"y@example.net"}, "alice@example.org", core::notify_failure);
  auto p = rig.run(kDay);
  std::sort(p.lines.begin(), p.lines.end());
  REQUIRE(p.lines.size() == 2);
  CHECK(p.lines[0].ends_with("warning 1 of 1, nobody to tell"));
  CHECK(p.lines[1].ends_with("warning 1 of 1, nobody to tell"));
  CHECK(rig.log_lines().empty());
  CHECK(rig.entries("process").empty());
  // The step is remembered all the same.
  CHECK(warned_step(rig.store->read(*rig.find(never)).history) == 1);
  CHECK(rig.run(2 * kDay).lines.empty());

  auto r = rig.run(3 * kDay);
  REQUIRE(r.lines.size() == 2);
  CHECK(!rig.find(never));
  CHECK(!rig.find(failure_only));
  auto recs = rig.records();
  std::sort(recs.begin(), recs.end());
  // copysendpost (the defaults line): the postmaster gets a copy of the failure notice.
  CHECK(recs == Strings{"quick K x@example.net", "quick R y@example.net", "quick process E alice@example.org",
                        "quick process E postmaster@example.test"});
  auto notices = rig.parsed("process");
  REQUIRE(notices.size() == 1);  // for y only; nowarnpost does not concern failures
  CHECK(notices[0].envelope.notice.kind == core::NoticeKind::failure);
  REQUIRE(notices[0].envelope.notice.recipients.size() == 1);
  CHECK(notices[0].envelope.notice.recipients[0].final_recipient == "y@example.net");
}

TEST_CASE("warnpost, copywarnpost, errwarnpost, nowarnpost decide the postmaster's copy", "[return]") {
  Rig rig;
  rig.enqueue("normal", {"a@example.net"});                // warnpost
  rig.enqueue("quick", {"b@example.net"});                 // nowarnpost
  rig.enqueue("errors", {"c@example.net"});                // errwarnpost, sender known
  rig.enqueue("errors", {"d@example.net"}, "");            // errwarnpost, empty sender
  rig.enqueue("tcp_local", {"e@example.net"}, "");         // copywarnpost, empty sender
  auto p = rig.run(2 * kDay);
  CHECK(p.summary.warned == 5);
  Strings got;
  for (const auto& n : rig.parsed("process")) {
    std::string who;
    for (const auto& r : notice_recipients(n)) who += " " + r;
    got.push_back(n.envelope.notice.recipients[0].final_recipient + ":" + who);
  }
  std::sort(got.begin(), got.end());
  CHECK(got == Strings{"a@example.net: alice@example.org postmaster@example.test",
                       "b@example.net: alice@example.org", "c@example.net: alice@example.org",
                       "d@example.net: postmaster@example.test", "e@example.net: postmaster@example.test"});
  // W records for every warned recipient, whoever got the notice.
  auto recs = rig.records();
  CHECK(std::count_if(recs.begin(), recs.end(), [](const std::string& r) { return r.find(" W ") != std::string::npos; }) == 5);
}

TEST_CASE("RET=FULL warnings carry the whole message", "[return]") {
  Rig rig;
  rig.enqueue("tcp_local", {"bob@example.net"}, "alice@example.org", 0, core::Ret::full);
  rig.run(kDay);
  auto n = rig.parsed("process");
  REQUIRE(n.size() == 1);
  CHECK(n[0].envelope.size > 3000);
}

TEST_CASE("held files are left alone", "[return]") {
  Rig rig;
  auto f = rig.enqueue("tcp_local", {"bob@example.net"});
  REQUIRE(rig.store->hold(*rig.find(f)).ok);
  auto p = rig.run(30 * kDay);
  CHECK(p.lines.empty());
  CHECK(p.summary.examined == 0);
  auto held = rig.find(f);
  REQUIRE(held);
  CHECK(held->held);
}

TEST_CASE("RETURN_UNITS=1: the ages are hours", "[return]") {
  Rig rig(kChannels, "RETURN_UNITS=1\n");
  auto f = rig.enqueue("quick", {"bob@example.net"});
  CHECK(rig.run(kHour - 1000).lines.empty());
  auto w = rig.run(kHour + 1000);
  REQUIRE(w.lines.size() == 1);
  CHECK(w.lines[0].find("age 1h00m, warning 1 of 1, 1 recipient") != std::string::npos);
  rig.clear_process();
  auto r = rig.run(3 * kHour);
  REQUIRE(r.lines.size() == 1);
  CHECK(r.lines[0].starts_with("returned quick/"));
  CHECK(!rig.find(f));
  CHECK(rig.log_lines().back().find("delivery time expired: queued 3h00m (notices 1 3 hours)") != std::string::npos);
}

TEST_CASE("next_return_run_ms: RETURN_TIME every day, every hour with RETURN_UNITS=1", "[return]") {
  // The test runs with TZ=UTC0 (tests/queue/return/meson.build).
  auto at = [](int y, int mo, int d, int h, int mi) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_isdst = -1;
    return static_cast<std::int64_t>(::mktime(&tm)) * 1000;
  };
  Rig daily(kChannels, "", "RETURN_TIME=00:30\n[POOL=DEFAULT]\n");
  CHECK(next_return_run_ms(*daily.snapshot, at(2026, 11, 21, 15, 5)) == at(2026, 11, 22, 0, 30));
  CHECK(next_return_run_ms(*daily.snapshot, at(2026, 11, 21, 0, 10)) == at(2026, 11, 21, 0, 30));
  CHECK(next_return_run_ms(*daily.snapshot, at(2026, 11, 21, 0, 30)) == at(2026, 11, 22, 0, 30));
  CHECK(next_return_run_ms(*daily.snapshot, at(2026, 12, 31, 23, 0)) == at(2027, 1, 1, 0, 30));
  Rig hourly(kChannels, "RETURN_UNITS=1\n", "RETURN_TIME=03:15\n[POOL=DEFAULT]\n");
  CHECK(next_return_run_ms(*hourly.snapshot, at(2026, 11, 21, 15, 5)) == at(2026, 11, 21, 15, 15));
  CHECK(next_return_run_ms(*hourly.snapshot, at(2026, 11, 21, 15, 20)) == at(2026, 11, 21, 16, 15));
  CHECK(next_return_run_ms(*hourly.snapshot, at(2026, 11, 21, 23, 45)) == at(2026, 11, 22, 0, 15));
}
