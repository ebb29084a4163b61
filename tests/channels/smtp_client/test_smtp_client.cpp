// The tcp_* master driven for real: a temporary instance, files enqueued and
// claimed through queue::Store, deliver() against tests/support/smtp_sink.py
// on loopback (and, for MX cases, zones served by nsd through
// tests/support/dns_server.py). Asserts the DeliveryReport, the bytes the
// sink received, and the O/C records in mail.log.
#include <catch2/catch.hpp>

#include <regex>

#include "client_harness.hpp"
#include "core/self_signed.hpp"

using namespace imta::testing;
using imta::queue::RecipientStatus;

namespace {

std::string smart_host(const Sink& sink, const std::string& more = "") {
  return "daemon 127.0.0.2 port " + std::to_string(sink.port()) + (more.empty() ? "" : " " + more);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a smart host gets the message dot-stuffed, with the DSN request", "[smtp_client][e2e]") {
  Sink sink("{}");
  TestInstance inst(smart_host(sink), "", "LOG_CONNECTION=3\n");
  auto env = envelope("adam@client.example.test", {"bob@siroe.example"});
  env.envid = "ENV-1";
  env.ret = imta::core::Ret::hdrs;
  env.recipients[0].notify = imta::core::notify_success | imta::core::notify_failure;
  env.recipients[0].orcpt = "rfc822;Bob@siroe.example";
  auto msg = message(".leading dot\r\n..two dots\r\n.\r\nend\r\n");
  auto claim = inst.enqueue(env, msg);
  {
    auto master = inst.master();
    auto report = master->deliver(claim);
    REQUIRE(report.recipients.size() == 1);
    const auto& o = report.recipients[0];
    CHECK(o.status == RecipientStatus::delivered);
    CHECK(o.dsn_status == "2.0.0");
    CHECK(o.diagnostic_code == "smtp; 250 2.0.0 Ok: queued");
    CHECK(o.remote_mta == "dns; 127.0.0.2");
    // LOG_CONNECTION=3: the seed's example 21-9 shape.
    std::string port = std::to_string(sink.port());
    CHECK(std::regex_match(o.connection_info,
                           std::regex("127\\.0\\.0\\.2 dns;127\\.0\\.0\\.2 \\(TCP\\|127\\.0\\.0\\.1\\|\\d+\\|127\\.0\\.0\\.2\\|" +
                                      port + "\\)")));
    CHECK(std::regex_match(o.log_diagnostics,
                           std::regex("\\(sink\\.test ESMTP\\) \\(TCP\\|127\\.0\\.0\\.1\\|\\d+\\|127\\.0\\.0\\.2\\|" +
                                      port + "\\) smtp;250 2\\.1\\.5 Ok")));
    CHECK_FALSE(report.modifiers.tls);

    CHECK(sink.wire(1) == imta::testing::message("..leading dot\r\n...two dots\r\n..\r\nend\r\n"));
    auto e = sink.env(1);
    CHECK(contains(e, "helo client.example.test\n"));
    CHECK(contains(e, "mail MAIL FROM:<adam@client.example.test> SIZE=" + std::to_string(msg.size()) +
                          " RET=HDRS ENVID=ENV-1\n"));
    CHECK(contains(e, "rcpt RCPT TO:<bob@siroe.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@siroe.example\n"));
    CHECK(sink.count("C: QUIT") == 0);  // kept open for the next file
  }
  // The master is gone: its connection was closed with QUIT, and the O and C
  // records are in mail.log.
  CHECK(sink.count("C: QUIT") == 1);
  auto log = inst.log_text();
  CHECK(std::regex_search(log, std::regex("tcp_local    -            O TCP\\|127\\.0\\.0\\.1\\|\\d+\\|127\\.0\\.0\\.2\\|" +
                                          std::to_string(sink.port()) + " SMTP/127\\.0\\.0\\.2/127\\.0\\.0\\.2")));
  CHECK(std::regex_search(log, std::regex("tcp_local    -            C TCP\\|.* SMTP/127\\.0\\.0\\.2/127\\.0\\.0\\.2")));
}

TEST_CASE("without EHLO the client says HELO, sends no parameters, and relays", "[smtp_client][e2e]") {
  Sink sink(R"({"ehlo": false})");
  TestInstance inst(smart_host(sink));
  auto env = envelope("adam@client.example.test", {"bob@siroe.example"});
  env.envid = "ENV-1";
  env.recipients[0].notify = imta::core::notify_success;
  auto claim = inst.enqueue(env, message("hello\r\n"));
  auto report = inst.master()->deliver(claim);
  CHECK(report.recipients[0].status == RecipientStatus::relayed);
  auto e = sink.env(1);
  CHECK(contains(e, "mail MAIL FROM:<adam@client.example.test>\n"));
  CHECK(contains(e, "rcpt RCPT TO:<bob@siroe.example>\n"));
  CHECK(sink.count("C: HELO client.example.test") == 1);
}

TEST_CASE("a server without DSN: the recipients are relayed, no DSN parameters", "[smtp_client][e2e]") {
  Sink sink(R"({"extensions": ["PIPELINING", "8BITMIME"]})");
  TestInstance inst(smart_host(sink));
  auto env = envelope("adam@client.example.test", {"bob@siroe.example"});
  env.recipients[0].notify = imta::core::notify_success;
  env.recipients[0].orcpt = "rfc822;bob@siroe.example";
  auto claim = inst.enqueue(env, message("hello\r\n"));
  auto report = inst.master()->deliver(claim);
  CHECK(report.recipients[0].status == RecipientStatus::relayed);
  CHECK(contains(sink.env(1), "rcpt RCPT TO:<bob@siroe.example>\n"));
}

TEST_CASE("per-recipient replies: 250 delivered, 451 deferred, 550 bounced", "[smtp_client][e2e]") {
  Sink sink(R"({"rcpt_replies": {"later@siroe.example": "451 4.2.1 mailbox busy",
                                 "nobody@siroe.example": "550 5.1.1 no such user"}})");
  TestInstance inst(smart_host(sink));
  auto claim = inst.enqueue(
      envelope("adam@client.example.test", {"ok@siroe.example", "later@siroe.example", "nobody@siroe.example"}),
      message("hello\r\n"));
  auto report = inst.master()->deliver(claim);
  REQUIRE(report.recipients.size() == 3);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(report.recipients[1].status == RecipientStatus::deferred);
  CHECK(report.recipients[1].dsn_status == "4.2.1");
  CHECK(report.recipients[2].status == RecipientStatus::bounced);
  CHECK(report.recipients[2].dsn_status == "5.1.1");
  CHECK(report.recipients[2].diagnostic_code == "smtp; 550 5.1.1 no such user");
  CHECK(contains(report.recipients[2].log_diagnostics, "(sink.test ESMTP) smtp;550 5.1.1 no such user"));
  auto e = sink.env(1);
  CHECK(contains(e, "accepted RCPT TO:<ok@siroe.example>"));
  CHECK_FALSE(contains(e, "accepted RCPT TO:<later@siroe.example>"));
}

TEST_CASE("a refusal of MAIL or of the data applies to every recipient", "[smtp_client][e2e]") {
  SECTION("MAIL 451") {
    Sink sink(R"({"mail_reply": "451 4.3.0 try again"})");
    TestInstance inst(smart_host(sink));
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example", "y@siroe.example"}),
                              message("x\r\n"));
    auto report = inst.master()->deliver(claim);
    for (const auto& o : report.recipients) {
      CHECK(o.status == RecipientStatus::deferred);
      CHECK(o.diagnostic_code == "smtp; 451 4.3.0 try again");
    }
    // DATA went out pipelined with MAIL, but no message did: the client
    // closed the session (politely) after the 451.
    CHECK(sink.count(" data ") == 0);
    CHECK(sink.env(1).empty());
    CHECK(sink.count("C: QUIT") == 1);
  }
  SECTION("final 554") {
    Sink sink(R"({"final_reply": "554 5.7.1 spam"})");
    TestInstance inst(smart_host(sink));
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example", "y@siroe.example"}),
                              message("x\r\n"));
    auto report = inst.master()->deliver(claim);
    for (const auto& o : report.recipients) {
      CHECK(o.status == RecipientStatus::bounced);
      CHECK(o.dsn_status == "5.7.1");
    }
  }
  SECTION("connection lost after the data") {
    Sink sink(R"({"drop_at": "DOT"})");
    TestInstance inst(smart_host(sink));
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("x\r\n"));
    auto report = inst.master()->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::deferred);
    CHECK(contains(report.recipients[0].log_diagnostics, "lost connection after the end of the message"));
  }
}

TEST_CASE("a server that stops answering: the RCPT timeout defers the message", "[smtp_client][e2e]") {
  Sink sink(R"({"hang_at": "RCPT"})");
  TestInstance inst(smart_host(sink), "CLIENT_TIMEOUT_RCPT=1\n");
  auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("x\r\n"));
  auto master = inst.master();
  auto report = master->deliver(claim);
  CHECK(report.recipients[0].status == RecipientStatus::deferred);
  CHECK(contains(report.recipients[0].log_diagnostics, "lost connection after RCPT: timed out"));
  CHECK(sink.count("C: DATA") == 0);
}

TEST_CASE("8-bit data to a server without 8BITMIME is bounced, never sent", "[smtp_client][e2e]") {
  Sink sink(R"({"extensions": ["PIPELINING", "DSN"]})");
  TestInstance inst(smart_host(sink));
  auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("gr\xc3\xbc\xc3\x9f\r\n"));
  auto report = inst.master()->deliver(claim);
  CHECK(report.recipients[0].status == RecipientStatus::bounced);
  CHECK(report.recipients[0].dsn_status == "5.6.3");
  CHECK(sink.count("C: MAIL") == 0);
}

TEST_CASE("8-bit data to an 8BITMIME server goes with BODY=8BITMIME", "[smtp_client][e2e]") {
  Sink sink("{}");
  TestInstance inst(smart_host(sink));
  auto body = std::string("gr\xc3\xbc\xc3\x9f\r\n");
  auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message(body));
  auto report = inst.master()->deliver(claim);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(contains(sink.env(1), " BODY=8BITMIME"));
  CHECK(sink.wire(1) == message(body));
}

TEST_CASE("a message more than the socket buffers hold reaches a slow server byte for byte", "[smtp_client][e2e]") {
  // The server reads nothing for a second after its 354: the client's
  // writes fill the buffers and the rest of the message waits for room.
  Sink sink(R"({"pause_in_data": 1})");
  TestInstance inst(smart_host(sink));
  std::string body;
  for (int i = 0; body.size() < 6 * 1024 * 1024; ++i)
    body += "line " + std::to_string(i) + " of a large message, with a dot at the start of some: ." + "\r\n" +
            (i % 97 == 0 ? ".dotted\r\n" : "");
  auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message(body));
  auto report = inst.master()->deliver(claim);
  INFO(report.recipients[0].log_diagnostics);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  std::string stuffed;  // what the wire carries: lines starting with a dot get another
  const std::string whole = message(body);
  for (std::size_t at = 0; at < whole.size();) {
    const std::size_t end = whole.find("\r\n", at) + 2;
    if (whole[at] == '.') stuffed += '.';
    stuffed.append(whole, at, end - at);
    at = end;
  }
  CHECK(sink.wire(1).size() == stuffed.size());
  CHECK(sink.wire(1) == stuffed);
}

TEST_CASE("a message bigger than the server's SIZE is bounced with 5.3.4", "[smtp_client][e2e]") {
  Sink sink(R"({"extensions": ["PIPELINING", "SIZE 100", "8BITMIME"]})");
  TestInstance inst(smart_host(sink));
  auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message(std::string(200, 'x') + "\r\n"));
  auto report = inst.master()->deliver(claim);
  CHECK(report.recipients[0].status == RecipientStatus::bounced);
  CHECK(report.recipients[0].dsn_status == "5.3.4");
  CHECK(sink.count("C: MAIL") == 0);
}

TEST_CASE("STARTTLS is used when offered; musttlsclient refuses a server without it", "[smtp_client][e2e]") {
  TempDir certs;
  auto cert = certs.path() / "sink.pem";
  auto key = certs.path() / "sink.key";
  REQUIRE(imta::core::write_self_signed_certificate(cert, key, "sink.test", 2).empty());

  SECTION("maytlsclient (the default) with a TLS server") {
    Sink sink(R"({"tls_cert": ")" + cert.string() + R"(", "tls_key": ")" + key.string() + R"("})");
    TestInstance inst(smart_host(sink));
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("secret\r\n"));
    auto report = inst.master()->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::delivered);
    CHECK(report.modifiers.tls);
    CHECK(contains(sink.env(1), "tls yes"));
    CHECK(sink.count("C: EHLO") == 2);  // again after the handshake
  }
  SECTION("musttlsclient with a TLS server") {
    Sink sink(R"({"tls_cert": ")" + cert.string() + R"(", "tls_key": ")" + key.string() + R"("})");
    TestInstance inst(smart_host(sink, "musttlsclient"));
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("secret\r\n"));
    CHECK(inst.master()->deliver(claim).recipients[0].status == RecipientStatus::delivered);
    CHECK(contains(sink.env(1), "tls yes"));
  }
  SECTION("musttlsclient without STARTTLS: temporary failure, nothing sent") {
    Sink sink("{}");
    TestInstance inst(smart_host(sink, "musttlsclient"));
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("secret\r\n"));
    auto report = inst.master()->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::deferred);
    CHECK(contains(report.recipients[0].log_diagnostics, "TLS required"));
    CHECK(sink.count("C: MAIL") == 0);
  }
  SECTION("notlsclient ignores STARTTLS") {
    Sink sink(R"({"tls_cert": ")" + cert.string() + R"(", "tls_key": ")" + key.string() + R"("})");
    TestInstance inst(smart_host(sink, "notlsclient"));
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("x\r\n"));
    CHECK(inst.master()->deliver(claim).recipients[0].status == RecipientStatus::delivered);
    CHECK(contains(sink.env(1), "tls no"));
  }
}

TEST_CASE("SMTP AUTH with the credentials of the channel option file", "[smtp_client][e2e]") {
  Sink sink(R"({"auth_user": "relayuser", "auth_password": "s3cret"})");
  SECTION("right password: AUTH PLAIN, then the message") {
    TestInstance inst(smart_host(sink), "AUTH_USERNAME=relayuser\nAUTH_PASSWORD=s3cret\n");
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("x\r\n"));
    auto report = inst.master()->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::delivered);
    CHECK(report.modifiers.sasl);
    CHECK(contains(sink.env(1), "auth relayuser"));
    CHECK(sink.count("C: AUTH PLAIN ") == 1);
  }
  SECTION("wrong password: deferred, nothing sent") {
    TestInstance inst(smart_host(sink), "AUTH_USERNAME=relayuser\nAUTH_PASSWORD=wrong\n");
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("x\r\n"));
    auto report = inst.master()->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::deferred);
    CHECK(contains(report.recipients[0].log_diagnostics, "535 5.7.8"));
    CHECK(sink.count("C: MAIL") == 0);
  }
}

TEST_CASE("a 421 greeting and a refused connection are temporary failures", "[smtp_client][e2e]") {
  SECTION("421 at connect") {
    Sink sink(R"({"greeting": "421 4.3.2 too busy"})");
    TestInstance inst(smart_host(sink));
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("x\r\n"));
    auto report = inst.master()->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::deferred);
    CHECK(contains(report.recipients[0].log_diagnostics, "smtp;421 4.3.2 too busy"));
  }
  SECTION("nothing listening") {
    Sink sink("{}", {"127.0.0.2"});
    // 127.0.0.3 on the sink's port has no listener.
    TestInstance inst("daemon 127.0.0.3 port " + std::to_string(sink.port()));
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("x\r\n"));
    auto report = inst.master()->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::deferred);
    CHECK(report.recipients[0].log_diagnostics == "TCP active open: Failed connect()    Error: connection refused");
  }
}

TEST_CASE("one connection carries several files, without RSET between; idle() says QUIT", "[smtp_client][e2e]") {
  Sink sink("{}");
  TestInstance inst(smart_host(sink), "", "LOG_CONNECTION=2\n");
  auto master = inst.master();
  auto first = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("one\r\n"));
  auto second = inst.enqueue(envelope("a@client.example.test", {"y@siroe.example"}), message("two\r\n"));
  CHECK(master->deliver(first).recipients[0].status == RecipientStatus::delivered);
  CHECK(master->deliver(second).recipients[0].status == RecipientStatus::delivered);
  CHECK(sink.count(" connect") == 1);
  // MAIL, RCPT and DATA in one write each time; no RSET probe in between.
  CHECK(sink.count("C: RSET") == 0);
  CHECK(contains(sink.env(2), "conn 1\n"));
  master->idle();
  CHECK(sink.count("C: QUIT") == 1);
  // The next file opens a new connection.
  auto third = inst.enqueue(envelope("a@client.example.test", {"z@siroe.example"}), message("three\r\n"));
  CHECK(master->deliver(third).recipients[0].status == RecipientStatus::delivered);
  CHECK(sink.count(" connect") == 2);
  auto log = inst.log_text();
  CHECK(std::regex_search(log, std::regex(" O TCP\\|")));
}

TEST_CASE("a kept connection the server closed meanwhile: the file goes over a new one", "[smtp_client][e2e]") {
  Sink sink(R"({"close_after_messages": 1})");
  TestInstance inst(smart_host(sink));
  auto master = inst.master();
  auto first = inst.enqueue(envelope("a@client.example.test", {"x@siroe.example"}), message("one\r\n"));
  auto second = inst.enqueue(envelope("a@client.example.test", {"y@siroe.example"}), message("two\r\n"));
  CHECK(master->deliver(first).recipients[0].status == RecipientStatus::delivered);
  CHECK(master->deliver(second).recipients[0].status == RecipientStatus::delivered);
  CHECK(sink.count(" connect") == 2);
  CHECK(contains(sink.env(2), "conn 2\n"));
}

TEST_CASE("domain literals go to their address; a file with several domains is split", "[smtp_client][e2e]") {
  // Two sinks on one port, on two addresses.
  Sink sink("{}", {"127.0.0.2", "127.0.0.3"});
  TestInstance inst("port " + std::to_string(sink.port()));
  auto claim =
      inst.enqueue(envelope("a@client.example.test", {"x@[127.0.0.2]", "y@[127.0.0.3]", "z@[127.0.0.2]", "bad@[nope]"}),
                   message("x\r\n"));
  auto report = inst.master()->deliver(claim);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(report.recipients[1].status == RecipientStatus::delivered);
  CHECK(report.recipients[2].status == RecipientStatus::delivered);
  CHECK(report.recipients[3].status == RecipientStatus::bounced);
  CHECK(report.recipients[3].log_diagnostics == "Illegal host/domain name found");
  auto first = sink.env(1);
  CHECK(contains(first, "listener 127.0.0.2"));
  CHECK(contains(first, "accepted RCPT TO:<x@[127.0.0.2]>"));
  CHECK(contains(first, "accepted RCPT TO:<z@[127.0.0.2]>"));
  CHECK(contains(sink.env(2), "listener 127.0.0.3"));
}

TEST_CASE("a 4xx reply to MAIL sends the message to the next MX, as Postfix does", "[smtp_client][e2e][dns]") {
  if (!have_nsd()) {
    WARN("nsd is not installed: MX tests skipped");
    return;
  }
  Sink sink(R"({"listeners": {"127.0.0.21": {"mail_reply": "451 4.3.2 busy, try later"}}})",
            {"127.0.0.21", "127.0.0.22"});
  const std::vector<std::pair<std::string, std::string>> zones{{"busy.test",
                                                                 "@        MX 10 first\n"
                                                                 "@        MX 20 second\n"
                                                                 "first    A  127.0.0.21\n"
                                                                 "second   A  127.0.0.22\n"
                                                                 "only     MX 10 first\n"}};
  Dns dns(zones);
  TestInstance inst("mx port " + std::to_string(sink.port()), "", "DNS_SERVERS=" + dns.server() + "\n");
  auto master = inst.master();
  SECTION("the first MX says 451 to MAIL, the second takes the message") {
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@busy.test"}), message("x\r\n"));
    auto report = master->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::delivered);
    CHECK(report.recipients[0].remote_mta == "dns; second.busy.test");
    CHECK(contains(sink.env(1), "listener 127.0.0.22"));
    CHECK(contains(sink.transcript(), "127.0.0.21 C: QUIT"));
  }
  SECTION("no other MX: the 451 defers the message") {
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@only.busy.test"}), message("x\r\n"));
    auto report = master->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::deferred);
    CHECK(report.recipients[0].diagnostic_code == "smtp; 451 4.3.2 busy, try later");
    CHECK(sink.env(1).empty());
  }
}

TEST_CASE("MX: preference order, fail-over, implicit MX, null MX, NXDOMAIN, SERVFAIL", "[smtp_client][e2e][dns]") {
  if (!have_nsd()) {
    WARN("nsd is not installed: MX tests skipped");
    return;
  }
  Sink sink("{}", {"127.0.0.12", "127.0.0.14"});
  Dns dns({{"mx.test",
            "@        MX 10 first\n"
            "@        MX 20 second\n"
            "first    A  127.0.0.11\n"
            "second   A  127.0.0.12\n"
            "two      A  127.0.0.13\n"
            "two      A  127.0.0.14\n"
            "plain    A  127.0.0.12\n"
            "nullmx   MX 0 .\n"
            "alias    CNAME plain\n"}},
          {"broken.test"});
  TestInstance inst("mx port " + std::to_string(sink.port()), "", "DNS_SERVERS=" + dns.server() + "\n");
  auto master = inst.master();

  SECTION("the first MX refuses, the second takes it") {
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@mx.test"}), message("x\r\n"));
    auto report = master->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::delivered);
    CHECK(report.recipients[0].remote_mta == "dns; second.mx.test");
    CHECK(contains(sink.env(1), "listener 127.0.0.12"));
  }
  SECTION("implicit MX, every address of the host tried, CNAME followed") {
    auto claim = inst.enqueue(envelope("a@client.example.test", {"x@two.mx.test", "y@plain.mx.test", "z@alias.mx.test"}),
                              message("x\r\n"));
    auto report = master->deliver(claim);
    for (const auto& o : report.recipients) CHECK(o.status == RecipientStatus::delivered);
    CHECK(contains(sink.transcript(), "127.0.0.14 C: RCPT TO:<x@two.mx.test>"));
  }
  SECTION("null MX and NXDOMAIN bounce, SERVFAIL waits") {
    auto claim = inst.enqueue(
        envelope("a@client.example.test", {"x@nullmx.mx.test", "y@nonesuch.mx.test", "z@host.broken.test"}),
        message("x\r\n"));
    auto report = master->deliver(claim);
    CHECK(report.recipients[0].status == RecipientStatus::bounced);
    CHECK(report.recipients[0].dsn_status == "5.1.10");
    CHECK(report.recipients[0].log_diagnostics == "Illegal host/domain name found");
    CHECK(report.recipients[1].status == RecipientStatus::bounced);
    CHECK(report.recipients[1].log_diagnostics == "Illegal host/domain name found");
    CHECK(report.recipients[2].status == RecipientStatus::deferred);
    CHECK(sink.count(" connect") == 0);
  }
}
