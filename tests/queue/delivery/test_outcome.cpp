// apply_outcome: what a master's report does to the queue file on disk and
// which mail.log lines it writes, in the order of the seed's examples 21-4,
// 21-5 and 21-7.
#include "delivery_rig.hpp"

#include "queue/notify.hpp"

using namespace imta;
using namespace imta::queue;
using namespace imta::queue::testing;

namespace {

struct Applied {
  OutcomeSummary summary;
  std::vector<std::string> trace;
};

RecipientOutcome outcome(RecipientStatus s, std::string diag = {}) {
  RecipientOutcome o;
  o.status = s;
  o.log_diagnostics = std::move(diag);
  return o;
}

/// Claims `file` and applies `report` to it, as a job would.
Applied apply(Rig& rig, const QueuePath& file, const DeliveryReport& report) {
  auto entry = rig.store->find(file.name.id, file.channel);
  REQUIRE(entry);
  auto claim = rig.store->claim(*entry);
  REQUIRE(claim);
  Applied out;
  core::Instance instance(rig.root);
  MasterServices services;
  services.instance = &instance;
  services.snapshot = rig.snapshot;
  services.store = rig.store.get();
  services.submitter = rig.submitter.get();
  services.log = rig.log.get();
  services.now_ms = [&rig] { return rig.clock.load(); };
  services.trace = [&out](std::string_view line) { out.trace.emplace_back(line); };
  out.summary = apply_outcome(services, *claim, report);
  return out;
}

DeliveryReport report_of(std::vector<RecipientOutcome> outcomes) {
  DeliveryReport r;
  r.recipients = std::move(outcomes);
  return r;
}

/// The code column of each log line ("E", "D", "Q", ...), with the two channel columns.
std::vector<std::string> codes(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  std::regex rx(R"(^\S+ \S+ (\S+)\s+(\S+)?\s+([A-Z]+) )");
  for (const auto& l : lines) {
    std::smatch m;
    if (!std::regex_search(l, m, rx)) continue;
    out.push_back(m[1].str() + (m[2].matched && m[2].str() != m[3].str() ? " " + m[2].str() : "") + " " + m[3].str());
  }
  return out;
}

}  // namespace

TEST_CASE("delivered recipients: D records, the file is removed", "[outcome]") {
  Rig rig;
  auto f = rig.enqueue("fast", {"a@fast.test", "b@fast.test"});
  auto report = report_of({outcome(RecipientStatus::delivered, "dns;mx.fast.test (TCP|127.0.0.1|2788|127.0.0.2|25) (mx ESMTP) smtp;250 2.0.0 Ok"),
                           outcome(RecipientStatus::relayed, "smtp;250 relayed")});
  report.modifiers.esmtp = true;
  report.modifiers.tls = true;
  // LOG_CONNECTION is off in this option.dat: the field is not written.
  report.recipients[0].connection_info = "mx.fast.test dns;mx.fast.test (TCP|127.0.0.1|2788|127.0.0.2|25)";
  auto a = apply(rig, f, report);
  CHECK(a.summary.error.empty());
  CHECK(a.summary.file_removed);
  CHECK(a.summary.delivered == 2);
  CHECK(rig.files("fast").empty());
  auto lines = rig.log_lines();
  REQUIRE(lines.size() == 2);
  CHECK(std::regex_search(lines[0], std::regex(
      R"(^\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d\.\d\d fast\s+DES 1 adam@example.test rfc822;a@fast.test a@fast.test )"
      R"(\S+/queue/fast/ZZ)" + f.name.id + R"(\.00 <test.1@example.test> )"
      R"(dns;mx.fast.test \(TCP\|127.0.0.1\|2788\|127.0.0.2\|25\) \(mx ESMTP\) smtp;250 2.0.0 Ok$)")));
  CHECK(std::regex_search(lines[1], std::regex(R"( fast\s+DES 1 adam@example.test rfc822;b@fast.test b@fast.test .* smtp;250 relayed$)")));
}

TEST_CASE("every recipient deferred: Q records naming ZZ, the file becomes ZY with history", "[outcome]") {
  Rig rig;
  auto f = rig.enqueue("retry", {"a@retry.test", "b@retry.test"});
  auto a = apply(rig, f, report_of({outcome(RecipientStatus::deferred, "smtp;451 4.7.1 try later"),
                                    outcome(RecipientStatus::deferred, "smtp;452 4.2.2 full")}));
  CHECK(a.summary.error.empty());
  CHECK(a.summary.deferred == 2);
  CHECK(!a.summary.file_removed);
  CHECK(a.summary.next_name == "ZY" + f.name.id + ".00");
  CHECK(rig.files("retry") == std::vector<std::string>{"ZY" + f.name.id + ".00"});
  auto lines = rig.log_lines();
  REQUIRE(lines.size() == 2);
  CHECK(std::regex_search(lines[0], std::regex(R"( retry\s+Q 1 adam@example.test rfc822;a@retry.test a@retry.test \S+/retry/ZZ)" + f.name.id + R"(\.00 <test.1@example.test> smtp;451 4.7.1 try later$)")));
  CHECK(std::regex_search(lines[1], std::regex(R"( retry\s+Q 1 .*b@retry.test .*/retry/ZZ.* smtp;452 4.2.2 full$)")));
  auto entry = rig.store->find(f.name.id, "retry");
  REQUIRE(entry);
  auto parsed = rig.store->read(*entry);
  REQUIRE(parsed.history.size() == 2);
  CHECK(parsed.history[0].outcome == Outcome::deferred);
  CHECK(parsed.history[0].recipient == "a@retry.test");
  CHECK(parsed.history[0].diagnostic == "smtp;451 4.7.1 try later");
  CHECK(parsed.history[0].time_ms == rig.clock.load());
}

TEST_CASE("some delivered, some deferred: D and Z, a file for the rest", "[outcome]") {
  Rig rig;
  auto f = rig.enqueue("retry", {"ok@retry.test", "later@retry.test", "drop@retry.test"});
  auto a = apply(rig, f, report_of({outcome(RecipientStatus::delivered, "smtp;250 ok"),
                                    outcome(RecipientStatus::deferred, "smtp;421 busy"),
                                    outcome(RecipientStatus::removed, "removed by policy")}));
  CHECK(a.summary.error.empty());
  CHECK(a.summary.delivered == 1);
  CHECK(a.summary.deferred == 1);
  CHECK(a.summary.removed == 1);
  CHECK(codes(rig.log_lines()) == std::vector<std::string>{"retry D", "retry K", "retry Z"});
  auto z = rig.log_matching(R"( retry\s+Z 1 adam@example.test rfc822;later@retry.test later@retry.test \S+/retry/ZZ)" + f.name.id + R"(\.00 .* smtp;421 busy$)");
  CHECK(z.size() == 1);
  // One file, the next retry name, only the deferred recipient in it.
  REQUIRE(rig.files("retry") == std::vector<std::string>{"ZY" + f.name.id + ".00"});
  auto entry = rig.store->find(f.name.id, "retry");
  REQUIRE(entry);
  auto parsed = rig.store->read(*entry);
  REQUIRE(parsed.envelope.recipients.size() == 1);
  CHECK(parsed.envelope.recipients[0].active == "later@retry.test");
  REQUIRE(parsed.history.size() == 3);
  CHECK(parsed.history[0].outcome == Outcome::delivered);
  CHECK(parsed.history[2].outcome == Outcome::deferred);
}

TEST_CASE("a report with too few outcomes defers the recipients it left out", "[outcome]") {
  Rig rig;
  auto f = rig.enqueue("retry", {"one@retry.test", "two@retry.test"});
  auto a = apply(rig, f, report_of({outcome(RecipientStatus::delivered, "smtp;250 ok")}));
  CHECK(codes(rig.log_lines()) == std::vector<std::string>{"retry D", "retry Z"});
  CHECK(rig.log_matching("two@retry.test .* reported no outcome for this recipient$").size() == 1);
  CHECK(rig.files("retry") == std::vector<std::string>{"ZY" + f.name.id + ".00"});
}

TEST_CASE("bounced recipients: the notice to process first, then R; the file goes", "[outcome]") {
  Rig rig;
  auto f = rig.enqueue("tcp_local", {"user@very.bogus.test"});
  auto a = apply(rig, f, report_of({outcome(RecipientStatus::bounced, "Illegal host/domain name found")}));
  CHECK(a.summary.error.empty());
  CHECK(a.summary.bounced == 1);
  CHECK(a.summary.file_removed);
  CHECK(rig.files("tcp_local").empty());
  // Seed example 21-4: E records tcp_local -> process (sender, postmaster), then R.
  auto lines = rig.log_lines();
  auto c = codes(lines);
  REQUIRE(!c.empty());
  CHECK(c.back() == "tcp_local R");
  for (std::size_t i = 0; i + 1 < c.size(); ++i) CHECK(c[i] == "tcp_local process E");
  CHECK(c.size() >= 2);
  auto r = rig.log_matching(R"( tcp_local\s+R 1 adam@example.test rfc822;user@very.bogus.test user@very.bogus.test \S+/tcp_local/ZZ)" + f.name.id + R"(\.00 <test.1@example.test> Illegal host/domain name found$)");
  CHECK(r.size() == 1);
  auto e = rig.log_matching(R"( tcp_local\s+process\s+E \d+  rfc822;adam@example.test adam@example.test \S+/process/ZZ\S+\.00 <[^>]+>,<test.1@example.test>)");
  CHECK(e.size() == 1);
  // The notice waits in the process channel.
  REQUIRE(rig.files("process").size() == 1);
  auto notice = rig.store->find(rig.files("process")[0]);
  REQUIRE(notice);
  auto parsed = rig.store->read(*notice);
  CHECK(parsed.envelope.from.empty());
  CHECK(parsed.envelope.notice.kind == core::NoticeKind::failure);
  REQUIRE(parsed.envelope.notice.recipients.size() == 1);
  CHECK(parsed.envelope.notice.recipients[0].final_recipient == "user@very.bogus.test");
}

TEST_CASE("NOTIFY=NEVER: a bounce is a K record and nobody is told", "[outcome]") {
  Rig rig;
  auto f = rig.enqueue("tcp_local", {"quiet@bogus.test"}, "adam@example.test", core::notify_never);
  auto a = apply(rig, f, report_of({outcome(RecipientStatus::bounced, "smtp;550 5.1.1 no such user")}));
  CHECK(a.summary.file_removed);
  CHECK(codes(rig.log_lines()) == std::vector<std::string>{"tcp_local K"});
  CHECK(rig.files("process").empty());
}

TEST_CASE("a hold report renames the file .HELD and logs nothing", "[outcome]") {
  Rig rig;
  auto f = rig.enqueue("fast", {"h@fast.test"});
  DeliveryReport report;
  report.hold = true;
  auto a = apply(rig, f, report);
  CHECK(a.summary.error.empty());
  CHECK(a.summary.held);
  CHECK(rig.files("fast") == std::vector<std::string>{"ZZ" + f.name.id + ".HELD"});
  CHECK(rig.log_lines().empty());
  auto entry = rig.store->find(f.name.id, "fast");
  REQUIRE(entry);
  auto parsed = rig.store->read(*entry);
  REQUIRE(parsed.history.size() == 1);
  CHECK(parsed.history[0].outcome == Outcome::held);
}

TEST_CASE("log_dequeue=false: delivered without D records (the process channel)", "[outcome]") {
  Rig rig;
  auto f = rig.enqueue("process", {"adam@example.test"}, "");
  auto report = report_of({outcome(RecipientStatus::delivered)});
  report.log_dequeue = false;
  auto a = apply(rig, f, report);
  CHECK(a.summary.file_removed);
  CHECK(rig.log_lines().empty());
}

TEST_CASE("a channel without the logging keyword writes no records", "[outcome]") {
  Rig rig;
  auto f = rig.enqueue("quiet", {"a@quiet.test", "b@quiet.test"});
  apply(rig, f, report_of({outcome(RecipientStatus::delivered), outcome(RecipientStatus::deferred, "later")}));
  CHECK(rig.log_lines().empty());
  CHECK(rig.files("quiet") == std::vector<std::string>{"ZY" + f.name.id + ".00"});
}
