// The SMTP client's pure parts: EHLO parsing, MAIL/RCPT commands with DSN
// parameters, what a message needs of a server, dot-stuffing, outcomes and
// their log and DSN texts, recipient grouping, settings from imta.cnf.
#include <catch2/catch.hpp>

#include "channels/tcp/client_dot_stuffing.hpp"
#include "channels/tcp/client_esmtp.hpp"
#include "channels/tcp/client_outcome.hpp"
#include "channels/tcp/client_routing.hpp"
#include "channels/tcp/client_settings.hpp"
#include "config/imta_cnf.hpp"
#include "config/source_lines.hpp"

using namespace imta::channels::tcp;
using imta::core::smtp::Reply;
using imta::queue::RecipientStatus;

TEST_CASE("EHLO extensions are read from the reply lines after the first", "[smtp_client]") {
  Reply r{250, "", "mx.example.org hello\nPIPELINING\nSIZE 1000\n8BITMIME\nDSN\nSMTPUTF8\nSTARTTLS\nAUTH PLAIN LOGIN"};
  auto e = parse_ehlo(r);
  CHECK(e.esmtp);
  CHECK(e.pipelining);
  CHECK(e.size);
  CHECK(e.size_limit == 1000);
  CHECK(e.eightbitmime);
  CHECK(e.dsn);
  CHECK(e.smtputf8);
  CHECK(e.starttls);
  CHECK(e.offers_auth("plain"));
  CHECK(e.offers_auth("LOGIN"));
  CHECK_FALSE(e.offers_auth("CRAM-MD5"));

  auto bare = parse_ehlo(Reply{250, "", "host\nSIZE\nAUTH=LOGIN"});
  CHECK(bare.size);
  CHECK(bare.size_limit == 0);
  CHECK(bare.offers_auth("LOGIN"));
  CHECK_FALSE(bare.pipelining);
  // The greeting line is never an extension.
  CHECK_FALSE(parse_ehlo(Reply{250, "", "PIPELINING"}).pipelining);
}

TEST_CASE("MAIL and RCPT pass the DSN request on only to a DSN server", "[smtp_client]") {
  imta::core::Envelope env;
  env.from = "adam@sesta.com";
  env.envid = "id+1=x";
  env.ret = imta::core::Ret::hdrs;
  imta::core::Recipient rcpt{"bob@siroe.com", "bob@siroe.com",
                             imta::core::notify_success | imta::core::notify_failure, "rfc822;Bob+X@siroe.com"};
  MessageNeeds needs;
  needs.size = 1234;

  ServerExtensions full;
  full.esmtp = full.size = full.dsn = full.eightbitmime = full.smtputf8 = true;
  CHECK(mail_command(env, needs, full) == "MAIL FROM:<adam@sesta.com> SIZE=1234 RET=HDRS ENVID=id+2B1+3Dx");
  CHECK(rcpt_command(rcpt, full) == "RCPT TO:<bob@siroe.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2BX@siroe.com");
  needs.eight_bit = true;
  needs.utf8_headers = true;
  CHECK(mail_command(env, needs, full) ==
        "MAIL FROM:<adam@sesta.com> SIZE=1234 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+3Dx");

  ServerExtensions plain;  // HELO: no parameters at all
  CHECK(mail_command(env, needs, plain) == "MAIL FROM:<adam@sesta.com>");
  CHECK(rcpt_command(rcpt, plain) == "RCPT TO:<bob@siroe.com>");

  imta::core::Envelope bounce;  // a notification: MAIL FROM:<>
  CHECK(mail_command(bounce, MessageNeeds{}, plain) == "MAIL FROM:<>");
  CHECK(notify_value(imta::core::notify_never | imta::core::notify_success) == "NEVER");
  CHECK(notify_value(imta::core::notify_delay) == "DELAY");
  CHECK(notify_value(0).empty());
}

TEST_CASE("a message that a server cannot take is refused before MAIL", "[smtp_client]") {
  imta::core::Envelope env;
  env.from = "a@example.org";
  imta::core::Recipient ascii{"b@example.org", "", 0, ""};
  imta::core::Recipient utf8{"j\xc3\xb6rg@example.org", "", 0, ""};

  auto seven = message_needs(env, {&ascii}, "Subject: hi\r\n\r\nbody\r\n");
  CHECK_FALSE(seven.eight_bit);
  CHECK_FALSE(seven.smtputf8);
  auto eight = message_needs(env, {&ascii}, "Subject: hi\r\n\r\nb\xc3\xa4r\r\n");
  CHECK(eight.eight_bit);
  CHECK_FALSE(eight.utf8_headers);
  auto header = message_needs(env, {&ascii}, "Subject: b\xc3\xa4r\r\n\r\nbody\r\n");
  CHECK(header.utf8_headers);
  auto intl = message_needs(env, {&utf8}, "Subject: hi\r\n\r\nbody\r\n");
  CHECK(intl.smtputf8);

  ServerExtensions old;
  old.esmtp = true;
  CHECK_FALSE(refuse_for(seven, old));
  auto r = refuse_for(eight, old);
  REQUIRE(r);
  CHECK(r->code == 554);
  CHECK(r->enhanced == "5.6.3");
  REQUIRE(refuse_for(intl, old));
  CHECK(refuse_for(intl, old)->enhanced == "5.6.7");

  ServerExtensions small;
  small.esmtp = small.size = small.eightbitmime = true;
  small.size_limit = 10;
  REQUIRE(refuse_for(seven, small));
  CHECK(refuse_for(seven, small)->code == 552);
  CHECK(refuse_for(seven, small)->enhanced == "5.3.4");
  small.size_limit = 0;  // SIZE without a number: no fixed limit
  CHECK_FALSE(refuse_for(eight, small));
}

TEST_CASE("message data is dot-stuffed and ends with CRLF.CRLF", "[smtp_client]") {
  CHECK(dot_stuff("a\r\n.b\r\n..c\r\n") == "a\r\n..b\r\n...c\r\n.\r\n");
  CHECK(dot_stuff(".\r\n") == "..\r\n.\r\n");
  CHECK(dot_stuff("no end") == "no end\r\n.\r\n");
  CHECK(dot_stuff("") == ".\r\n");
  CHECK(dot_stuff("bare\nlf\n.x") == "bare\r\nlf\r\n..x\r\n.\r\n");
  CHECK(dot_stuff("\n\n.") == "\r\n\r\n..\r\n.\r\n");
  CHECK(dot_stuff("ends in CR\r") == "ends in CR\r\n.\r\n");

  // Bare LFs, a lone CR, dots: split in two anywhere, the same bytes.
  const std::string mixed = "p\n.q\r\n\r\n.\nr\rs";
  CHECK(dot_stuff(mixed) == "p\r\n..q\r\n\r\n..\r\nr\rs\r\n.\r\n");
  for (std::size_t cut = 0; cut <= mixed.size(); ++cut) {
    std::string out;
    DotStuffer s;
    s.encode(std::string_view(mixed).substr(0, cut), out);
    s.encode(std::string_view(mixed).substr(cut), out);
    s.finish(out);
    INFO(cut);
    CHECK(out == dot_stuff(mixed));
  }

  // In pieces, split anywhere, the same bytes come out.
  std::string message = "x\r\n.y\r\n\r\n.\r\nz";
  for (std::size_t cut = 0; cut <= message.size(); ++cut) {
    std::string out;
    DotStuffer s;
    s.encode(std::string_view(message).substr(0, cut), out);
    s.encode(std::string_view(message).substr(cut), out);
    s.finish(out);
    INFO(cut);
    CHECK(out == dot_stuff(message));
  }
}

TEST_CASE("outcomes carry the DSN fields and the seed's log shape", "[smtp_client]") {
  ClientSettings s;
  PeerFacts peer{"thor.siroe.com", "TCP|206.184.139.12|2788|192.160.253.66|25",
                 "THOR.SIROE.COM -- Server ESMTP [iMS V5.0 #8694]"};

  auto ok = reply_outcome(Reply{250, "2.1.5", "marlowe@siroe.com and options OK."}, peer, s, true);
  CHECK(ok.status == RecipientStatus::delivered);
  CHECK(ok.dsn_status == "2.1.5");
  CHECK(ok.remote_mta == "dns; thor.siroe.com");
  CHECK(ok.diagnostic_code == "smtp; 250 2.1.5 marlowe@siroe.com and options OK.");
  // Example 21-1.
  CHECK(ok.log_diagnostics ==
        "dns;thor.siroe.com (TCP|206.184.139.12|2788|192.160.253.66|25) "
        "(THOR.SIROE.COM -- Server ESMTP [iMS V5.0 #8694]) smtp;250 2.1.5 marlowe@siroe.com and options OK.");
  CHECK(ok.connection_info.empty());
  CHECK(reply_outcome(Reply{250, "", "Ok"}, peer, s, false).status == RecipientStatus::relayed);

  auto later = reply_outcome(Reply{451, "4.2.1", "try later"}, peer, s, true);
  CHECK(later.status == RecipientStatus::deferred);
  auto no = reply_outcome(Reply{550, "5.1.1", "no such user"}, peer, s, true);
  CHECK(no.status == RecipientStatus::bounced);
  CHECK(no.dsn_status == "5.1.1");
  CHECK(no.diagnostic_code == "smtp; 550 5.1.1 no such user");
  // An enhanced code of another class than the reply's is not taken.
  CHECK(reply_outcome(Reply{550, "4.1.1", "odd"}, peer, s, true).dsn_status.empty());

  s.log_banner = false;
  s.log_transport = false;
  CHECK(reply_outcome(Reply{250, "", "Ok"}, peer, s, true).log_diagnostics == "dns;thor.siroe.com smtp;250 Ok");

  // Example 21-9: LOG_CONNECTION=3 moves host and transport to the connection field.
  s.log_banner = s.log_transport = true;
  s.log_connection = 3;
  auto c = reply_outcome(Reply{250, "2.1.5", "bobby@hosta.sesta.com and options OK."}, peer, s, true);
  CHECK(c.connection_info == "thor.siroe.com dns;thor.siroe.com (TCP|206.184.139.12|2788|192.160.253.66|25)");
  CHECK(c.log_diagnostics ==
        "(THOR.SIROE.COM -- Server ESMTP [iMS V5.0 #8694]) (TCP|206.184.139.12|2788|192.160.253.66|25) "
        "smtp;250 2.1.5 bobby@hosta.sesta.com and options OK.");

  // Example 21-7.
  auto refused = failure_outcome(RecipientStatus::deferred, "4.4.1",
                                 connect_error_text(std::make_error_code(std::errc::connection_refused)), nullptr, s);
  CHECK(refused.log_diagnostics == "TCP active open: Failed connect()    Error: connection refused");
  CHECK(refused.diagnostic_code == "X-imta; TCP active open: Failed connect()    Error: connection refused");
  CHECK(refused.status == RecipientStatus::deferred);
}

TEST_CASE("recipients are grouped by the domain of their active address", "[smtp_client]") {
  std::vector<imta::core::Recipient> r{{"a@X.org", "", 0, ""}, {"b@y.org", "", 0, ""}, {"c@x.ORG", "", 0, ""},
                                       {"postmaster", "", 0, ""}};
  auto g = group_by_domain(r);
  REQUIRE(g.size() == 3);
  CHECK(g[0].domain == "x.org");
  CHECK(g[0].recipients == std::vector<std::size_t>{0, 2});
  CHECK(g[1].domain == "y.org");
  CHECK(g[2].domain.empty());
  CHECK(domain_literal("[192.0.2.1]") == "192.0.2.1");
  CHECK(domain_literal("[IPv6:2001:db8::1]") == "2001:db8::1");
  CHECK_FALSE(domain_literal("example.org"));
}

namespace {

imta::config::Snapshot snapshot_with(const std::string& tcp_line) {
  imta::config::Diagnostics d;
  std::string text = ". $U%$H@tcp_local-daemon\n\nl\nhost.example.test\n\n" + tcp_line + "\ntcp_local-daemon\n";
  auto lines = imta::config::split_source(text, "imta.cnf", imta::config::ReadOptions{}, d);
  imta::config::Snapshot snap;
  snap.imta_cnf = imta::config::parse_imta_cnf(lines, d);
  return snap;
}

}  // namespace

TEST_CASE("client settings come from the channel's keywords", "[smtp_client]") {
  auto plain = client_settings(snapshot_with("tcp_local smtp"), "tcp_local");
  CHECK(plain.tls == ClientTls::may);  // maytlsclient is the client's default
  CHECK(plain.mx == ClientMx::mx);
  CHECK(plain.port == 25);
  CHECK(plain.daemon.empty());
  CHECK(plain.helo_name == "host.example.test");
  CHECK_FALSE(plain.auth);  // no credentials
  CHECK(plain.timeouts.data_term == std::chrono::seconds(600));

  auto relay = client_settings(snapshot_with("tcp_local smtp daemon relay.example.test port 2525 randommx musttls"),
                               "tcp_local");
  CHECK(relay.daemon == "relay.example.test");
  CHECK(relay.port == 2525);
  CHECK(relay.mx == ClientMx::randommx);
  CHECK(relay.tls == ClientTls::must);
  // The client form wins over the two-way form.
  CHECK(client_settings(snapshot_with("tcp_local smtp musttls notlsclient"), "tcp_local").tls == ClientTls::no);
  CHECK(client_settings(snapshot_with("tcp_local smtp maytls musttlsclient"), "tcp_local").tls == ClientTls::must);
  CHECK(client_settings(snapshot_with("tcp_local smtp nomx"), "tcp_local").mx == ClientMx::nomx);
}
