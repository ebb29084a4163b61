// The process channel's master over a real queue store in a temporary
// instance: a failure notice enqueued to `process` (as queue/outcome does),
// then the master builds the report and submits it to the sender and the
// postmaster through the rewrite rules (E records `process l`, seed example
// 21-4); mail addressed to the channel directly is routed on unchanged.
#include <algorithm>

#include "channels/process/process_master.hpp"
#include "queue/notice.hpp"
#include "queue/outcome.hpp"
#include "queue/submit.hpp"
#include "tests/channels/process/mime_parse.hpp"
#include "tests/channels/process/process_support.hpp"

using namespace imta;
using namespace imta::testing;

namespace {

const std::string kOriginal =
    "From: adam@example.test\r\nTo: user@very.bogus.com\r\nSubject: hello\r\n"
    "Message-ID: <orig@example.test>\r\n\r\nbody line\r\n";

struct Harness {
  std::shared_ptr<const config::Snapshot> snap;
  Instance inst;
  core::Instance core_instance{inst.tmp.dir};
  queue::Submitter submitter;
  queue::MasterServices services;
  std::vector<std::string> traces;

  explicit Harness(std::shared_ptr<const config::Snapshot> s)
      : snap(std::move(s)), inst(*snap), submitter(snap, *inst.store, inst.log.get(), nullptr) {
    services.instance = &core_instance;
    services.snapshot = snap;
    services.store = inst.store.get();
    services.submitter = &submitter;
    services.log = inst.log.get();
    services.now_ms = [] { return std::int64_t{1795000300000}; };
    services.trace = [this](std::string_view line) { traces.emplace_back(line); };
  }

  /// The failure notice tcp_local enqueues for `original` (as queue/outcome does).
  queue::SubmitResult enqueue_failure(const core::Envelope& original, const std::string& message) {
    queue::RecipientOutcome o;
    o.status = queue::RecipientStatus::bounced;
    o.dsn_status = "5.1.2";
    o.diagnostic_code = "X-imta; Illegal host/domain name found";
    auto sub = queue::notice_submission(*snap, "tcp_local", "QORIG", original, message,
                                        core::NoticeKind::failure, {{&original.recipients[0], &o}}, 1795000200000);
    REQUIRE(sub);
    auto r = submitter.submit(std::move(*sub));
    REQUIRE_FALSE(r.error);
    return r;
  }

  /// Claims the only file of `channel` and runs the process master on it.
  std::pair<queue::DeliveryReport, queue::OutcomeSummary> run_process() {
    auto files = inst.files("process");
    REQUIRE(files.size() == 1);
    auto claim = inst.store->claim(files[0]);
    REQUIRE(claim);
    auto master = channels::process::make_master("process", services);
    REQUIRE(master);
    auto report = master->deliver(*claim);
    auto summary = queue::apply_outcome(services, *claim, report);
    return {report, summary};
  }

  /// The files of `channel` with their envelope and message.
  std::vector<std::pair<core::Envelope, std::string>> read_all(const std::string& channel) {
    std::vector<std::pair<core::Envelope, std::string>> out;
    for (const auto& f : inst.files(channel)) {
      auto claim = inst.store->claim(f);
      REQUIRE(claim);
      out.emplace_back(claim->file().envelope, claim->message());
    }
    return out;
  }
};

core::Envelope original_envelope() {
  core::Envelope e;
  e.from = "adam@example.test";
  e.source_channel = "l";
  e.received_ms = 1795000000000;
  e.message_id = "<orig@example.test>";
  e.recipients = {{"user@very.bogus.com", "user@very.bogus.com", 0, "rfc822;user@very.bogus.com"}};
  return e;
}

/// source, dest and code of each log line, e.g. "tcp_local process E".
std::vector<std::string> log_codes(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    auto w = words(l);
    // date time source [dest] CODE ...: channels are lower case, codes upper case.
    if (w.size() < 4) continue;
    const bool has_dest = w[3].find_first_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos;
    out.push_back(has_dest ? w[2] + " " + w[3] + " " + w[4] : w[2] + " " + w[3]);
  }
  return out;
}

}  // namespace

TEST_CASE("a failure notice becomes a report to the sender and a header-only copy to postmaster", "[process]") {
  Harness h(Config().load());  // defaults: copysendpost postheadonly
  auto enq = h.enqueue_failure(original_envelope(), kOriginal);
  auto [report, summary] = h.run_process();
  REQUIRE(report.recipients.size() == 2);
  for (const auto& o : report.recipients) CHECK(o.status == queue::RecipientStatus::delivered);
  CHECK_FALSE(report.log_dequeue);
  CHECK(summary.file_removed);
  CHECK(h.inst.files("process").empty());

  // Seed example 21-4: tcp_local process E (sender, postmaster), then process l E for both.
  auto lines = h.inst.log_lines();
  INFO([&] { std::string all; for (auto& l : lines) all += l + "\n"; return all; }());
  CHECK(log_codes(lines) == std::vector<std::string>{"tcp_local process E", "tcp_local process E",
                                                     "process l E", "process l E"});
  auto notice_id = words(lines[0]).back();
  REQUIRE(notice_id.ends_with(",<orig@example.test>"));
  notice_id = notice_id.substr(0, notice_id.find(','));
  CHECK(lines[0].find(" E 1  rfc822;adam@example.test adam@example.test ") != std::string::npos);
  CHECK(lines[1].find(" rfc822;postmaster@example.test postmaster@example.test ") != std::string::npos);
  for (std::size_t i = 2; i < 4; ++i) {
    CHECK(words(lines[i]).back() == notice_id);  // the new id only
    CHECK(lines[i].find("  rfc822;") != std::string::npos);  // empty envelope sender
  }

  auto copies = h.read_all("l");
  REQUIRE(copies.size() == 2);
  std::sort(copies.begin(), copies.end(),
            [](const auto& a, const auto& b) { return a.first.recipients[0].active < b.first.recipients[0].active; });
  const auto& [sender_env, sender_msg] = copies[0];
  const auto& [pm_env, pm_msg] = copies[1];
  CHECK(sender_env.recipients[0].active == "adam@example.test");
  CHECK(pm_env.recipients[0].active == "root@example.test");  // the postmaster alias
  CHECK(pm_env.recipients[0].original == "postmaster@example.test");
  for (const auto* env : {&sender_env, &pm_env}) {
    CHECK(env->from.empty());
    CHECK(env->source_channel == "process");
    CHECK(env->message_id == notice_id);
    CHECK(env->notice.kind == core::NoticeKind::none);
  }

  auto top = parse_entity(sender_msg);
  CHECK(top.field("From") == "Internet Mail Delivery <postmaster@example.test>");
  CHECK(top.field("To") == "<adam@example.test>");
  CHECK(top.field("Message-ID") == notice_id);
  CHECK(top.field("Auto-Submitted") == "auto-replied");
  auto parts = split_parts(top.body, boundary_of(top.field("Content-Type")));
  REQUIRE(parts.size() == 3);
  auto status = status_groups(parse_entity(parts[1]).body);
  REQUIRE(status.size() == 2);
  CHECK(status[0].field("Reporting-MTA") == "dns; mail.example.test");
  CHECK(status[1].field("Final-Recipient") == "rfc822; user@very.bogus.com");
  CHECK(status[1].field("Original-Recipient") == "rfc822;user@very.bogus.com");
  CHECK(status[1].field("Action") == "failed");
  CHECK(status[1].field("Status") == "5.1.2");
  CHECK(status[1].field("Diagnostic-Code") == "X-imta; Illegal host/domain name found");
  auto returned = parse_entity(parts[2]);
  CHECK(returned.field("Content-Type") == "message/rfc822");
  CHECK(returned.body == kOriginal);

  auto pm_top = parse_entity(pm_msg);
  CHECK(pm_top.field("To") == "<adam@example.test>");
  auto pm_parts = split_parts(pm_top.body, boundary_of(pm_top.field("Content-Type")));
  REQUIRE(pm_parts.size() == 3);
  CHECK(parse_entity(pm_parts[2]).field("Content-Type") == "text/rfc822-headers");
  CHECK(pm_msg.find("body line") == std::string::npos);
}

TEST_CASE("postheadbody and RET=HDRS make one report for sender and postmaster", "[process]") {
  Harness h(Config().edit("imta.cnf", "postheadonly", "postheadbody").load());
  auto e = original_envelope();
  e.ret = core::Ret::hdrs;
  h.enqueue_failure(e, kOriginal);
  h.run_process();
  auto copies = h.read_all("l");
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].first.recipients.size() == 2);
  auto top = parse_entity(copies[0].second);
  auto parts = split_parts(top.body, boundary_of(top.field("Content-Type")));
  CHECK(parse_entity(parts[2]).field("Content-Type") == "text/rfc822-headers");
}

TEST_CASE("CONTENT_RETURN_BLOCK_LIMIT cuts a big original to its header", "[process]") {
  Harness h(Config().edit("imta.cnf", "postheadonly", "postheadbody").add("option.dat", "CONTENT_RETURN_BLOCK_LIMIT=1\n").load());
  std::string big = kOriginal + std::string(3000, 'x') + "\r\n";
  h.enqueue_failure(original_envelope(), big);
  h.run_process();
  auto copies = h.read_all("l");
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].second.find("xxxxxxxx") == std::string::npos);
  CHECK(copies[0].second.find("too big to return whole") != std::string::npos);
}

TEST_CASE("a notice about a message with an empty sender goes to postmaster only", "[process]") {
  Harness h(Config().load());
  auto e = original_envelope();
  e.from = "";
  h.enqueue_failure(e, kOriginal);
  h.run_process();
  auto copies = h.read_all("l");
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].first.recipients.size() == 1);
  CHECK(copies[0].first.recipients[0].original == "postmaster@example.test");
  CHECK(parse_entity(copies[0].second).field("To") == "<postmaster@example.test>");
}

TEST_CASE("a notice nobody can be routed to is dropped with a K record, never bounced", "[process]") {
  Harness h(Config().edit("imta.cnf", "copysendpost", "nosendpost").load());
  auto e = original_envelope();
  e.from = "adam@";  // the rewrite rules cannot route it
  h.enqueue_failure(e, kOriginal);
  auto [report, summary] = h.run_process();
  REQUIRE(report.recipients.size() == 1);
  CHECK(report.recipients[0].status == queue::RecipientStatus::removed);
  CHECK(summary.file_removed);
  CHECK(h.inst.files().empty());
  auto codes = log_codes(h.inst.log_lines());
  CHECK(codes == std::vector<std::string>{"tcp_local process E", "process K"});
}

TEST_CASE("mail addressed to the process channel without a notice is routed on", "[process]") {
  Harness h(Config().load());
  queue::Submission sub;
  sub.envelope.from = "adam@example.test";
  sub.envelope.source_channel = "l";
  sub.recipients = {{"bob@example.org", "", 0, ""}, {"eve@example.test", "", 0, ""}};
  sub.message = kOriginal;
  sub.force_channel = "process";
  REQUIRE_FALSE(h.submitter.submit(sub).error);
  auto [report, summary] = h.run_process();
  CHECK(report.recipients[0].status == queue::RecipientStatus::delivered);
  CHECK(report.recipients[1].status == queue::RecipientStatus::delivered);
  auto remote = h.read_all("tcp_local");
  REQUIRE(remote.size() == 1);
  CHECK(remote[0].first.from == "adam@example.test");
  CHECK(remote[0].first.message_id == "<orig@example.test>");
  CHECK(remote[0].second == kOriginal);
  CHECK(h.read_all("l").size() == 1);
  auto codes = log_codes(h.inst.log_lines());
  CHECK(codes == std::vector<std::string>{"l process E", "l process E", "process tcp_local E", "process l E"});
}
