// Who is told about a failure or success (queue/notice.hpp): the sender and
// the postmaster per sendpost / copysendpost / errsendpost / nosendpost and
// postheadonly / postheadbody, NOTIFY=NEVER, the empty sender.
#include "queue/notice.hpp"
#include "tests/channels/process/process_support.hpp"

using namespace imta;
using namespace imta::testing;

namespace {

core::Envelope original_envelope() {
  core::Envelope e;
  e.from = "adam@example.test";
  e.envid = "ENV1";
  e.ret = core::Ret::hdrs;
  e.source_channel = "l";
  e.received_ms = 1795000000000;
  e.message_id = "<orig@example.test>";
  e.recipients = {{"user@very.bogus.com", "user@very.bogus.com", 0, "rfc822;user@very.bogus.com"},
                  {"never@example.org", "never@example.org", core::notify_never, ""},
                  {"ok@example.org", "ok@example.org", core::notify_success | core::notify_failure, ""}};
  return e;
}

queue::RecipientOutcome bounced(std::string status = "5.1.2") {
  queue::RecipientOutcome o;
  o.status = queue::RecipientStatus::bounced;
  o.dsn_status = std::move(status);
  o.diagnostic_code = "smtp; 550 no such domain";
  o.remote_mta = "dns; mx.very.bogus.com";
  return o;
}

std::vector<std::string> addresses(const queue::Submission& s) {
  std::vector<std::string> out;
  for (const auto& r : s.recipients) out.push_back(r.address);
  return out;
}

}  // namespace

TEST_CASE("a failure notice goes to the sender and, by default, a copy to postmaster", "[notice]") {
  auto snap = Config().load();  // defaults: copysendpost postheadonly
  auto e = original_envelope();
  auto o = bounced();
  auto sub = queue::notice_submission(*snap, "tcp_local", "QID1", e, "orig bytes", core::NoticeKind::failure,
                                      {{&e.recipients[0], &o}}, 1795000100000);
  REQUIRE(sub);
  CHECK(addresses(*sub) == std::vector<std::string>{"adam@example.test", "postmaster@example.test"});
  CHECK(sub->force_channel == "process");
  CHECK(sub->envelope.from.empty());
  CHECK(sub->envelope.source_channel == "tcp_local");
  CHECK(sub->envelope.message_id.starts_with("<"));
  CHECK(sub->envelope.message_id.ends_with("@mail.example.test>"));
  CHECK(sub->envelope.message_id != e.message_id);
  CHECK(sub->related_message_ids == std::vector<std::string>{"<orig@example.test>"});
  CHECK(sub->message == "orig bytes");
  const auto& n = sub->envelope.notice;
  CHECK(n.kind == core::NoticeKind::failure);
  CHECK(n.original_id == "QID1");
  CHECK(n.original_message_id == "<orig@example.test>");
  CHECK(n.original_from == "adam@example.test");
  CHECK(n.original_envid == "ENV1");
  CHECK(n.original_ret == core::Ret::hdrs);
  CHECK(n.reporting_channel == "tcp_local");
  CHECK(n.arrival_ms == 1795000000000);
  CHECK(n.postmaster == "postmaster@example.test");
  CHECK(n.postmaster_headers_only);
  REQUIRE(n.recipients.size() == 1);
  CHECK(n.recipients[0].final_recipient == "user@very.bogus.com");
  CHECK(n.recipients[0].original_recipient == "rfc822;user@very.bogus.com");
  CHECK(n.recipients[0].action == "failed");
  CHECK(n.recipients[0].status == "5.1.2");
  CHECK(n.recipients[0].remote_mta == "dns; mx.very.bogus.com");
  CHECK(n.recipients[0].diagnostic == "smtp; 550 no such domain");
  CHECK(n.recipients[0].last_attempt_ms == 1795000100000);
  // Two notices never share a Message-ID.
  auto again = queue::notice_submission(*snap, "tcp_local", "QID1", e, "x", core::NoticeKind::failure,
                                        {{&e.recipients[0], &o}}, 0);
  CHECK(again->envelope.message_id != sub->envelope.message_id);
}

TEST_CASE("the sendpost family decides the postmaster copy", "[notice]") {
  struct Case {
    std::string keyword;
    std::string from;
    std::vector<std::string> told;
  };
  const std::string pm = "postmaster@example.test";
  const std::vector<Case> cases = {
      {"sendpost", "adam@example.test", {"adam@example.test", pm}},
      {"copysendpost", "adam@example.test", {"adam@example.test", pm}},
      {"errsendpost", "adam@example.test", {"adam@example.test"}},
      {"nosendpost", "adam@example.test", {"adam@example.test"}},
      {"sendpost", "", {pm}},
      {"copysendpost", "", {pm}},
      {"errsendpost", "", {pm}},
      {"nosendpost", "", {}},
  };
  for (const auto& c : cases) {
    INFO(c.keyword << " from <" << c.from << ">");
    auto snap = Config().edit("imta.cnf", "tcp_local smtp", "tcp_local " + c.keyword + " smtp").load();
    auto e = original_envelope();
    e.from = c.from;
    auto o = bounced();
    auto sub = queue::notice_submission(*snap, "tcp_local", "QID", e, "m", core::NoticeKind::failure,
                                        {{&e.recipients[0], &o}}, 0);
    if (c.told.empty()) {
      CHECK_FALSE(sub);
      continue;
    }
    REQUIRE(sub);
    CHECK(addresses(*sub) == c.told);
    CHECK(sub->envelope.from.empty());  // never to <>, never from anyone
    CHECK((sub->envelope.notice.postmaster == pm) == (c.told.back() == pm));
  }
}

TEST_CASE("postheadbody gives the postmaster the whole message; RETURN_ADDRESS names the postmaster", "[notice]") {
  auto snap = Config()
                  .edit("imta.cnf", "tcp_local smtp", "tcp_local postheadbody smtp")
                  .add("option.dat", "RETURN_ADDRESS=mailer@example.test\n")
                  .load();
  auto e = original_envelope();
  auto o = bounced();
  auto sub = queue::notice_submission(*snap, "tcp_local", "QID", e, "m", core::NoticeKind::failure,
                                      {{&e.recipients[0], &o}}, 0);
  REQUIRE(sub);
  CHECK(addresses(*sub) == std::vector<std::string>{"adam@example.test", "mailer@example.test"});
  CHECK(sub->envelope.notice.postmaster == "mailer@example.test");
  CHECK_FALSE(sub->envelope.notice.postmaster_headers_only);
  CHECK(queue::postmaster_address(*snap) == "mailer@example.test");
}

TEST_CASE("NOTIFY=NEVER recipients are not reported; only they: no notice", "[notice]") {
  auto snap = Config().load();
  auto e = original_envelope();
  auto o1 = bounced();
  auto o2 = bounced("5.1.1");
  auto none = queue::notice_submission(*snap, "tcp_local", "QID", e, "m", core::NoticeKind::failure,
                                       {{&e.recipients[1], &o1}}, 0);
  CHECK_FALSE(none);
  auto some = queue::notice_submission(*snap, "tcp_local", "QID", e, "m", core::NoticeKind::failure,
                                       {{&e.recipients[0], &o1}, {&e.recipients[1], &o2}}, 0);
  REQUIRE(some);
  REQUIRE(some->envelope.notice.recipients.size() == 1);
  CHECK(some->envelope.notice.recipients[0].final_recipient == "user@very.bogus.com");
}

TEST_CASE("a sender who asked for no failure notice is not told; postmaster still is", "[notice]") {
  auto snap = Config().load();
  auto e = original_envelope();
  e.recipients[0].notify = core::notify_success;
  auto o = bounced();
  auto sub = queue::notice_submission(*snap, "tcp_local", "QID", e, "m", core::NoticeKind::failure,
                                      {{&e.recipients[0], &o}}, 0);
  REQUIRE(sub);
  CHECK(addresses(*sub) == std::vector<std::string>{"postmaster@example.test"});
}

TEST_CASE("success notices go to the sender only, delivered or relayed", "[notice]") {
  auto snap = Config().load();
  auto e = original_envelope();
  queue::RecipientOutcome delivered, relayed;
  delivered.status = queue::RecipientStatus::delivered;
  relayed.status = queue::RecipientStatus::relayed;
  relayed.remote_mta = "dns; old.example.org";
  auto sub = queue::notice_submission(*snap, "tcp_local", "QID", e, "m", core::NoticeKind::success,
                                      {{&e.recipients[2], &delivered}, {&e.recipients[2], &relayed}}, 0);
  REQUIRE(sub);
  CHECK(addresses(*sub) == std::vector<std::string>{"adam@example.test"});
  CHECK(sub->envelope.notice.postmaster.empty());
  REQUIRE(sub->envelope.notice.recipients.size() == 2);
  CHECK(sub->envelope.notice.recipients[0].action == "delivered");
  CHECK(sub->envelope.notice.recipients[0].status == "2.0.0");
  CHECK(sub->envelope.notice.recipients[1].action == "relayed");
  // Nobody asked: nothing.
  auto plain = original_envelope();
  CHECK_FALSE(queue::notice_submission(*snap, "tcp_local", "QID", plain, "m", core::NoticeKind::success,
                                       {{&plain.recipients[0], &delivered}}, 0));
  // The empty sender gets no receipts.
  e.from.clear();
  CHECK_FALSE(queue::notice_submission(*snap, "tcp_local", "QID", e, "m", core::NoticeKind::success,
                                       {{&e.recipients[2], &delivered}}, 0));
}

TEST_CASE("a sender who is the postmaster is told once", "[notice]") {
  auto snap = Config().load();
  auto e = original_envelope();
  e.from = "postmaster@example.test";
  auto o = bounced();
  auto sub = queue::notice_submission(*snap, "tcp_local", "QID", e, "m", core::NoticeKind::failure,
                                      {{&e.recipients[0], &o}}, 0);
  REQUIRE(sub);
  CHECK(addresses(*sub) == std::vector<std::string>{"postmaster@example.test"});
  CHECK(sub->envelope.notice.postmaster.empty());
}
