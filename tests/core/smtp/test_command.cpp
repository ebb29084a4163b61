// parse_command(), the ESMTP parameters and xtext: what real clients and
// people at a telnet prompt send, and the exact reply for everything refused.
#include <catch2/catch.hpp>

#include "core/smtp/command.hpp"
#include "core/smtp/xtext.hpp"
#include "tests/core/smtp/smtp_test_support.hpp"

using namespace imta::core;
using namespace imta::core::smtp;

namespace {

Mailbox box(std::string local, std::string domain) { return {std::move(local), std::move(domain)}; }

MailParams mail_params(std::optional<std::uint64_t> size, Body body = Body::unspecified) {
  MailParams p;
  p.size = size;
  p.body = body;
  return p;
}

}  // namespace

TEST_CASE("commands people and clients send are understood", "[smtp_command]") {
  MailParams dsn;
  dsn.ret = Ret::hdrs;
  dsn.envid = "QQ314159";
  MailParams utf8;
  utf8.smtputf8 = true;
  MailParams auth_null;
  auth_null.auth = "<>";
  MailParams auth_box;
  auth_box.auth = "e=mc2@example.com";
  MailParams huge;
  huge.size = UINT64_MAX;
  RcptParams notify_orcpt{notify_success | notify_failure, Orcpt{"rfc822", "b+x@example.net"}};
  RcptParams never{notify_never, std::nullopt};

  struct Case {
    std::string line;
    bool utf8_transaction;
    Command expected;
  };
  const std::vector<Case> cases = {
      {"HELO mail.example.org", false, Helo{"mail.example.org"}},
      {"helo mail.example.org", false, Helo{"mail.example.org"}},
      {"EHLO [192.0.2.1]", false, Ehlo{"[192.0.2.1]"}},
      {"EHLO   client.example  ", false, Ehlo{"client.example"}},
      {"ehlo\tclient.example", false, Ehlo{"client.example"}},
      {"MAIL FROM:<a@example.org>", false, Mail{box("a", "example.org"), {}}},
      {"mail from:<a@example.org>", false, Mail{box("a", "example.org"), {}}},
      {"MAIL FROM: <a@example.org>", false, Mail{box("a", "example.org"), {}}},
      {"MAIL FROM : <a@example.org> ", false, Mail{box("a", "example.org"), {}}},
      {"MAIL FROM:<>", false, Mail{{}, {}}},
      {"MAIL FROM: <>", false, Mail{{}, {}}},
      {"MAIL FROM:a@example.org", false, Mail{box("a", "example.org"), {}}},
      {"MAIL FROM:a@example.org SIZE=10", false, Mail{box("a", "example.org"), mail_params(10)}},
      {"MAIL FROM:<A.B@Example.ORG>", false, Mail{box("A.B", "Example.ORG"), {}}},
      {"MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME", false,
       Mail{box("a", "example.org"), mail_params(1000, Body::eight_bit_mime)}},
      {"MAIL FROM:<a@example.org>\tsize=1000  body=7bit", false,
       Mail{box("a", "example.org"), mail_params(1000, Body::seven_bit)}},
      {"MAIL FROM:<a@example.org> BODY=BINARYMIME", false,
       Mail{box("a", "example.org"), mail_params(std::nullopt, Body::binary_mime)}},
      {"MAIL FROM:<a@example.org> SIZE=99999999999999999999", false, Mail{box("a", "example.org"), huge}},
      {"MAIL FROM:<\"john smith\"@example.org>", false, Mail{box("\"john smith\"", "example.org"), {}}},
      {"MAIL FROM:<\"a> b\"@example.org> SIZE=5", false,
       Mail{box("\"a> b\"", "example.org"), mail_params(5)}},
      {"MAIL FROM:<@relay.example,@r2.example:a@example.org>", false, Mail{box("a", "example.org"), {}}},
      {"MAIL FROM:<pel\xc3\xa9@example.org> SMTPUTF8", false, Mail{box("pel\xc3\xa9", "example.org"), utf8}},
      {"MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ314159", false, Mail{box("a", "example.org"), dsn}},
      {"MAIL FROM:<a@example.org> AUTH=<>", false, Mail{box("a", "example.org"), auth_null}},
      {"MAIL FROM:<a@example.org> AUTH=e+3Dmc2@example.com", false, Mail{box("a", "example.org"), auth_box}},
      {"RCPT TO:<b@example.net>", false, Rcpt{box("b", "example.net"), {}}},
      {"rcpt to: <b@example.net>", false, Rcpt{box("b", "example.net"), {}}},
      {"RCPT TO:<Postmaster>", false, Rcpt{box("Postmaster", ""), {}}},
      {"RCPT TO:<postmaster>", false, Rcpt{box("postmaster", ""), {}}},
      {"RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Bx@example.net", false,
       Rcpt{box("b", "example.net"), notify_orcpt}},
      {"RCPT TO:<b@example.net> notify=never", false, Rcpt{box("b", "example.net"), never}},
      {"RCPT TO:<jos\xc3\xa9@example.net>", true, Rcpt{box("jos\xc3\xa9", "example.net"), {}}},
      {"DATA", false, Data{}},
      {"data ", false, Data{}},
      {"BDAT 1000", false, Bdat{1000, false}},
      {"BDAT 0 LAST", false, Bdat{0, true}},
      {"bdat 12 last", false, Bdat{12, true}},
      {"RSET", false, Rset{}},
      {"NOOP", false, Noop{}},
      {"NOOP anything at all", false, Noop{}},
      {"QUIT", false, Quit{}},
      {"HELP", false, Help{""}},
      {"HELP MAIL", false, Help{"MAIL"}},
      {"VRFY postmaster", false, Vrfy{"postmaster"}},
      {"EXPN staff", false, Expn{"staff"}},
      {"STARTTLS", false, Starttls{}},
      {"starttls", false, Starttls{}},
      {"AUTH PLAIN", false, Auth{"PLAIN", std::nullopt}},
      {"AUTH plain AHVzZXIAcGFzcw==", false, Auth{"PLAIN", "AHVzZXIAcGFzcw=="}},
      {"AUTH LOGIN =", false, Auth{"LOGIN", "="}},
      {"AUTH CRAM-MD5", false, Auth{"CRAM-MD5", std::nullopt}},
      {"ETRN example.org", false, Etrn{"example.org"}},
      {"ETRN #queue1", false, Etrn{"#queue1"}},
  };
  for (const auto& c : cases) {
    INFO("line: " << c.line);
    auto got = parse_command(c.line, CommandContext{c.utf8_transaction});
    REQUIRE(got.has_value());
    CHECK(got->index() == c.expected.index());
    CHECK(*got == c.expected);
  }
}

TEST_CASE("refused commands get the exact reply", "[smtp_command]") {
  const Reply unrecognized{500, "5.5.2", "Command unrecognized"};
  const Reply control{500, "5.5.2", "Syntax error: control character in command"};
  const Reply mail_syntax{501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"};
  const Reply rcpt_syntax{501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]"};
  const Reply malformed{501, "5.5.4", "Malformed parameter (KEYWORD or KEYWORD=value expected)"};
  const Reply bad_envid{501, "5.5.4", "Bad ENVID value (xtext of printable ASCII, at most 100 characters)"};
  const Reply bad_notify{501, "5.5.4",
                         "Bad NOTIFY value (NEVER, or SUCCESS, FAILURE and DELAY separated by commas)"};
  const Reply bad_orcpt{501, "5.5.4", "Bad ORCPT value (type;xtext, at most 500 characters expected)"};
  const Reply bad_auth{501, "5.5.4", "Bad AUTH value (xtext of <> or a mailbox expected)"};
  const Reply bdat_syntax{501, "5.5.4", "Syntax: BDAT size [LAST]"};
  const Reply auth_syntax{501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"};
  const std::string from = "MAIL FROM:<a@example.org> ";
  const std::string to = "RCPT TO:<b@example.net> ";

  struct Case {
    std::string line;
    Reply expected;
  };
  const std::vector<Case> cases = {
      {"", {500, "5.5.2", "Syntax error: empty command"}},
      {"   ", {500, "5.5.2", "Syntax error: empty command"}},
      {"FOO bar", unrecognized},
      {"MAILFROM:<a@example.org>", unrecognized},
      {"HELLO there", unrecognized},
      {"NOOP\r", control},
      {"RSET\rMAIL FROM:<a@example.org>", control},
      {std::string("HELO a\0b", 8), control},
      {"HELO x\x7f", control},
      {"HELO", {501, "5.5.4", "Syntax: HELO hostname"}},
      {"EHLO ", {501, "5.5.4", "Syntax: EHLO hostname"}},
      {"MAIL", mail_syntax},
      {"MAIL TO:<a@example.org>", mail_syntax},
      {"MAIL FROM:", mail_syntax},
      {"MAIL FROM <a@example.org>", mail_syntax},
      {"MAIL FROM:<a@example.org>SIZE=10", mail_syntax},
      {from + "SIZE", {501, "5.5.4", "Parameter SIZE needs a value"}},
      {from + "SIZE=", malformed},
      {from + "=1", malformed},
      {from + "-X=1", malformed},
      {from + "SIZE=a=b", malformed},
      {from + "SIZE=10k", {501, "5.5.4", "Bad SIZE value (digits expected)"}},
      {from + "SIZE=123456789012345678901", {501, "5.5.4", "Bad SIZE value (digits expected)"}},
      {from + "SIZE=1 SIZE=2", {501, "5.5.4", "Duplicate parameter SIZE"}},
      {from + "size=1 SIZE=2", {501, "5.5.4", "Duplicate parameter SIZE"}},
      {from + "BODY=9BIT", {501, "5.5.4", "Bad BODY value (7BIT, 8BITMIME or BINARYMIME expected)"}},
      {from + "RET=ALL", {501, "5.5.4", "Bad RET value (FULL or HDRS expected)"}},
      {from + "ENVID=a+2", bad_envid},
      {from + "ENVID=a+0Ab", bad_envid},
      {from + "ENVID=" + std::string(101, 'x'), bad_envid},
      {from + "SMTPUTF8=yes", {501, "5.5.4", "Parameter SMTPUTF8 takes no value"}},
      {from + "AUTH=foo", bad_auth},
      {from + "AUTH=+", bad_auth},
      {from + "X-FOO=1", {555, "5.5.4", "Unsupported parameter X-FOO"}},
      {from + "notify=NEVER", {555, "5.5.4", "Unsupported parameter NOTIFY"}},
      {from + "SIZE=1 " + std::string(60, 'Y'), {555, "5.5.4", "Unsupported parameter " + std::string(40, 'Y')}},
      {"MAIL FROM:<a b@example.org>", {501, "5.1.7", "Bad sender address syntax: invalid character in the local part"}},
      {"MAIL FROM:<a@example.org", {501, "5.1.7", "Bad sender address syntax: missing closing \">\""}},
      {"MAIL FROM:<pel\xc3\xa9@example.org>", {553, "5.6.7", "Non-ASCII sender address needs the SMTPUTF8 parameter"}},
      {"RCPT", rcpt_syntax},
      {"RCPT FROM:<b@example.net>", rcpt_syntax},
      {"RCPT TO:<b@example.net>x", rcpt_syntax},
      {"RCPT TO:<>", {501, "5.1.3", "Bad recipient address syntax: empty address"}},
      {"RCPT TO:<jos\xc3\xa9@example.net>", {553, "5.6.7", "Non-ASCII recipient address needs the SMTPUTF8 parameter"}},
      {"RCPT TO:b@example.net x", {555, "5.5.4", "Unsupported parameter X"}},
      {to + "SIZE=10", {555, "5.5.4", "Unsupported parameter SIZE"}},
      {to + "NOTIFY=NEVER,SUCCESS", bad_notify},
      {to + "NOTIFY=SUCCESS,", bad_notify},
      {to + "NOTIFY=SOMETIMES", bad_notify},
      {to + "NOTIFY=", malformed},
      {to + "NOTIFY=DELAY NOTIFY=DELAY", {501, "5.5.4", "Duplicate parameter NOTIFY"}},
      {to + "ORCPT=b@example.net", bad_orcpt},
      {to + "ORCPT=rfc822;", bad_orcpt},
      {to + "ORCPT=;b@example.net", bad_orcpt},
      {to + "ORCPT=rfc822;b+0D+0A@example.net", bad_orcpt},
      {to + "ORCPT=rfc822;" + std::string(494, 'x'), bad_orcpt},
      {"DATA x", {501, "5.5.4", "Syntax: DATA (no arguments)"}},
      {"RSET now", {501, "5.5.4", "Syntax: RSET (no arguments)"}},
      {"QUIT now", {501, "5.5.4", "Syntax: QUIT (no arguments)"}},
      {"STARTTLS please", {501, "5.5.4", "Syntax: STARTTLS (no arguments)"}},
      {"BDAT", bdat_syntax},
      {"BDAT x", bdat_syntax},
      {"BDAT -1", bdat_syntax},
      {"BDAT 10 FIRST", bdat_syntax},
      {"BDAT 10 LAST x", bdat_syntax},
      {"BDAT 99999999999999999999", bdat_syntax},
      {"VRFY", {501, "5.5.4", "Syntax: VRFY address"}},
      {"EXPN", {501, "5.5.4", "Syntax: EXPN list"}},
      {"AUTH", auth_syntax},
      {"AUTH PL@IN", auth_syntax},
      {"AUTH " + std::string(21, 'A'), auth_syntax},
      {"AUTH PLAIN a b", auth_syntax},
      {"AUTH PLAIN abc", {501, "5.5.2", "Cannot decode the initial response (base64)"}},
      {"AUTH PLAIN ab=c", {501, "5.5.2", "Cannot decode the initial response (base64)"}},
      {"AUTH PLAIN a===", {501, "5.5.2", "Cannot decode the initial response (base64)"}},
      {"ETRN", {501, "5.5.4", "Syntax: ETRN domain"}},
      {"ETRN a b", {501, "5.5.4", "Syntax: ETRN domain"}},
  };
  for (const auto& c : cases) {
    INFO("line: " << c.line);
    auto got = parse_command(c.line);
    REQUIRE_FALSE(got.has_value());
    CHECK(got.error() == c.expected);
  }
}

TEST_CASE("the ORCPT boundary is 500 characters", "[smtp_command]") {
  std::string value = "rfc822;" + std::string(493, 'x');  // 500 characters exactly
  auto ok = parse_command("RCPT TO:<b@example.net> ORCPT=" + value);
  REQUIRE(ok.has_value());
  CHECK(std::get<Rcpt>(*ok).params.orcpt->address.size() == 493);
  std::string envid(100, 'e');
  auto ok2 = parse_command("MAIL FROM:<> ENVID=" + envid);
  REQUIRE(ok2.has_value());
  CHECK(std::get<Mail>(*ok2).params.envid == envid);
}

TEST_CASE("verb names follow the command", "[smtp_command]") {
  const std::vector<std::pair<std::string, std::string_view>> cases = {
      {"helo x", "HELO"}, {"mail from:<>", "MAIL"}, {"rcpt to:<postmaster>", "RCPT"},
      {"bdat 1", "BDAT"}, {"starttls", "STARTTLS"}, {"etrn x", "ETRN"}, {"auth plain", "AUTH"},
  };
  for (const auto& [line, verb] : cases) {
    auto got = parse_command(line);
    REQUIRE(got.has_value());
    CHECK(verb_name(*got) == verb);
  }
}

TEST_CASE("xtext encodes and decodes by RFC 3461", "[smtp_command]") {
  struct Case {
    std::string raw;
    std::string encoded;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"user@example.org", "user@example.org"},
      {"a+b=c", "a+2Bb+3Dc"},
      {"two words", "two+20words"},
      {std::string("\0\x7f\xff", 3), "+00+7F+FF"},
      {"~!", "~!"},
  };
  for (const auto& c : cases) {
    CHECK(xtext_encode(c.raw) == c.encoded);
    CHECK(xtext_decode(c.encoded) == c.raw);
  }
  CHECK(xtext_decode("a+2bb") == std::optional<std::string>("a+b"));  // lower-case hex accepted
  for (std::string bad : {"a=b", "a+", "a+2", "a+GG", "a b", "\xc3\xa9", "tab\there"}) {
    INFO("xtext: " << bad);
    CHECK_FALSE(xtext_decode(bad));
    CHECK_FALSE(is_xtext(bad));
  }
}

TEST_CASE("mutated command lines never crash and refusals are well-formed", "[smtp_command]") {
  const std::vector<std::string> seeds = {
      "MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME RET=FULL ENVID=x+2By AUTH=<>",
      "RCPT TO:<@r.example:b@example.net> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@example.net",
      "MAIL FROM:<\"q\\\"x\"@[IPv6:2001:db8::1]> SMTPUTF8",
      "EHLO client.example", "BDAT 100 LAST", "AUTH PLAIN AHVzZXIAcGFzcw==", "RCPT TO:<Postmaster>",
  };
  for (int i = 0; i < 20000; ++i) {
    std::string line = imta::test::mutate(seeds[imta::test::pick(seeds.size())]);
    bool utf8 = imta::test::pick(2) == 1;
    auto got = parse_command(line, CommandContext{utf8});
    if (got) {
      CHECK_FALSE(verb_name(*got).empty());
      continue;
    }
    INFO("line: " << line);
    const Reply& r = got.error();
    bool known_code = r.code == 500 || r.code == 501 || r.code == 553 || r.code == 555;
    CHECK(known_code);
    CHECK(is_enhanced_code(r.enhanced));
    std::string wire = to_wire(r);
    CHECK(wire.find('\n') == wire.size() - 1);  // one line, nothing smuggled into it
  }
}

TEST_CASE("xtext round-trips any bytes", "[smtp_command]") {
  for (int i = 0; i < 2000; ++i) {
    std::string raw;
    for (std::size_t n = imta::test::pick(40); n > 0; --n) raw += static_cast<char>(imta::test::pick(256));
    std::string encoded = xtext_encode(raw);
    CHECK(is_xtext(encoded));
    CHECK(xtext_decode(encoded) == raw);
  }
}
