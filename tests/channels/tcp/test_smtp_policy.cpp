// The SMTP server's pure parts, without sockets: channel settings and
// switching, command sequencing, MAIL/RCPT routing and access decisions over
// the default configuration, queue copies, AUTH exchanges, the Received:
// header and the message assembler over a real queue store.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "channels/tcp/received_header.hpp"
#include "channels/tcp/smtp_auth.hpp"
#include "channels/tcp/smtp_data.hpp"
#include "channels/tcp/smtp_policy.hpp"
#include "config/default_files.hpp"
#include "core/smtp/command.hpp"
#include "queue/message_file.hpp"
#include "queue/store.hpp"

using namespace imta;
using namespace imta::channels::tcp;
namespace fs = std::filesystem;

namespace {

std::string fill(std::string_view text) {
  std::string s(text);
  for (auto [from, to] : {std::pair{"{{DOMAIN}}", "example.test"}, {"{{HOSTNAME}}", "mail.example.test"},
                          {"{{ROOT}}", "/srv/imta"}})
    for (std::size_t p; (p = s.find(from)) != std::string::npos;) s.replace(p, std::string_view(from).size(), to);
  return s;
}

struct TempDir {
  fs::path dir;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "imta-smtp-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
  }
  ~TempDir() { fs::remove_all(dir); }
};

/// The default configuration of `imta init`, with edits, loaded.
struct Config {
  TempDir tmp;
  std::map<std::string, std::string> files;
  Config() {
    for (const auto& f : config::default_files()) files[std::string(f.name)] = fill(f.contents);
  }
  /// Replaces `from` by `to` in file `name` (which must contain it).
  Config& edit(const std::string& name, const std::string& from, const std::string& to) {
    auto& text = files[name];
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    return *this;
  }
  Config& add(const std::string& name, const std::string& text) {
    files[name] += text;
    return *this;
  }
  config::Snapshot load() {
    for (const auto& [name, text] : files) std::ofstream(tmp.dir / name) << text;
    config::Diagnostics d;
    auto snap = config::load_configuration(tmp.dir, d);
    for (const auto& i : d.items()) {
      INFO(i.str());
      REQUIRE(i.severity != config::Severity::error);
    }
    return snap;
  }
};

core::smtp::Command parse(std::string_view line) {
  auto c = core::smtp::parse_command(line);
  REQUIRE(c.has_value());
  return *c;
}

core::smtp::Rcpt rcpt(std::string_view address) {
  return std::get<core::smtp::Rcpt>(parse("RCPT TO:<" + std::string(address) + ">"));
}

core::smtp::Mail mail(std::string_view line) { return std::get<core::smtp::Mail>(parse(line)); }

SessionFacts from_channel(std::string_view channel) {  // (the facts are views: a literal)
  SessionFacts f;
  f.source_channel = channel;
  f.port_probe = "TCP|127.0.0.1|25|192.0.2.1|40000";
  f.helo = "client.example.org";
  f.esmtp = true;
  return f;
}

UserLookup users(std::set<std::string> known, bool broken = false) {
  return [known = std::move(known), broken](std::string_view a) {
    if (broken) return UserStatus::unavailable;
    return known.count(std::string(a)) ? UserStatus::found : UserStatus::unknown;
  };
}

std::string wire(const std::optional<Reply>& r) { return r ? core::smtp::to_wire(*r) : std::string("(none)"); }

}  // namespace

// ---- channel settings and switching ---------------------------------------------------

TEST_CASE("the default tcp channels offer what imta.cnf says", "[smtp_server]") {
  auto snap = Config().load();
  auto local = channel_settings(snap, "tcp_local");
  CHECK(local.tls == Offer::may);
  CHECK(local.sasl == Offer::may);
  CHECK(local.switch_channel);
  CHECK(local.logging);
  CHECK(local.sasl_switch == "tcp_auth");
  CHECK(local.chunking);  // chunkingserver is the default
  CHECK(local.max_message_size == kDefaultMaxMessageSize);
  CHECK(local.max_recipients == 1000);
  CHECK(local.bad_auth_limit == 3);
  CHECK(local.bad_command_limit == kDefaultBadCommandLimit);
  CHECK(local.recipient_limit == 0);  // no per-session limits by default
  CHECK(local.reject_limit == 0);
  CHECK(local.transaction_limit == 0);
  CHECK(local.max_b_entries == 10);
  CHECK_FALSE(local.expn);
  CHECK_FALSE(local.auth_without_tls);
  CHECK(local.banner_host == "mail.example.test");
  CHECK(local.banner_body == "ESMTP imta");
  auto submit = channel_settings(snap, "tcp_submit");
  CHECK(submit.sasl == Offer::must);
  CHECK(submit.tls == Offer::may);
  CHECK_FALSE(submit.switch_channel);
  CHECK(channel_settings(snap, "no_such_channel").tls == Offer::no);
}

TEST_CASE("keywords and channel options change the settings", "[smtp_server]") {
  Config cfg;
  cfg.edit("imta.cnf", "tcp_local smtp mx single_sys switchchannel",
           "tcp_local smtp mx single_sys switchchannel nochunkingserver musttlsserver "
           "sourceblocklimit 100 disconnectbadauthlimit 5 disconnectbadcommandlimit 7 tlsswitchchannel tcp_auth "
           "disconnectrecipientlimit 50 disconnectrejectlimit 4 disconnecttransactionlimit 9");
  cfg.add("option.dat", "BLOCK_SIZE=2048\n");
  cfg.add("tcp_local_option",
          "ALLOW_RECIPIENTS_PER_TRANSACTION=3\nALLOW_AUTH_WITHOUT_TLS=1\nDISABLE_EXPAND=0\n"
          "BANNER_HOST=mx.example.test\nBANNER_BODY=ESMTP ready\nMAX_B_ENTRIES=2\n");
  auto snap = cfg.load();
  auto s = channel_settings(snap, "tcp_local");
  CHECK_FALSE(s.chunking);
  CHECK(s.tls == Offer::must);  // musttlsserver wins over maytls for the server side
  CHECK(s.max_message_size == 100u * 2048u);
  CHECK(s.bad_auth_limit == 5);
  CHECK(s.bad_command_limit == 7);
  CHECK(s.recipient_limit == 50);
  CHECK(s.reject_limit == 4);
  CHECK(s.transaction_limit == 9);
  CHECK(s.tls_switch == "tcp_auth");
  CHECK(s.max_recipients == 3);
  CHECK(s.auth_without_tls);
  CHECK(s.expn);
  CHECK(s.banner_host == "mx.example.test");
  CHECK(s.banner_body == "ESMTP ready");
  CHECK(s.max_b_entries == 2);
}

TEST_CASE("BLOCK_LIMIT sets the size limit when the channel has no sourceblocklimit", "[smtp_server]") {
  auto snap = Config().add("option.dat", "BLOCK_LIMIT=10\n").load();
  CHECK(channel_settings(snap, "tcp_local").max_message_size == 10u * 1024u);
}

TEST_CASE("switchchannel moves internal clients to tcp_intranet", "[smtp_server]") {
  auto snap = Config().load();
  CHECK(connection_channel(snap, "tcp_local", "127.0.0.1") == "tcp_intranet");
  CHECK(connection_channel(snap, "tcp_local", "::1") == "tcp_intranet");
  CHECK(connection_channel(snap, "tcp_local", "192.0.2.1") == "tcp_local");
  // tcp_submit has no switchchannel: its clients stay.
  CHECK(connection_channel(snap, "tcp_submit", "127.0.0.1") == "tcp_submit");
}

TEST_CASE("switching follows INTERNAL_IP and the target's noswitchchannel", "[smtp_server]") {
  Config cfg;
  cfg.edit("mappings", "  $(127.0.0.0/8)            $Y\n", "  127.0.0.2                 $Y\n");
  auto snap = cfg.load();
  CHECK(connection_channel(snap, "tcp_local", "127.0.0.1") == "tcp_local");
  CHECK(connection_channel(snap, "tcp_local", "127.0.0.2") == "tcp_intranet");

  Config closed;
  closed.edit("imta.cnf", "tcp_intranet smtp mx single_sys allowswitchchannel",
              "tcp_intranet smtp mx single_sys noswitchchannel");
  CHECK(connection_channel(closed.load(), "tcp_local", "127.0.0.1") == "tcp_local");
}

TEST_CASE("a rewrite rule for the client's address literal picks the channel, as in Sun's configurations",
          "[smtp_server]") {
  Config cfg;
  cfg.edit("imta.cnf", "[]                       $U%[$L]@tcp_local-daemon",
           "[192.0.2.7]              $U%[$L]@tcp_auth-daemon\n[]                       $U%[$L]@tcp_local-daemon");
  auto snap = cfg.load();
  CHECK(connection_channel(snap, "tcp_local", "192.0.2.7") == "tcp_auth");
  CHECK(connection_channel(snap, "tcp_local", "192.0.2.8") == "tcp_local");
}

// ---- sequencing and EHLO ---------------------------------------------------------------

TEST_CASE("commands out of sequence get 503, the others run", "[smtp_server]") {
  auto snap = Config().load();
  auto s = channel_settings(snap, "tcp_local");
  SessionState st;
  CHECK(wire(check_sequence(s, st, true, parse("MAIL FROM:<a@b.example>"))) == "503 5.5.1 Send HELO or EHLO first\r\n");
  CHECK(wire(check_sequence(s, st, true, parse("ETRN example.org"))) == "503 5.5.1 Send HELO or EHLO first\r\n");
  CHECK_FALSE(check_sequence(s, st, true, parse("NOOP")));
  CHECK_FALSE(check_sequence(s, st, true, parse("EHLO x")));
  st.greeted = st.esmtp = true;
  CHECK_FALSE(check_sequence(s, st, true, parse("MAIL FROM:<a@b.example>")));
  CHECK_FALSE(check_sequence(s, st, true, parse("ETRN example.org")));
  CHECK(wire(check_sequence(s, st, true, parse("RCPT TO:<a@b.example>"))) == "503 5.5.1 Need MAIL command first\r\n");
  CHECK(wire(check_sequence(s, st, true, parse("DATA"))) == "503 5.5.1 Need MAIL command first\r\n");
  st.in_transaction = true;
  CHECK(wire(check_sequence(s, st, true, parse("MAIL FROM:<a@b.example>"))) == "503 5.5.1 Sender already specified\r\n");
  CHECK(wire(check_sequence(s, st, true, parse("DATA"))) == "554 5.5.1 No valid recipients\r\n");
  st.recipients = 1;
  CHECK_FALSE(check_sequence(s, st, true, parse("DATA")));
  CHECK_FALSE(check_sequence(s, st, true, parse("BDAT 10 LAST")));  // chunkingserver is the default
  auto no_chunking = s;
  no_chunking.chunking = false;
  CHECK(wire(check_sequence(no_chunking, st, true, parse("BDAT 10 LAST"))) == "502 5.5.1 CHUNKING not available\r\n");
  CHECK(wire(check_sequence(s, st, true, parse("EXPN staff"))) == "502 5.5.1 EXPN not available\r\n");
  CHECK(wire(check_sequence(s, st, true, parse("ETRN example.org"))) ==
        "503 5.5.1 ETRN not permitted during a mail transaction\r\n");
  CHECK(wire(check_sequence(s, st, true, parse("STARTTLS"))) ==
        "503 5.5.1 STARTTLS not permitted during a mail transaction\r\n");
  CHECK(wire(check_sequence(s, st, true, parse("AUTH PLAIN"))) ==
        "503 5.5.1 AUTH not permitted during a mail transaction\r\n");
}

TEST_CASE("must-TLS and must-AUTH channels refuse mail until they are satisfied", "[smtp_server]") {
  Config cfg;
  cfg.edit("imta.cnf", "tcp_local smtp mx single_sys switchchannel",
           "tcp_local smtp mx single_sys switchchannel musttlsserver");
  auto snap = cfg.load();
  auto must_tls = channel_settings(snap, "tcp_local");
  SessionState st;
  st.greeted = st.esmtp = true;
  CHECK(wire(check_sequence(must_tls, st, true, parse("MAIL FROM:<a@b.example>"))) ==
        "530 5.7.0 Must issue a STARTTLS command first\r\n");
  CHECK(wire(check_sequence(must_tls, st, true, parse("AUTH PLAIN"))) ==
        "530 5.7.0 Must issue a STARTTLS command first\r\n");
  CHECK_FALSE(check_sequence(must_tls, st, true, parse("STARTTLS")));
  st.tls = true;
  CHECK_FALSE(check_sequence(must_tls, st, true, parse("MAIL FROM:<a@b.example>")));

  auto submit = channel_settings(snap, "tcp_submit");
  SessionState plain;
  plain.greeted = plain.esmtp = true;
  CHECK(wire(check_sequence(submit, plain, true, parse("MAIL FROM:<a@b.example>"))) ==
        "530 5.7.0 Authentication required\r\n");
  // AUTH needs TLS first (ALLOW_AUTH_WITHOUT_TLS=0)
  CHECK(wire(check_sequence(submit, plain, true, parse("AUTH PLAIN"))) ==
        "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  plain.tls = true;
  CHECK_FALSE(check_sequence(submit, plain, true, parse("AUTH PLAIN")));
  plain.authenticated = true;
  CHECK(wire(check_sequence(submit, plain, true, parse("AUTH PLAIN"))) == "503 5.5.1 Already authenticated\r\n");
  CHECK_FALSE(check_sequence(submit, plain, true, parse("MAIL FROM:<a@b.example>")));
}

TEST_CASE("STARTTLS is refused without a certificate, after TLS and after AUTH", "[smtp_server]") {
  auto snap = Config().load();
  auto s = channel_settings(snap, "tcp_local");
  SessionState st;
  CHECK(wire(check_sequence(s, st, false, parse("STARTTLS"))) == "502 5.5.1 STARTTLS not available\r\n");
  st.tls = true;
  CHECK(wire(check_sequence(s, st, true, parse("STARTTLS"))) == "503 5.5.1 TLS already active\r\n");
}

TEST_CASE("EHLO announces STARTTLS before TLS and AUTH only under TLS", "[smtp_server]") {
  auto snap = Config().load();
  auto s = channel_settings(snap, "tcp_local");
  SessionState st;
  auto before = core::smtp::to_wire(ehlo_reply("mx.example", "192.0.2.1", capabilities(s, st, true)));
  CHECK(before ==
        "250-mx.example Hello [192.0.2.1]\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
        "250-ENHANCEDSTATUSCODES\r\n250-ETRN\r\n250-DSN\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 STARTTLS\r\n");
  st.tls = true;
  auto after = core::smtp::to_wire(ehlo_reply("mx.example", "192.0.2.1", capabilities(s, st, true)));
  CHECK(after.find("STARTTLS") == std::string::npos);
  CHECK(after.find("250 AUTH PLAIN LOGIN\r\n") != std::string::npos);
  // No certificate: no STARTTLS.
  SessionState plain;
  CHECK(core::smtp::to_wire(ehlo_reply("h", "ip", capabilities(s, plain, false))).find("STARTTLS") ==
        std::string::npos);
}

TEST_CASE("ETRN names a domain, a domain and its subdomains, or a queue", "[smtp_server]") {
  auto snap = Config().load();
  auto remote = decide_etrn(snap, "tcp_local", "example.org");
  CHECK_FALSE(remote.refusal);
  CHECK(remote.channels == std::vector<std::string>{"tcp_local"});
  CHECK(decide_etrn(snap, "tcp_local", "@example.org").channels == std::vector<std::string>{"tcp_local"});
  CHECK(decide_etrn(snap, "tcp_local", "#tcp_intranet").channels == std::vector<std::string>{"tcp_intranet"});
  CHECK(decide_etrn(snap, "tcp_local", "#TCP_Local").channels == std::vector<std::string>{"tcp_local"});
  CHECK(wire(decide_etrn(snap, "tcp_local", "#no_such").refusal) ==
        "459 4.7.0 Node #no_such not allowed: no such queue\r\n");
  // Mail for this host's domains is delivered here: nothing to run for a client.
  CHECK(wire(decide_etrn(snap, "tcp_local", "example.test").refusal) ==
        "459 4.7.0 Node example.test not allowed: its mail is delivered here\r\n");
  for (auto bad : {"not_a_domain!", "@", "#", "a..b", "@@example.org"}) {
    INFO(bad);
    auto d = decide_etrn(snap, "tcp_local", bad);
    REQUIRE(d.refusal);
    CHECK(d.refusal->code == (std::string_view(bad) == "#" ? 459 : 501));
  }
}

TEST_CASE("MAIL parameters are checked against what was announced", "[smtp_server]") {
  auto snap = Config().add("option.dat", "BLOCK_LIMIT=1\n").load();
  auto s = channel_settings(snap, "tcp_local");
  SessionState st;
  st.greeted = st.esmtp = true;
  CHECK_FALSE(check_mail_parameters(s, st, mail("MAIL FROM:<a@b.example> SIZE=1024")));
  CHECK(wire(check_mail_parameters(s, st, mail("MAIL FROM:<a@b.example> SIZE=1025"))) ==
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  CHECK(wire(check_mail_parameters(s, st, mail("MAIL FROM:<a@b.example> BODY=BINARYMIME"))) ==
        "555 5.5.4 BODY=BINARYMIME not supported\r\n");
  st.esmtp = false;
  CHECK(wire(check_mail_parameters(s, st, mail("MAIL FROM:<a@b.example> BODY=8BITMIME"))) ==
        "555 5.5.4 MAIL parameters need EHLO\r\n");
  CHECK_FALSE(check_mail_parameters(s, st, mail("MAIL FROM:<a@b.example>")));
}

// ---- MAIL and RCPT ----------------------------------------------------------------------

TEST_CASE("with the default configuration outsiders cannot relay; internal and authenticated clients can",
          "[smtp_server]") {
  auto snap = Config().load();
  auto outside = route_recipient(snap, from_channel("tcp_local"), "a@x.example", rcpt("b@y.org"), Diversion::none,
                                 users({}));
  CHECK(outside.access_refusal);
  CHECK(wire(outside.refusal) == "550 5.7.1 Relaying not permitted: b@y.org\r\n");
  for (auto source : {"tcp_intranet", "tcp_auth", "tcp_submit"}) {
    INFO(source);
    auto ok = route_recipient(snap, from_channel(source), "a@x.example", rcpt("b@y.org"), Diversion::none, users({}));
    CHECK_FALSE(ok.refusal);
    REQUIRE(ok.routes.size() == 1);
    CHECK(ok.routes[0].channel == "tcp_local");
    CHECK(ok.routes[0].active == "b@y.org");
  }
}

TEST_CASE("local recipients must exist in the users database", "[smtp_server]") {
  auto snap = Config().load();
  auto known = route_recipient(snap, from_channel("tcp_local"), "a@x.example", rcpt("alice@example.test"),
                               Diversion::none, users({"alice@example.test"}));
  CHECK_FALSE(known.refusal);
  REQUIRE(known.routes.size() == 1);
  CHECK(known.routes[0].channel == "l");
  auto unknown = route_recipient(snap, from_channel("tcp_local"), "a@x.example", rcpt("nobody@example.test"),
                                 Diversion::none, users({"alice@example.test"}));
  CHECK(wire(unknown.refusal) == "550 5.1.1 nobody@example.test: no such user\r\n");
  CHECK_FALSE(unknown.access_refusal);
  auto broken = route_recipient(snap, from_channel("tcp_local"), "a@x.example", rcpt("alice@example.test"),
                                Diversion::none, users({}, true));
  REQUIRE(broken.refusal);
  CHECK(broken.refusal->code == 451);
}

TEST_CASE("aliases expand, and each member is routed and checked again", "[smtp_server]") {
  Config cfg;
  cfg.add("aliases", "staff: alice, carol@partner.example\n");
  auto snap = cfg.load();
  auto d = route_recipient(snap, from_channel("tcp_local"), "", rcpt("staff@example.test"), Diversion::none,
                           users({"alice@example.test"}));
  CHECK_FALSE(d.refusal);
  REQUIRE(d.routes.size() == 2);
  CHECK(d.routes[0].channel == "l");
  CHECK(d.routes[0].active == "alice@example.test");
  CHECK(d.routes[1].channel == "tcp_local");
  CHECK(d.routes[1].active == "carol@partner.example");
  // postmaster@ any local host name is the postmaster alias (-> root).
  auto pm = route_recipient(snap, from_channel("tcp_local"), "", rcpt("Postmaster"), Diversion::none,
                            users({"root@mail.example.test"}));
  CHECK_FALSE(pm.refusal);
  REQUIRE(pm.routes.size() == 1);
  CHECK(pm.routes[0].active == "root@mail.example.test");
}

TEST_CASE("ORIG_SEND_ACCESS sees the address as given, SEND_ACCESS the expansion", "[smtp_server]") {
  Config cfg;
  cfg.add("aliases", "outside: someone@far.example\n");
  cfg.add("mappings", "\nSEND_ACCESS\n  *|*|tcp_local|someone@far.example   $NNo$ mail$ to$ that$ member\n");
  auto snap = cfg.load();
  auto d = route_recipient(snap, from_channel("tcp_intranet"), "a@x.example", rcpt("outside@example.test"),
                           Diversion::none, users({}));
  CHECK(d.access_refusal);
  CHECK(wire(d.refusal) == "550 5.7.1 No mail to that member: outside@example.test\r\n");
}

TEST_CASE("ORIG_MAIL_ACCESS and MAIL_ACCESS see the port probe and the HELO", "[smtp_server]") {
  Config cfg;
  cfg.add("mappings", "\nORIG_MAIL_ACCESS\n  TCP|*|*|192.0.2.1|*|SMTP/client.example.org|MAIL|*|*|*|*   "
                      "$N452$ 4.7.1$ Slow$ down\n");
  auto snap = cfg.load();
  auto d = route_recipient(snap, from_channel("tcp_intranet"), "a@x.example", rcpt("b@y.org"), Diversion::none,
                           users({}));
  CHECK(wire(d.refusal) == "452 4.7.1 Slow down: b@y.org\r\n");
}

TEST_CASE("FROM_ACCESS refuses senders or replaces them", "[smtp_server]") {
  Config cfg;
  cfg.add("mappings",
          "\nFROM_ACCESS\n  *|*|*|*|*|SMTP/*|MAIL|*|spam@bad.example|*   $NSender$ blocked\n"
          "  *|*|*|*|*|SMTP/*|MAIL|*|old@x.example|*   $Y$Jnew@x.example\n");
  auto snap = cfg.load();
  auto refused = check_mail(snap, from_channel("tcp_local"), mail("MAIL FROM:<spam@bad.example>"));
  CHECK(wire(refused.refusal) == "550 5.7.1 Sender blocked: spam@bad.example\r\n");
  auto ok = check_mail(snap, from_channel("tcp_local"), mail("MAIL FROM:<someone@x.example>"));
  CHECK_FALSE(ok.refusal);
  CHECK(ok.from == "someone@x.example");
  auto replaced = check_mail(snap, from_channel("tcp_local"), mail("MAIL FROM:<old@x.example>"));
  CHECK_FALSE(replaced.refusal);
  CHECK(replaced.from == "new@x.example");
}

TEST_CASE("$B in SEND_ACCESS sends the recipient to the bitbucket channel", "[smtp_server]") {
  Config cfg;
  cfg.add("mappings", "\nSEND_ACCESS\n  *|*|*|junk@y.org   $B$Y\n");
  auto snap = cfg.load();
  auto d = route_recipient(snap, from_channel("tcp_intranet"), "a@x.example", rcpt("junk@y.org"), Diversion::none,
                           users({}));
  CHECK_FALSE(d.refusal);
  REQUIRE(d.routes.size() == 1);
  CHECK(d.routes[0].channel == "bitbucket");
}

TEST_CASE("an access refusal's text may choose the reply code", "[smtp_server]") {
  config::MappingResult r;
  r.matched = r.reject = true;
  r.reject_text = "Relaying not permitted";
  CHECK(core::smtp::to_wire(access_refusal(r, "b@y.org")) == "550 5.7.1 Relaying not permitted: b@y.org\r\n");
  r.reject_text = "452 4.2.2 Mailbox full";
  CHECK(core::smtp::to_wire(access_refusal(r, "b@y.org")) == "452 4.2.2 Mailbox full: b@y.org\r\n");
  r.reject_text = "5.7.26 Unauthenticated mail";
  CHECK(core::smtp::to_wire(access_refusal(r, "")) == "550 5.7.26 Unauthenticated mail\r\n");
  r.reject_text.clear();
  CHECK(core::smtp::to_wire(access_refusal(r, "x@y")) == "550 5.7.1 Access denied: x@y\r\n");
}

// ---- queue copies -------------------------------------------------------------------------

TEST_CASE("copies split by single, single_sys and addrsperfile", "[smtp_server]") {
  Config cfg;
  cfg.edit("imta.cnf", "l maxjobs 4 pool LOCAL_POOL", "l maxjobs 4 pool LOCAL_POOL addrsperfile 2");
  cfg.edit("imta.cnf", "hold maxjobs 1 pool LOCAL_POOL", "hold maxjobs 1 pool LOCAL_POOL single");
  auto snap = cfg.load();
  std::vector<AcceptedRecipient> r;
  auto add = [&](std::string channel, std::string active) { r.push_back({{channel, active}, active, 0, ""}); };
  add("tcp_local", "a@one.example");
  add("l", "u1@example.test");
  add("tcp_local", "b@two.example");
  add("tcp_local", "c@ONE.example");
  add("l", "u2@example.test");
  add("l", "u3@example.test");
  add("hold", "h1@example.test");
  add("hold", "h2@example.test");
  auto plan = plan_copies(snap, r);
  std::vector<std::pair<std::string, std::vector<std::size_t>>> got;
  for (auto& p : plan) got.emplace_back(p.channel, p.recipients);
  std::vector<std::pair<std::string, std::vector<std::size_t>>> want{
      {"tcp_local", {0, 3}}, {"tcp_local", {2}},  // single_sys: one file per domain
      {"l", {1, 4}},         {"l", {5}},          // addrsperfile 2
      {"hold", {6}},         {"hold", {7}},       // single
  };
  CHECK(got == want);
}

// ---- AUTH ---------------------------------------------------------------------------------------

TEST_CASE("base64 round trips and refuses what is not base64", "[smtp_server][auth]") {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("abcd"),
                        std::string("\0alice\0pw", 9)})
    CHECK(base64_decode(base64_encode(s)) == s);
  CHECK(base64_encode("Username:") == "VXNlcm5hbWU6");
  CHECK_FALSE(base64_decode("abc"));
  CHECK_FALSE(base64_decode("ab=c"));
  CHECK_FALSE(base64_decode("a!bc"));
  CHECK_FALSE(base64_decode("=abc"));
}

TEST_CASE("AUTH PLAIN with and without an initial response", "[smtp_server][auth]") {
  SaslExchange sasl;
  auto step = sasl.start("PLAIN", base64_encode(std::string("\0alice\0secret", 13)));
  REQUIRE(step.kind == SaslExchange::Kind::verify);
  CHECK(sasl.user() == "alice");
  CHECK(sasl.password() == "secret");

  step = sasl.start("PLAIN", std::nullopt);
  REQUIRE(step.kind == SaslExchange::Kind::challenge);
  CHECK(step.reply.code == 334);
  CHECK(step.reply.text.empty());
  step = sasl.respond(base64_encode(std::string("alice\0alice\0pw", 14)));
  REQUIRE(step.kind == SaslExchange::Kind::verify);
  CHECK(sasl.password() == "pw");

  step = sasl.start("PLAIN", base64_encode(std::string("admin\0alice\0pw", 14)));
  REQUIRE(step.kind == SaslExchange::Kind::failed);
  CHECK(step.reply.code == 535);
  step = sasl.start("PLAIN", base64_encode("no separators"));
  REQUIRE(step.kind == SaslExchange::Kind::failed);
  CHECK(core::smtp::to_wire(step.reply) == "501 5.5.2 Malformed PLAIN response\r\n");
}

TEST_CASE("AUTH LOGIN asks for the name, then the password; * cancels", "[smtp_server][auth]") {
  SaslExchange sasl;
  auto step = sasl.start("LOGIN", std::nullopt);
  REQUIRE(step.kind == SaslExchange::Kind::challenge);
  CHECK(core::smtp::to_wire(step.reply) == "334 VXNlcm5hbWU6\r\n");
  step = sasl.respond(base64_encode("alice"));
  REQUIRE(step.kind == SaslExchange::Kind::challenge);
  CHECK(core::smtp::to_wire(step.reply) == "334 UGFzc3dvcmQ6\r\n");
  step = sasl.respond(base64_encode("secret"));
  REQUIRE(step.kind == SaslExchange::Kind::verify);
  CHECK(sasl.user() == "alice");
  CHECK(sasl.password() == "secret");
  sasl.reset();
  CHECK(sasl.password().empty());

  step = sasl.start("LOGIN", base64_encode("bob"));
  REQUIRE(step.kind == SaslExchange::Kind::challenge);  // straight to the password
  step = sasl.respond("*");
  CHECK(core::smtp::to_wire(step.reply) == "501 5.0.0 Authentication cancelled\r\n");
  step = sasl.start("LOGIN", std::nullopt);
  step = sasl.respond("not base64!");
  CHECK(step.reply.code == 501);
  step = sasl.start("CRAM-MD5", std::nullopt);
  CHECK(core::smtp::to_wire(step.reply) == "504 5.5.4 Unrecognized authentication type\r\n");
}

// ---- Received: header ---------------------------------------------------------------------------

TEST_CASE("RFC 5322 dates in any time zone", "[received]") {
  CHECK(rfc5322_date(0, 0) == "Thu, 1 Jan 1970 00:00:00 +0000");
  CHECK(rfc5322_date(1795264918, 60) == "Sat, 21 Nov 2026 13:41:58 +0100");
  CHECK(rfc5322_date(1795264918, -330) == "Sat, 21 Nov 2026 07:11:58 -0530");
  CHECK(rfc5322_date(951782400, 0) == "Tue, 29 Feb 2000 00:00:00 +0000");
}

TEST_CASE("the protocol names of RFC 3848 and RFC 6531", "[received]") {
  ReceivedInfo i;
  CHECK(with_protocol(i) == "SMTP");
  i.esmtp = true;
  CHECK(with_protocol(i) == "ESMTP");
  i.tls = true;
  CHECK(with_protocol(i) == "ESMTPS");
  i.authenticated = true;
  CHECK(with_protocol(i) == "ESMTPSA");
  i.tls = false;
  CHECK(with_protocol(i) == "ESMTPA");
  i.utf8 = true;
  CHECK(with_protocol(i) == "UTF8SMTPA");
}

TEST_CASE("the Received: header names the client, us, the protocol, the id and the date", "[received]") {
  ReceivedInfo i;
  i.helo = "client.example.org";
  i.client_ip = "192.0.2.1";
  i.by_host = "mail.example.test";
  i.esmtp = i.tls = i.authenticated = true;
  i.tls_info = "TLSv1.3 TLS_AES_256_GCM_SHA384";
  i.id = "0ABC";
  i.for_address = "user@example.test";
  i.unix_time = 1795264918;
  CHECK(received_header(i) ==
        "Received: from client.example.org ([192.0.2.1])\r\n"
        "\tby mail.example.test (imta) with ESMTPSA id 0ABC\r\n"
        "\t(TLSv1.3 TLS_AES_256_GCM_SHA384)\r\n"
        "\tfor <user@example.test>;\r\n"
        "\tSat, 21 Nov 2026 12:41:58 +0000\r\n");
}

TEST_CASE("a HELO that is not a domain goes into a comment; IPv6 gets its literal", "[received]") {
  ReceivedInfo i;
  i.helo = "my (pc)";
  i.client_ip = "2001:db8::1";
  i.by_host = "mx";
  i.unix_time = 0;
  CHECK(received_header(i) ==
        "Received: from [IPv6:2001:db8::1] ([IPv6:2001:db8::1] helo=\"my \\(pc\\)\")\r\n"
        "\tby mx (imta) with SMTP;\r\n"
        "\tThu, 1 Jan 1970 00:00:00 +0000\r\n");
  i.helo = "[192.0.2.9]";
  CHECK(received_header(i).starts_with("Received: from [192.0.2.9] ([IPv6:2001:db8::1])\r\n"));
}

// ---- message data ----------------------------------------------------------------------------------

TEST_CASE("header facts: Message-ID (unfolded) and the Received: count", "[smtp_server]") {
  auto f = scan_headers("Received: a\r\nreceived: b\r\n c\r\nMessage-ID:\r\n <id@x>\r\nSubject: s\r\n\r\n"
                        "Received: in the body\r\n");
  CHECK(f.received == 2);
  CHECK(f.message_id == "<id@x>");
  CHECK(scan_headers("\r\nMessage-ID: <late@x>\r\n").message_id.empty());
}

namespace {

struct QueueRoot {
  TempDir tmp;
  queue::Store store{[this] {
    queue::StoreOptions o;
    o.root = tmp.dir;
    o.sync = queue::SyncMode::per_file;
    return o;
  }()};
};

std::vector<queue::Copy> one_copy(const HeaderFacts& facts) {
  queue::Copy c;
  c.channel = "l";
  c.envelope.from = "a@x.example";
  c.envelope.message_id = facts.message_id;
  c.envelope.recipients.push_back({"u@example.test", "u@example.test", 0, ""});
  return {c};
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("the assembler writes Received: first, then the message as received", "[smtp_server]") {
  QueueRoot q;
  MessageAssembler m(q.store, one_copy, [](const std::string& id) { return "Received: by test id " + id + "\r\n"; });
  m.append("Message-ID: <m1@x>\r\nSubj");
  m.append("ect: hi\r\n\r\nbody\r\n");
  REQUIRE_FALSE(m.finish());
  CHECK(m.facts().message_id == "<m1@x>");
  REQUIRE(m.copies().size() == 1);
  CHECK(m.copies()[0].envelope.message_id == "<m1@x>");
  std::vector<queue::QueuePath> paths;
  REQUIRE_FALSE(m.transaction().commit(&paths));
  REQUIRE(paths.size() == 1);
  auto parsed = queue::parse_file(read_all(paths[0].path));
  REQUIRE(parsed.status == queue::ParseStatus::ok);
  std::string message = read_all(paths[0].path).substr(parsed.message_offset, m.size());
  CHECK(message == "Received: by test id " + m.id() + "\r\nMessage-ID: <m1@x>\r\nSubject: hi\r\n\r\nbody\r\n");
}

TEST_CASE("the assembler finds the end of the header however the lines are split", "[smtp_server]") {
  // The empty line that ends the header arrives split over calls: the
  // header must end there, not earlier and not later (a field after it is
  // body text, not a Message-ID).
  const std::string head = "Subject: hi\r\n\r\n";
  for (std::size_t cut = head.size() - 3; cut < head.size(); ++cut) {
    QueueRoot q;
    MessageAssembler m(q.store, one_copy, [](const std::string&) { return std::string("Received: x\r\n"); });
    m.append(head.substr(0, cut));
    m.append(head.substr(cut));
    m.append("Message-ID: <in-body@x>\r\n");
    REQUIRE_FALSE(m.finish());
    CHECK(m.facts().message_id.empty());
    std::vector<queue::QueuePath> paths;
    REQUIRE_FALSE(m.transaction().commit(&paths));
    REQUIRE(paths.size() == 1);
    auto parsed = queue::parse_file(read_all(paths[0].path));
    REQUIRE(parsed.status == queue::ParseStatus::ok);
    CHECK(read_all(paths[0].path).substr(parsed.message_offset, m.size()) ==
          "Received: x\r\nSubject: hi\r\n\r\nMessage-ID: <in-body@x>\r\n");
  }
  // One line at a time, the way the session hands them over.
  QueueRoot q;
  MessageAssembler m(q.store, one_copy, [](const std::string&) { return std::string(); });
  for (std::string_view line : {"From: a@x\r\n", "Message-ID: <m2@x>\r\n", "\r\n", "body\r\n"}) m.append(line);
  REQUIRE_FALSE(m.finish());
  CHECK(m.facts().message_id == "<m2@x>");
}

TEST_CASE("a mail loop is refused before any queue file exists", "[smtp_server]") {
  QueueRoot q;
  MessageAssembler m(q.store, one_copy, [](const std::string&) { return std::string("Received: x\r\n"); });
  std::string header;
  for (int i = 0; i <= kMaxHops; ++i) header += "Received: hop " + std::to_string(i) + "\r\n";
  m.append(header + "\r\nbody\r\n");
  CHECK(wire(m.finish()) == "554 5.4.6 Too many hops (Received: headers), mail loop suspected\r\n");
  bool nothing = !fs::exists(q.tmp.dir / "l") || fs::is_empty(q.tmp.dir / "l");
  CHECK(nothing);
}

TEST_CASE("a storage failure answers 452 4.3.1 and keeps nothing", "[smtp_server]") {
  TempDir tmp;
  queue::StoreOptions o;
  o.root = tmp.dir / "missing";  // the store never invents the queue folder
  queue::Store store(o);
  MessageAssembler m(store, one_copy, [](const std::string&) { return std::string(); });
  m.append("Subject: x\r\n\r\nbody\r\n");
  CHECK(wire(m.finish()) == "452 4.3.1 Insufficient system storage\r\n");
  CHECK_FALSE(m.storage_error().empty());
}

TEST_CASE("E records: one per recipient, with the file, ORCPT and modifiers", "[smtp_server]") {
  TransactionInfo info;
  info.from = "a@x.example";
  info.source_channel = "tcp_local";
  info.message_id = "<m@x>";
  std::vector<AcceptedRecipient> r{{{"l", "u@example.test"}, "U@example.test", 2, "rfc822;orig@example.test"},
                                   {{"tcp_local", "b@y.org"}, "b@y.org", 0, ""}};
  auto copies = make_copies(info, r, {{"l", {0}}, {"tcp_local", {1}}});
  std::vector<queue::QueuePath> paths(2);
  paths[0].channel = "l";
  paths[0].path = "/q/l/ZZ0AAA.00";
  paths[1].channel = "tcp_local";
  paths[1].path = "/q/tcp_local/ZZ0AAA.00";
  EnqueueFacts facts;
  facts.size = 2000;
  facts.modifiers.esmtp = true;
  facts.connection_info = connection_field("helo", "192.0.2.1", "192.0.2.1");
  auto logs_all = [](std::string_view) { return true; };
  auto recs = enqueue_records(info, facts, copies, paths, logs_all);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].dest_channel == "l");
  CHECK(recs[0].orig_to == "orig@example.test");
  CHECK(recs[0].active_to == "u@example.test");
  CHECK(recs[0].notary == 2);
  CHECK(recs[0].filename == "/q/l/ZZ0AAA.00");
  CHECK(recs[0].connection_info == "helo (192.0.2.1 [192.0.2.1])");
  CHECK(recs[1].orig_to == "b@y.org");
  CHECK(recs[1].message_ids == std::vector<std::string>{"<m@x>"});
  auto only_local = [](std::string_view c) { return c == "l"; };
  CHECK(enqueue_records(info, facts, copies, paths, only_local).size() == 1);
}
