// The conversion channel: the conversions file parser, the CONVERSIONS
// diversion, and the master running real shell scripts on a temporary
// instance: the converted message re-enqueued to its real destination, each
// exit status's outcome, the timeout, the image round trip.
#include <catch2/catch.hpp>

#include "channels/conversion/conversion_master.hpp"
#include "channels/tcp/smtp_policy.hpp"
#include "config/conversion_routing.hpp"
#include "config/conversions.hpp"
#include "core/smtp/command.hpp"
#include "queue/message_file.hpp"
#include "tests/channels/pipe/temp_instance.hpp"

using namespace imta;
using imta::testing::TempInstance;
using queue::RecipientStatus;

namespace {

config::Conversions parse(std::string_view text, config::Diagnostics& diags) {
  auto lines = config::split_source(text, "conversions", config::conversions_read_options(), diags);
  return config::parse_conversions(lines, diags);
}

std::vector<std::string> messages(const config::Diagnostics& diags) {
  std::vector<std::string> out;
  for (const auto& d : diags.items()) out.push_back(d.str());
  return out;
}

const std::string conversions_table =
    "\nCONVERSIONS\n"
    "  IN-CHAN=tcp_local;OUT-CHAN=l;CONVERT          Yes\n"
    "  IN-CHAN=tcp_local;OUT-CHAN=tcp_local;CONVERT  yes\n"
    "  IN-CHAN=tcp_intranet;OUT-CHAN=*;CONVERT       $YNo\n"
    "  *                                             No\n";

}  // namespace

TEST_CASE("conversions file: entries, defaults, quoting", "[conversion][parse]") {
  config::Diagnostics diags;
  auto c = parse("! comment\n# also a comment\n\n"
                 "in-chan=tcp_*; out-chan=l; command=/usr/bin/filter --tag \"a; b\" x; timeout=30; user=mail\n"
                 "command=/bin/cat\n"
                 "out-chan=tcp_local; shell=yes; command=\"printf 'X: y\\n'; cat\"\n"
                 "IN-CHAN = process ; COMMAND = /bin/true ;\\\n  timeout=5\n",
                 diags);
  CHECK(messages(diags).empty());
  REQUIRE(c.entries.size() == 4);
  const auto& a = c.entries[0];
  CHECK(a.where.str() == "conversions:4");
  CHECK(a.in_chan == "tcp_*");
  CHECK(a.out_chan == "l");
  CHECK(a.command == std::vector<std::string>{"/usr/bin/filter", "--tag", "a; b", "x"});
  CHECK(a.timeout_s == 30);
  CHECK(a.user == "mail");
  CHECK_FALSE(a.shell);
  const auto& b = c.entries[1];
  CHECK(b.in_chan == "*");
  CHECK(b.out_chan == "*");
  CHECK(b.timeout_s == 60);
  CHECK(b.user.empty());
  CHECK(c.entries[2].command == std::vector<std::string>{"/bin/sh", "-c", "printf 'X: y\\n'; cat"});
  CHECK(c.entries[3].in_chan == "process");
  CHECK(c.entries[3].timeout_s == 5);

  CHECK(c.find("tcp_local", "l") == &c.entries[0]);
  CHECK(c.find("TCP_INTRANET", "L") == &c.entries[0]);
  CHECK(c.find("l", "l") == &c.entries[1]);
  config::Conversions none;
  CHECK(none.find("tcp_local", "l") == nullptr);
}

TEST_CASE("conversions file: every mistake is reported with file and line", "[conversion][parse]") {
  config::Diagnostics diags;
  auto c = parse("command=/bin/cat; bogus\n"
                 "command=/bin/cat; colour=red\n"
                 "command=/bin/cat; command=/bin/true\n"
                 "in-chan=l\n"
                 "command=cat -u\n"
                 "command=/bin/cat; timeout=0\n"
                 "command=/bin/cat; timeout=soon\n"
                 "command=/bin/cat; shell=maybe\n"
                 "command=\"/bin/cat\n"
                 "command=/bin/cat\n",
                 diags);
  CHECK(messages(diags) ==
        std::vector<std::string>{
            "conversions:1: \"bogus\" is not name=value",
            "conversions:2: unknown field \"colour\" (in-chan, out-chan, command, shell, timeout, user)",
            "conversions:3: command given twice",
            "conversions:4: entry without command=",
            "conversions:5: command must start with the absolute path of a program (or say shell=yes), not \"cat -u\"",
            "conversions:6: timeout must be a number of seconds from 1 to 86400, not \"0\"",
            "conversions:7: timeout must be a number of seconds from 1 to 86400, not \"soon\"",
            "conversions:8: shell must be yes or no, not \"maybe\"",
            "conversions:9: unterminated double quote",
        });
  REQUIRE(c.entries.size() == 1);
  CHECK(c.entries[0].where.line == 10);
}

TEST_CASE("CONVERSIONS diverts a copy to the conversion channel", "[conversion][routing]") {
  TempInstance inst;
  inst.append("mappings", conversions_table);
  const auto& s = *inst.load();
  CHECK(config::conversion_diversion(s, "tcp_local", "l") == "conversion");
  CHECK(config::conversion_diversion(s, "tcp_local", "tcp_local") == "conversion");  // "yes" in any case
  CHECK(config::conversion_diversion(s, "tcp_intranet", "l") == "l");               // output "No" (flag $Y aside)
  CHECK(config::conversion_diversion(s, "tcp_auth", "l") == "l");                   // no match but "*"
  CHECK(config::conversion_diversion(s, "conversion", "l") == "l");                 // never diverted again
  CHECK(config::conversion_diversion(s, "tcp_local", "conversion") == "conversion");
  CHECK(config::conversion_diversion(s, "tcp_local", "bitbucket") == "bitbucket");
  CHECK(config::conversion_diversion(s, "tcp_local", "hold") == "hold");
}

TEST_CASE("CONVERSIONS is inert without the table or without the channel", "[conversion][routing]") {
  {
    TempInstance inst;  // the defaults: no CONVERSIONS table
    const auto& s = *inst.load();
    CHECK(config::conversion_diversion(s, "tcp_local", "l") == "l");
  }
  TempInstance inst;
  inst.append("mappings", conversions_table);
  inst.edit("imta.cnf", "conversion-daemon        $U%conversion-daemon@conversion-daemon\n", "");
  inst.edit("imta.cnf", "conversion maxjobs 2 pool LOCAL_POOL\nconversion-daemon\n", "");
  const auto& s = *inst.load();
  REQUIRE_FALSE(s.imta_cnf.find_channel("conversion"));
  CHECK(config::conversion_diversion(s, "tcp_local", "l") == "l");
}

TEST_CASE("the conversions file is compiled into the image", "[conversion][parse]") {
  TempInstance inst;
  inst.files["conversions"] = "in-chan=tcp_*; out-chan=l; command=/bin/cat -u; timeout=7; user=mail\n";
  auto snap = inst.load();
  REQUIRE(snap->conversions.entries.size() == 1);
  auto back = config::decode_image(config::encode_image(*snap));
  REQUIRE(back.conversions.entries.size() == 1);
  const auto& e = back.conversions.entries[0];
  CHECK(e.where.line == 1);
  CHECK(e.where.file.str().ends_with("conversions"));
  CHECK(e.in_chan == "tcp_*");
  CHECK(e.out_chan == "l");
  CHECK(e.command == std::vector<std::string>{"/bin/cat", "-u"});
  CHECK(e.timeout_s == 7);
  CHECK(e.user == "mail");
}

TEST_CASE("exit statuses of a conversion command", "[conversion]") {
  using channels::ChildResult;
  using channels::conversion::Verdict;
  using channels::conversion::verdict_of;
  auto exited = [](int code) {
    ChildResult r;
    r.end = ChildResult::End::exited;
    r.exit_code = code;
    return r;
  };
  CHECK(verdict_of(exited(0)) == Verdict::proceed);
  CHECK(verdict_of(exited(65)) == Verdict::reject);
  CHECK(verdict_of(exited(75)) == Verdict::retry);
  CHECK(verdict_of(exited(98)) == Verdict::discard);
  CHECK(verdict_of(exited(99)) == Verdict::hold);
  CHECK(verdict_of(exited(1)) == Verdict::retry);
  ChildResult signaled;
  signaled.end = ChildResult::End::signaled;
  CHECK(verdict_of(signaled) == Verdict::retry);
  ChildResult timed_out;
  timed_out.end = ChildResult::End::timed_out;
  CHECK(verdict_of(timed_out) == Verdict::retry);
}

namespace {

/// An instance with CONVERSIONS on for tcp_local -> l and a script for the
/// pair that acts by the recipient's local part.
struct ConversionFixture {
  TempInstance inst;
  std::unique_ptr<queue::Master> master;

  explicit ConversionFixture(const std::string& extra_entries = "") {
    inst.append("mappings", conversions_table);
    auto script = inst.script("filter.sh",
                              "case \"$IMTA_RECIPIENTS\" in\n"
                              "  reject*) cat >/dev/null; echo 'virus found: Eicar' >&2; exit 65;;\n"
                              "  later*) echo 'scanner busy' >&2; exit 75;;\n"
                              "  discard*) exit 98;;\n"
                              "  hold*) exit 99;;\n"
                              "  crash*) exit 3;;\n"
                              "  silent*) exit 0;;\n"
                              "  slow*) sleep 30;;\n"
                              "esac\n"
                              "printf 'X-Converted: yes\\nX-Env: %s %s>%s\\n' \"$IMTA_SENDER\" \"$IMTA_IN_CHANNEL\" "
                              "\"$IMTA_OUT_CHANNEL\"\n"
                              "cat\n");
    inst.files["conversions"] =
        extra_entries + "in-chan=tcp_local; out-chan=l; command=" + script + "; timeout=2\n";
    inst.load();
  }

  queue::DeliveryReport convert(const std::vector<std::string>& recipients) {
    auto env = testing::envelope("amy@example.org", recipients, "tcp_local");
    for (auto& r : env.recipients) r.notify = core::notify_success | core::notify_failure;
    auto file = inst.enqueue("conversion", env, testing::sample_message);
    master = channels::conversion::make_master("conversion", inst.services);
    REQUIRE(master);
    return inst.deliver(*master, file);
  }

  /// The single file queued for `channel`: its envelope and message.
  std::pair<core::Envelope, std::string> only(const std::string& channel) {
    auto files = inst.queued(channel);
    REQUIRE(files.size() == 1);
    auto claim = inst.store->claim(files.front());
    REQUIRE(claim);
    return {claim->file().envelope, claim->message()};
  }
};

}  // namespace

TEST_CASE("a command's output replaces the message, which goes on to its destination", "[conversion][master]") {
  ConversionFixture f;
  auto report = f.convert({"bert@example.test", "carl@example.test"});
  REQUIRE(report.recipients.size() == 2);
  for (const auto& r : report.recipients) {
    INFO(r.log_diagnostics);
    CHECK(r.status == RecipientStatus::delivered);
  }
  CHECK_FALSE(report.hold);
  CHECK(report.log_dequeue);
  auto [env, message] = f.only("l");
  CHECK(message == "X-Converted: yes\r\nX-Env: amy@example.org tcp_local>l\r\n" + testing::sample_message);
  CHECK(env.source_channel == "conversion");
  CHECK(env.from == "amy@example.org");
  CHECK(env.message_id == "<m1@example.org>");
  CHECK(env.size == message.size());
  REQUIRE(env.recipients.size() == 2);
  CHECK(env.recipients[0].active == "bert@example.test");
  CHECK(env.recipients[0].original == "bert@example.test");
  CHECK(env.recipients[0].orcpt == "rfc822;bert@example.test");
  CHECK(env.recipients[0].notify == (core::notify_success | core::notify_failure));
  CHECK(env.recipients[1].active == "carl@example.test");
  CHECK(f.inst.queued("conversion").size() == 1);  // queue/ removes it on the report, not the master
}

TEST_CASE("recipients are converted per destination; a pair without an entry passes unchanged",
          "[conversion][master]") {
  ConversionFixture f;
  auto report = f.convert({"bert@example.test", "someone@example.org"});
  REQUIRE(report.recipients.size() == 2);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(report.recipients[1].status == RecipientStatus::delivered);
  CHECK(f.only("l").second.starts_with("X-Converted: yes\r\n"));
  auto [env, message] = f.only("tcp_local");
  CHECK(message == testing::sample_message);
  REQUIRE(env.recipients.size() == 1);
  CHECK(env.recipients[0].active == "someone@example.org");
  CHECK(env.source_channel == "conversion");
}

TEST_CASE("exit 65 bounces with the command's stderr, 5.6.0", "[conversion][master]") {
  ConversionFixture f;
  auto report = f.convert({"reject@example.test"});
  REQUIRE(report.recipients.size() == 1);
  const auto& r = report.recipients[0];
  CHECK(r.status == RecipientStatus::bounced);
  CHECK(r.dsn_status == "5.6.0");
  CHECK_THAT(r.diagnostic_code, Catch::StartsWith("x-unix; conversion "));
  CHECK_THAT(r.diagnostic_code, Catch::EndsWith(" exited with status 65: virus found: Eicar"));
  CHECK(f.inst.queued("l").empty());
}

TEST_CASE("exit 75 and other statuses defer; 98 discards; 99 holds", "[conversion][master]") {
  ConversionFixture f;
  auto later = f.convert({"later@example.test"});
  CHECK(later.recipients.at(0).status == RecipientStatus::deferred);
  CHECK_THAT(later.recipients[0].log_diagnostics, Catch::EndsWith("exited with status 75: scanner busy"));
  auto crash = f.convert({"crash@example.test"});
  CHECK(crash.recipients.at(0).status == RecipientStatus::deferred);
  auto silent = f.convert({"silent@example.test"});
  CHECK(silent.recipients.at(0).status == RecipientStatus::deferred);
  CHECK_THAT(silent.recipients[0].log_diagnostics, Catch::EndsWith("exited with status 0 but wrote no message"));
  auto discard = f.convert({"discard@example.test"});
  CHECK(discard.recipients.at(0).status == RecipientStatus::removed);
  auto hold = f.convert({"hold@example.test"});
  CHECK(hold.hold);
  CHECK(f.inst.queued("l").empty());
}

TEST_CASE("a hold of one group sends nothing of the file", "[conversion][master]") {
  // The l group would proceed, but the tcp_local group's command says hold.
  ConversionFixture f("in-chan=tcp_local; out-chan=tcp_local; shell=yes; command=\"exit 99\"\n");
  auto report = f.convert({"bert@example.test", "someone@example.org"});
  CHECK(report.hold);
  CHECK(f.inst.queued("l").empty());
  CHECK(f.inst.queued("tcp_local").empty());
}

TEST_CASE("a command past its timeout is killed and the message retried", "[conversion][master]") {
  ConversionFixture f;
  auto report = f.convert({"slow@example.test"});
  REQUIRE(report.recipients.size() == 1);
  CHECK(report.recipients[0].status == RecipientStatus::deferred);
  CHECK_THAT(report.recipients[0].log_diagnostics, Catch::EndsWith(" timed out after 2 s"));
  CHECK(f.inst.queued("l").empty());
}

TEST_CASE("queue::Submitter enqueues to conversion when CONVERSIONS says so, never twice", "[conversion][routing]") {
  TempInstance inst;
  inst.append("mappings", conversions_table);
  inst.load();
  auto submit = [&](const std::string& source, const std::string& to) {
    queue::Submission sub;
    sub.envelope = testing::envelope("amy@example.org", {}, source);
    sub.recipients.push_back({to, to, 0, ""});
    sub.message = testing::sample_message;
    auto result = inst.submitter->submit(std::move(sub));
    REQUIRE_FALSE(result.error);
    REQUIRE(result.files.size() == 1);
    return result.files.front().channel;
  };
  CHECK(submit("tcp_local", "bert@example.test") == "conversion");
  CHECK(submit("conversion", "bert@example.test") == "l");
  CHECK(submit("tcp_intranet", "bert@example.test") == "l");
  CHECK(submit("tcp_local", "someone@example.org") == "conversion");
  CHECK(submit("tcp_auth", "someone@example.org") == "tcp_local");
}

TEST_CASE("the SMTP server routes RCPT to conversion when CONVERSIONS says so", "[conversion][routing]") {
  using namespace channels::tcp;
  TempInstance inst;
  inst.append("mappings", conversions_table);
  const auto& s = *inst.load();
  auto route = [&](const std::string& source, const std::string& to, Diversion diversion = Diversion::none) {
    SessionFacts f;
    f.source_channel = source;
    f.port_probe = "TCP|127.0.0.1|25|192.0.2.1|40000";
    f.helo = "client.example.org";
    f.esmtp = true;
    auto command = core::smtp::parse_command("RCPT TO:<" + to + ">");
    REQUIRE(command);
    auto known = [](std::string_view) { return UserStatus::found; };
    auto d = route_recipient(s, f, "amy@example.org", std::get<core::smtp::Rcpt>(*command), diversion, known);
    REQUIRE_FALSE(d.refusal);
    REQUIRE(d.routes.size() == 1);
    return d.routes.front();
  };
  auto r = route("tcp_local", "bert@example.test");
  CHECK(r.channel == "conversion");
  CHECK(r.active == "bert@example.test");
  CHECK(route("tcp_intranet", "bert@example.test").channel == "l");
  CHECK(route("tcp_local", "bert@example.test", Diversion::hold).channel == "hold");
}
