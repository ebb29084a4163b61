// Reverse and forward paths (RFC 5321 §4.1.2, RFC 6531): what is accepted,
// what the client is told when it is not.
#include <catch2/catch.hpp>

#include "core/smtp/address.hpp"
#include "tests/core/smtp/smtp_test_support.hpp"

using namespace imta::core::smtp;

namespace {

const std::string label63(63, 'l');
// 63+1+63+1+63+1+63 = 255 octets
const std::string domain255 = label63 + "." + label63 + "." + label63 + "." + label63;

}  // namespace

TEST_CASE("sender paths that are accepted", "[smtp_address]") {
  struct Case {
    std::string path;
    bool utf8;
    Mailbox expected;
  };
  const std::vector<Case> cases = {
      {"<a@example.org>", false, {"a", "example.org"}},
      {"<>", false, {}},
      {"a@example.org", false, {"a", "example.org"}},
      {"<A.B-c+tag@Example.ORG>", false, {"A.B-c+tag", "Example.ORG"}},
      {"<!#$%&'*+-/=?^_`{|}~@example.org>", false, {"!#$%&'*+-/=?^_`{|}~", "example.org"}},
      {"<\"john smith\"@example.org>", false, {"\"john smith\"", "example.org"}},
      {"<\"a\\\"b\"@example.org>", false, {"\"a\\\"b\"", "example.org"}},
      {"<\"\"@example.org>", false, {"\"\"", "example.org"}},
      {"<\"a@b\"@example.org>", false, {"\"a@b\"", "example.org"}},
      {"<@a.example,@b.example:u@c.example>", false, {"u", "c.example"}},
      {"<@[192.0.2.1]:u@c.example>", false, {"u", "c.example"}},
      {"<@[IPv6:2001:db8::1]:u@c.example>", false, {"u", "c.example"}},
      {"<u@[192.0.2.1]>", false, {"u", "[192.0.2.1]"}},
      {"<u@[0.0.0.0]>", false, {"u", "[0.0.0.0]"}},
      {"<u@[IPv6:2001:db8::1]>", false, {"u", "[IPv6:2001:db8::1]"}},
      {"<u@[ipv6:::1]>", false, {"u", "[ipv6:::1]"}},
      {"<u@[IPv6:::ffff:192.0.2.1]>", false, {"u", "[IPv6:::ffff:192.0.2.1]"}},
      {"<u@my_host.example>", false, {"u", "my_host.example"}},
      {"<u@a-b.123.example>", false, {"u", "a-b.123.example"}},
      {"<u@localhost>", false, {"u", "localhost"}},
      {"<u@" + domain255 + ">", false, {"u", domain255}},
      {"<" + std::string(255, 'x') + "@example.org>", false, {std::string(255, 'x'), "example.org"}},
      {"<pel\xc3\xa9@example.org>", true, {"pel\xc3\xa9", "example.org"}},
      {"<u@b\xc3\xbc" "cher.example>", true, {"u", "b\xc3\xbc" "cher.example"}},
      {"<\"\xe6\x97\xa5 \xe6\x9c\xac\"@example.org>", true, {"\"\xe6\x97\xa5 \xe6\x9c\xac\"", "example.org"}},
  };
  for (const auto& c : cases) {
    INFO("path: " << c.path);
    auto got = parse_reverse_path(c.path, c.utf8);
    REQUIRE(got.has_value());
    CHECK(*got == c.expected);
  }
}

TEST_CASE("bad sender paths are refused with 501 5.1.7 and the reason", "[smtp_address]") {
  struct Case {
    std::string path;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"", "empty address"},
      {"<a@example.org", "missing closing \">\""},
      {"<", "missing closing \">\""},
      {"<a>", "missing @domain"},
      {"<Postmaster>", "missing @domain"},
      {"a@", "missing domain"},
      {"<@example.org>", "malformed source route"},
      {"<@a.example u@b.example>", "malformed source route"},
      {"@a.example:u@b.example", "malformed source route"},
      {"<@a.example;@b.example:u@c.example>", "invalid character in the domain"},
      {"<@a..example:u@b.example>", "empty label in the domain"},
      {"<.a@example.org>", "local part starts or ends with a dot"},
      {"<a.@example.org>", "local part starts or ends with a dot"},
      {"<a..b@example.org>", "two dots in a row in the local part"},
      {"<a b@example.org>", "invalid character in the local part"},
      {"<a(b)@example.org>", "invalid character in the local part"},
      {"<a\"b@example.org>", "invalid character in the local part"},
      {"<\"abc@example.org>", "unterminated quoted local part"},
      {"<\"a\"b@example.org>", "missing @domain"},
      {"<\"a\tb\"@example.org>", "invalid character in the quoted local part"},
      {"<a@-example.org>", "domain label starts or ends with a hyphen"},
      {"<a@example-.org>", "domain label starts or ends with a hyphen"},
      {"<a@example..org>", "empty label in the domain"},
      {"<a@example.org.>", "empty label in the domain"},
      {"<a@.example.org>", "empty label in the domain"},
      {"<a@exa mple.org>", "invalid character in the domain"},
      {"<a@example.org@x>", "invalid character in the domain"},
      {"<a@" + std::string(64, 'l') + ".example>", "domain label longer than 63 octets"},
      {"<a@" + domain255 + "x>", "domain longer than 255 octets"},
      {"<" + std::string(256, 'x') + "@example.org>", "local part longer than 255 octets"},
      {"<a@[192.0.2.256]>", "malformed IPv4 address literal"},
      {"<a@[192.0.2]>", "malformed IPv4 address literal"},
      {"<a@[1.2.3.4.5]>", "malformed IPv4 address literal"},
      {"<a@[0001.2.3.4]>", "malformed IPv4 address literal"},
      {"<a@[]>", "malformed IPv4 address literal"},
      {"<a@[IPv6:2001:db8::g]>", "malformed IPv6 address literal"},
      {"<a@[IPv6:192.0.2.1]>", "malformed IPv6 address literal"},
      {"<a@[x-tag:foo]>", "unsupported address literal"},
      {"<a@[192.0.2.1>", "malformed address literal"},
      {"<pel\xc3\xa9@example.org\xc3>", "malformed UTF-8"},
  };
  for (const auto& c : cases) {
    INFO("path: " << c.path);
    auto got = parse_reverse_path(c.path, true);
    REQUIRE_FALSE(got.has_value());
    CHECK(got.error() == Reply{501, "5.1.7", "Bad sender address syntax: " + c.reason});
  }
}

TEST_CASE("recipient paths: Postmaster yes, null path no, codes 5.1.3", "[smtp_address]") {
  auto pm = parse_forward_path("<Postmaster>", false);
  REQUIRE(pm.has_value());
  CHECK(*pm == Mailbox{"Postmaster", ""});
  CHECK(pm->address() == "Postmaster");
  auto pm2 = parse_forward_path("POSTMASTER", false);
  REQUIRE(pm2.has_value());
  CHECK(pm2->local == "POSTMASTER");
  auto routed = parse_forward_path("<@relay.example:postmaster>", false);
  REQUIRE(routed.has_value());
  CHECK(*routed == Mailbox{"postmaster", ""});

  struct Case {
    std::string path;
    Reply expected;
  };
  const std::vector<Case> cases = {
      {"<>", {501, "5.1.3", "Bad recipient address syntax: empty address"}},
      {"", {501, "5.1.3", "Bad recipient address syntax: empty address"}},
      {"<postmistress>", {501, "5.1.3", "Bad recipient address syntax: missing @domain"}},
      {"<a@b..c>", {501, "5.1.3", "Bad recipient address syntax: empty label in the domain"}},
      {"<jos\xc3\xa9@example.net>", {553, "5.6.7", "Non-ASCII recipient address needs the SMTPUTF8 parameter"}},
      {"<u@b\xc3\xbc" "cher.example>", {553, "5.6.7", "Non-ASCII recipient address needs the SMTPUTF8 parameter"}},
  };
  for (const auto& c : cases) {
    INFO("path: " << c.path);
    auto got = parse_forward_path(c.path, false);
    REQUIRE_FALSE(got.has_value());
    CHECK(got.error() == c.expected);
  }
}

TEST_CASE("non-ASCII needs SMTPUTF8; with it, UTF-8 must be well-formed", "[smtp_address]") {
  auto refused = parse_reverse_path("<pel\xc3\xa9@example.org>", false);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == Reply{553, "5.6.7", "Non-ASCII sender address needs the SMTPUTF8 parameter"});

  struct Case {
    std::string text;
    bool valid;
  };
  const std::vector<Case> utf8_cases = {
      {"", true},
      {"plain", true},
      {"\xc3\xa9", true},
      {"\xe2\x82\xac", true},
      {"\xf0\x9f\x93\xa7", true},
      {"\xed\x9f\xbf", true},       // U+D7FF, just below the surrogates
      {"\xc3", false},              // truncated
      {"\xc3\x28", false},          // bad continuation
      {"\xc0\xaf", false},          // overlong '/'
      {"\xe0\x80\xaf", false},      // overlong
      {"\xed\xa0\x80", false},      // surrogate U+D800
      {"\xf4\x90\x80\x80", false},  // beyond U+10FFFF
      {"\xff", false},
      {"\x80", false},
  };
  for (const auto& c : utf8_cases) {
    INFO("text bytes: " << c.text.size());
    CHECK(is_utf8(c.text) == c.valid);
  }
}

TEST_CASE("domain and address literal checks for HELO policy", "[smtp_address]") {
  struct Case {
    std::string text;
    bool domain;
    bool literal;
  };
  const std::vector<Case> cases = {
      {"mail.example.org", true, false},
      {"localhost", true, false},
      {"xn--bcher-kva.example", true, false},
      {"b\xc3\xbc" "cher.example", false, false},  // without utf8
      {"[192.0.2.1]", false, true},
      {"[IPv6:::1]", false, true},
      {"[IPv6:1.2.3.4]", false, false},
      {"example.org.", false, false},
      {"", false, false},
      {"-a.example", false, false},
      {domain255, true, false},
      {domain255 + "x", false, false},
  };
  for (const auto& c : cases) {
    INFO("text: " << c.text);
    CHECK(is_domain(c.text, false) == c.domain);
    CHECK(is_address_literal(c.text) == c.literal);
  }
  CHECK(is_domain("b\xc3\xbc" "cher.example", true));
  CHECK_FALSE(is_domain("b\xc3" "cher.example", true));
}

TEST_CASE("AUTH= mailboxes parse without brackets", "[smtp_address]") {
  auto ok = parse_mailbox("e=mc2@example.com", false);
  REQUIRE(ok.has_value());
  CHECK(ok->address() == "e=mc2@example.com");
  CHECK_FALSE(parse_mailbox("<e@example.com>", false).has_value());
  CHECK_FALSE(parse_mailbox("e", false).has_value());
}

TEST_CASE("mutated paths never crash, and accepted ones round-trip", "[smtp_address]") {
  const std::vector<std::string> seeds = {
      "<a.b@example.org>", "<\"q \\\" x\"@[IPv6:2001:db8::1]>", "<@r1.example,@[192.0.2.1]:u@c.example>",
      "<pel\xc3\xa9@b\xc3\xbc" "cher.example>", "<Postmaster>", "<>", "user@host",
  };
  for (int i = 0; i < 20000; ++i) {
    std::string path = imta::test::mutate(seeds[imta::test::pick(seeds.size())]);
    bool utf8 = imta::test::pick(2) == 1;
    bool forward = imta::test::pick(2) == 1;
    INFO("path: " << path << (forward ? " (recipient)" : " (sender)"));
    auto got = forward ? parse_forward_path(path, utf8) : parse_reverse_path(path, utf8);
    if (!got) {
      const Reply& r = got.error();
      if (r.code == 553) {
        CHECK(r.enhanced == "5.6.7");
      } else {
        CHECK(r.code == 501);
        CHECK(r.enhanced == (forward ? "5.1.3" : "5.1.7"));
      }
      continue;
    }
    if (got->is_null()) continue;
    // What we accepted reads back the same from its own address() form.
    auto again = forward ? parse_forward_path("<" + got->address() + ">", utf8)
                         : parse_reverse_path("<" + got->address() + ">", utf8);
    REQUIRE(again.has_value());
    CHECK(*again == *got);
  }
}
