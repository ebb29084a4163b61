// Submitting from inside the MTA (queue/submit.hpp): routing through the
// rewrite rules and aliases of the default configuration, planning the
// queue copies, and Submitter::submit into a real store with its E records.
#include <algorithm>

#include "queue/message_file.hpp"
#include "queue/submit.hpp"
#include "tests/channels/process/process_support.hpp"

using namespace imta;
using namespace imta::testing;
using queue::Route;

namespace {

std::vector<std::string> describe(const std::vector<Route>& routes) {
  std::vector<std::string> out;
  for (const auto& r : routes) out.push_back(r.channel + " " + r.active);
  return out;
}

const std::string kMessage =
    "From: adam@example.test\r\nTo: bob@example.org\r\nSubject: hi\r\n"
    "Message-ID: <hdr-id@example.test>\r\n\r\nbody\r\n";

}  // namespace

TEST_CASE("route_address sends remote domains to tcp_local and local users to l", "[submit][routing]") {
  auto snap = Config().load();
  auto remote = queue::route_address(*snap, "bob@example.org", "l");
  REQUIRE(remote.ok);
  CHECK(describe(remote.routes) == std::vector<std::string>{"tcp_local bob@example.org"});
  auto local = queue::route_address(*snap, "adam@example.test", "tcp_local");
  REQUIRE(local.ok);
  CHECK(describe(local.routes) == std::vector<std::string>{"l adam@example.test"});
  CHECK(queue::is_local_channel(*snap, "l"));
  CHECK_FALSE(queue::is_local_channel(*snap, "tcp_local"));
  CHECK_FALSE(queue::is_local_channel(*snap, "process"));
}

TEST_CASE("route_address expands aliases of local addresses and rewrites each member", "[submit][routing]") {
  auto snap = Config()
                  .add("aliases", "team: adam, bob@example.org, adam@example.test, carol\n")
                  .load();
  auto r = queue::route_address(*snap, "team@example.test", "tcp_local");
  REQUIRE(r.ok);
  // adam and adam@example.test are the same address: one entry.
  CHECK(describe(r.routes) == std::vector<std::string>{"l adam@example.test", "tcp_local bob@example.org",
                                                       "l carol@example.test"});
  // postmaster at the host name is the postmaster alias too (-> root).
  auto pm = queue::route_address(*snap, "postmaster@mail.example.test", "process");
  REQUIRE(pm.ok);
  CHECK(describe(pm.routes) == std::vector<std::string>{"l root@mail.example.test"});
}

TEST_CASE("route_address refuses an address the rewrite rules cannot route", "[submit][routing]") {
  auto snap = Config().edit("imta.cnf", ".                        $U%$H@tcp_local-daemon\n", "").load();
  auto r = queue::route_address(*snap, "bob@nowhere.invalid", "l");
  CHECK_FALSE(r.ok);
  CHECK(r.error.find("Illegal host/domain name found") != std::string::npos);
  CHECK(r.routes.empty());
}

TEST_CASE("plan_copies: one file per channel, single_sys per domain, single and addrsperfile", "[submit][plan]") {
  auto snap = Config()
                  .edit("imta.cnf", "process maxjobs 2", "process single maxjobs 2")
                  .edit("imta.cnf", "l maxjobs 4", "l addrsperfile 2 maxjobs 4")
                  .load();
  std::vector<Route> routes = {{"tcp_local", "a@one.example"}, {"l", "u1@example.test"},
                               {"tcp_local", "b@two.example"}, {"tcp_local", "c@ONE.example"},
                               {"l", "u2@example.test"},      {"l", "u3@example.test"},
                               {"process", "p1@x"},           {"process", "p2@x"}};
  auto plan = queue::plan_copies(*snap, routes);
  std::vector<std::string> got;
  for (const auto& p : plan) {
    std::string line = p.channel;
    for (auto i : p.recipients) line += " " + std::to_string(i);
    got.push_back(line);
  }
  CHECK(got == std::vector<std::string>{"tcp_local 0 3", "tcp_local 2", "l 1 4", "l 5", "process 6", "process 7"});
}

TEST_CASE("Submitter routes, enqueues one file per copy and writes E records", "[submit]") {
  auto snap = Config().add("aliases", "team: adam, bob@example.org\n").load();
  Instance inst(*snap);
  queue::Submitter submitter(snap, *inst.store, inst.log.get(), nullptr);
  queue::Submission sub;
  sub.envelope.from = "";
  sub.envelope.source_channel = "process";
  sub.recipients = {{"team@example.test", "", 0, "rfc822;team@example.test"},
                    {"nobody@", "", 0, ""},
                    {"bob@example.org", "", 2, ""}};
  sub.message = kMessage;
  sub.related_message_ids = {"<orig@example.test>"};
  auto result = submitter.submit(sub);
  REQUIRE_FALSE(result.error);
  CHECK(result.refused.size() == 1);
  CHECK(result.refused.front().starts_with("nobody@: "));
  REQUIRE(result.files.size() == 2);
  CHECK(result.files[0].channel == "l");
  CHECK(result.files[1].channel == "tcp_local");
  CHECK(result.files[0].name.id == result.id);

  auto files = inst.files();
  REQUIRE(files.size() == 2);
  for (const auto& f : files) {
    auto parsed = inst.store->read(f);
    REQUIRE(parsed.status == queue::ParseStatus::ok);
    CHECK(parsed.envelope.from.empty());
    CHECK(parsed.envelope.source_channel == "process");
    CHECK(parsed.envelope.message_id == "<hdr-id@example.test>");  // from the header
    CHECK(parsed.envelope.size == kMessage.size());
    if (f.channel == "l") {
      REQUIRE(parsed.envelope.recipients.size() == 1);
      CHECK(parsed.envelope.recipients[0].active == "adam@example.test");
      CHECK(parsed.envelope.recipients[0].original == "team@example.test");
      CHECK(parsed.envelope.recipients[0].orcpt == "rfc822;team@example.test");
    } else {
      // bob came twice (through the alias and directly): one entry.
      REQUIRE(parsed.envelope.recipients.size() == 1);
      CHECK(parsed.envelope.recipients[0].active == "bob@example.org");
    }
  }

  auto lines = inst.log_lines();
  REQUIRE(lines.size() == 2);
  INFO(lines[0]);
  auto l = words(lines[0]);
  // date time source dest E size (empty from) rfc822;orig active file ids
  REQUIRE(l.size() == 10);
  CHECK(l[2] == "process");
  CHECK(l[3] == "l");
  CHECK(l[4] == "E");
  CHECK(l[6] == "rfc822;team@example.test");
  CHECK(l[7] == "adam@example.test");
  CHECK(l[8].starts_with(inst.queue_dir.string() + "/l/ZZ"));
  CHECK(lines[0].find(" E 1  rfc822;") != std::string::npos);  // the empty sender: two blanks
  auto t = words(lines[1]);
  REQUIRE(t.size() == 10);
  CHECK(t[3] == "tcp_local");
  CHECK(t[6] == "rfc822;team@example.test");  // bob's first way in was the alias
  // LOG_MESSAGE_ID: the new id, then the related ones.
  for (const auto& line : lines) CHECK(line.ends_with(" <hdr-id@example.test>,<orig@example.test>"));
}

TEST_CASE("Submitter with force_channel enqueues without routing", "[submit]") {
  auto snap = Config().load();
  Instance inst(*snap);
  queue::Submitter submitter(snap, *inst.store, inst.log.get(), nullptr);
  queue::Submission sub;
  sub.envelope.from = "adam@example.test";
  sub.envelope.source_channel = "tcp_local";
  sub.envelope.message_id = "<given@example.test>";
  sub.recipients = {{"adam@example.test", "", 0, ""}, {"postmaster@example.test", "", 0, ""}};
  sub.message = kMessage;
  sub.force_channel = "process";
  auto result = submitter.submit(sub);
  REQUIRE_FALSE(result.error);
  REQUIRE(result.files.size() == 1);
  CHECK(result.files[0].channel == "process");
  auto parsed = inst.store->read(inst.files("process").at(0));
  REQUIRE(parsed.envelope.recipients.size() == 2);
  CHECK(parsed.envelope.recipients[1].active == "postmaster@example.test");  // not the alias' target
  auto lines = inst.log_lines();
  REQUIRE(lines.size() == 2);
  CHECK(words(lines[1])[3] == "process");
  CHECK(lines[1].ends_with(" <given@example.test>"));
}

TEST_CASE("Submitter enqueues nothing when no recipient can be routed", "[submit]") {
  auto snap = Config().load();
  Instance inst(*snap);
  queue::Submitter submitter(snap, *inst.store, inst.log.get(), nullptr);
  queue::Submission sub;
  sub.envelope.source_channel = "process";
  sub.recipients = {{"nobody@", "", 0, ""}};
  sub.message = kMessage;
  auto result = submitter.submit(sub);
  CHECK(result.error == queue::SubmitError::no_routable_recipient);
  CHECK(result.files.empty());
  CHECK(result.refused.size() == 1);
  CHECK(inst.files().empty());
  CHECK(inst.log_lines().empty());
}

TEST_CASE("Submitter writes no E records between channels without logging", "[submit]") {
  auto snap = Config().edit("imta.cnf", "defaults logging", "defaults").load();
  Instance inst(*snap);
  queue::Submitter submitter(snap, *inst.store, inst.log.get(), nullptr);
  queue::Submission sub;
  sub.envelope.source_channel = "process";
  sub.recipients = {{"adam@example.test", "", 0, ""}};
  sub.message = kMessage;
  auto result = submitter.submit(sub);
  REQUIRE_FALSE(result.error);
  CHECK(inst.files().size() == 1);
  CHECK(inst.log_lines().empty());
}
