#include <catch2/catch.hpp>

#include <map>

#include "config/imta_cnf.hpp"
#include "config/rewrite.hpp"
#include "config/source_lines.hpp"
#include "test_support.hpp"

using namespace imta::config;
using namespace imta::config::testing;

namespace {

ImtaCnf parse(const std::string& text) {
  Diagnostics diags;
  auto lines = split_source(text, "imta.cnf", ReadOptions{}, diags);
  auto cnf = parse_imta_cnf(lines, diags);
  INFO(Catch::Detail::stringify(messages(diags)));
  REQUIRE(diags.ok());
  return cnf;
}

// Channels shared by the substitution and control tests; `x` is a second host
// name of tcp_local so short templates can end in @x.
const std::string kChannels =
    "\n"
    "l\n"
    "mail.example.test example.test\n"
    "\n"
    "tcp_local smtp\n"
    "tcp_local-daemon x\n"
    "\n"
    "tcp_intranet smtp\n"
    "tcp_intranet-daemon\n"
    "\n"
    "tcp_norules smtp norules\n"
    "tcp_norules-daemon\n"
    "\n"
    "reprocess\n"
    "reprocess-daemon\n";

ImtaCnf with_rules(const std::string& rules) { return parse(rules + kChannels); }

struct FakeLookups : RewriteLookups {
  std::map<std::string, std::string> general_db;
  std::map<std::pair<std::string, std::string>, std::string> mappings;
  std::optional<std::string> general(std::string_view key) const override {
    auto it = general_db.find(std::string(key));
    if (it == general_db.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> mapping(std::string_view table, std::string_view probe) const override {
    auto it = mappings.find({std::string(table), std::string(probe)});
    if (it == mappings.end()) return std::nullopt;
    return it->second;
  }
};

RewriteResult run(const ImtaCnf& cnf, const std::string& address, const std::string& source = "l",
                  bool envelope = true, bool forward = true) {
  RewriteRequest req;
  req.address = address;
  req.source_channel = source;
  req.envelope = envelope;
  req.forward = forward;
  req.debug = true;
  return rewrite_address(cnf, NoRewriteLookups{}, req);
}

// The default configuration's shape, with a few rules of our own.
const std::string kConfig =
    "example.test       $U%example.test@mail.example.test\n"        // 1
    "mail.example.test  $U%mail.example.test@mail.example.test\n"   // 2
    "alias.test         $U%example.test\n"                          // 3
    "loop.test          $U%loop.test\n"                             // 4
    "bad.test           $U%bad.test@nowhere-daemon\n"               // 5
    "route.test         $U@$D@relay.test@tcp_local-daemon\n"        // 6
    "gw.test            $U%gw.test@gateway-daemon\n"                // 7
    "[]                 $U%[$L]@tcp_local-daemon\n"                 // 8
    ".                  $U%$H$D@tcp_local-daemon\n"                 // 9
    "\n"
    "defaults logging notices 1 2 4 7 copywarnpost copysendpost postheadonly\n"
    "\n"
    "l maxjobs 4 pool LOCAL_POOL\n"
    "mail.example.test example.test\n"
    "\n"
    "tcp_local smtp mx single_sys remotehost switchchannel maxjobs 7 pool SMTP_POOL "
    "maytlsserver maysaslserver saslswitchchannel tcp_auth\n"
    "tcp_local-daemon\n"
    "\n"
    "tcp_auth smtp defaulthost auth.example\n"
    "tcp_auth-daemon\n"
    "\n"
    "tcp_uucp smtp bangoverpercent\n"
    "tcp_uucp-daemon\n"
    "\n"
    "gateway routelocal\n"
    "gateway-daemon\n";

}  // namespace

TEST_CASE("addresses route to the channels the default rules name", "[rewrite]") {
  auto cnf = parse(kConfig);
  struct Case {
    std::string address;
    std::string source;
    std::string channel;
    std::string result;
    int rule_line;
  };
  const std::vector<Case> cases = {
      {"user@example.test", "l", "l", "user@example.test", 1},
      {"User@EXAMPLE.Test", "l", "l", "User@example.test", 1},
      {"<user@example.test>", "l", "l", "user@example.test", 1},
      {"user@example.org", "l", "tcp_local", "user@example.org", 9},
      {"user@Sub.Example.ORG", "l", "tcp_local", "user@Sub.Example.ORG", 9},
      {"user@example.org.", "l", "tcp_local", "user@example.org", 9},
      // The local host is dropped and the rest rewritten (percent hack).
      {"user%other.org@example.test", "l", "tcp_local", "user@other.org", 9},
      {"other.org!user@example.test", "l", "tcp_local", "user@other.org", 9},
      {"a%b%other.org@example.test", "l", "tcp_local", "a%b@other.org", 9},
      {"user%mail.example.test@example.test", "l", "l", "user@mail.example.test", 2},
      // Not local: the % stays in the local part.
      {"user%other.org@example.org", "l", "tcp_local", "user%other.org@example.org", 9},
      {"\"a%b\"@example.test", "l", "l", "\"a%b\"@example.test", 1},
      // Without @: right of the last %, else left of the first !.
      {"user%other.org", "l", "tcp_local", "user@other.org", 9},
      {"other.org!user", "l", "tcp_local", "user@other.org", 9},
      {"a!b!user", "l", "tcp_local", "b!user@a", 9},
      {"a!user%b", "l", "tcp_local", "a!user@b", 9},
      {"a!user%b", "tcp_uucp", "tcp_local", "user%b@a", 9},  // bangoverpercent
      // Source routes route on their first host and keep the route.
      {"@a.example,@b.example:u@c.example", "l", "tcp_local", "@a.example,@b.example:u@c.example", 9},
      {"@example.test,@b.example:u@c.example", "l", "tcp_local", "@b.example:u@c.example", 9},
      {"@example.test:u@c.example", "l", "tcp_local", "u@c.example", 9},
      // Domain literals.
      {"user@[192.0.2.1]", "l", "tcp_local", "user@[192.0.2.1]", 8},
      // Bare names get the source channel's defaulthost, else l's official host.
      {"user", "l", "l", "user@mail.example.test", 2},
      {"postmaster", "l", "l", "postmaster@mail.example.test", 2},
      {"user", "tcp_auth", "tcp_local", "user@auth.example", 9},
      // U%D rewrites again.
      {"user@alias.test", "l", "l", "user@example.test", 1},
      // Template with a source route.
      {"user@route.test", "l", "tcp_local", "@relay.test:user@route.test", 6},
      // routelocal channels are treated like l.
      {"user%other.org@gw.test", "l", "tcp_local", "user@other.org", 9},
      {"user@gw.test", "l", "gateway", "user@gw.test", 7},
  };
  for (const auto& c : cases) {
    INFO(c.address << " from " << c.source);
    auto r = run(cnf, c.address, c.source);
    INFO(Catch::Detail::stringify(r.trace));
    REQUIRE(r.ok);
    CHECK(r.channel == c.channel);
    CHECK(r.address == c.result);
    REQUIRE(r.rule);
    CHECK(r.rule->str() == "imta.cnf:" + std::to_string(c.rule_line));
  }
}

TEST_CASE("rewriting failures say why", "[rewrite]") {
  auto cnf = parse(kConfig);
  struct Case {
    std::string address;
    std::string source;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"user@bad.test", "l",
       "illegal host/domain name: routing host \"nowhere-daemon\" of rule imta.cnf:5 is no "
       "channel's host name"},
      {"user@loop.test", "l",
       "rewrite loop: still rewriting after 20 passes (last address \"user@loop.test\")"},
      {"", "l", "empty address"},
      {"<>", "l", "empty address"},
      {"user@", "l", "empty host name in \"user@\""},
      {"user@example.org", "nosuch", "unknown source channel \"nosuch\""},
      {"@a.example", "l", "source route without \":\" in \"@a.example\""},
  };
  for (const auto& c : cases) {
    INFO(c.address);
    auto r = run(cnf, c.address, c.source);
    CHECK_FALSE(r.ok);
    CHECK(r.error == c.error);
  }
  // Without a catch-all rule an unknown domain matches nothing.
  auto narrow = with_rules("example.test $U%example.test@mail.example.test\n");
  auto r = run(narrow, "user@example.org");
  CHECK_FALSE(r.ok);
  CHECK(r.error == "illegal host/domain name \"example.org\": no rewrite rule applies");
}

TEST_CASE("hosts are looked up from the most specific pattern to the catch-all", "[rewrite]") {
  const std::vector<std::string> order = {
      "sc.cs.siroe.edu", "*.cs.siroe.edu", ".cs.siroe.edu", "*.*.siroe.edu", ".siroe.edu",
      "*.*.*.edu",       ".edu",           "*.*.*.*",       "."};
  // With patterns i..end present (written in reverse order, so file order
  // cannot be what decides), pattern i must win.
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::string rules;
    for (std::size_t j = order.size(); j-- > i;)
      rules += order[j] + " $U%" + std::to_string(j) + ".test@x\n";
    auto cnf = with_rules(rules);
    auto r = run(cnf, "dan@SC.cs.Siroe.EDU");
    INFO("expected " << order[i] << "\n" << Catch::Detail::stringify(r.trace));
    REQUIRE(r.ok);
    CHECK(r.address == "dan@" + std::to_string(i) + ".test");
  }

  // .siroe.com matches below siroe.com but not siroe.com itself.
  auto cnf = with_rules(".siroe.com $U%sub@x\n. $U%other@x\n");
  CHECK(run(cnf, "u@siroe.com").address == "u@other");
  CHECK(run(cnf, "u@a.siroe.com").address == "u@sub");

  const std::vector<std::string> literal_order = {"[128.6.3.40]", "[128.6.3.]", "[128.6.]",
                                                  "[128.]", "[]", "."};
  for (std::size_t i = 0; i < literal_order.size(); ++i) {
    std::string rules;
    for (std::size_t j = literal_order.size(); j-- > i;)
      rules += literal_order[j] + " $U%" + std::to_string(j) + ".test@x\n";
    auto lit = with_rules(rules);
    auto r = run(lit, "u@[128.6.3.40]");
    INFO("expected " << literal_order[i] << "\n" << Catch::Detail::stringify(r.trace));
    REQUIRE(r.ok);
    CHECK(r.address == "u@" + std::to_string(i) + ".test");
  }
}

TEST_CASE("the first rule that succeeds wins; a failing rule lets the search go on", "[rewrite]") {
  auto cnf = with_rules(
      "a.test $U%first@x\n"
      "a.test $U%second@x\n"
      "b.test $B$U%header@x\n"            // fails for envelope addresses
      "b.test $U%envelope@x\n"
      "c.test $B$U%header@x\n"            // the only c.test rule fails ...
      ".test $U%dot-test@x\n"             // ... so the next pattern is tried
      "d.test $(missing)$U%found@x\n"     // failing lookup
      "d.test $U%fallback@x\n"
      ". $U%$H$D@x\n");
  CHECK(run(cnf, "u@a.test").address == "u@first");
  CHECK(run(cnf, "u@b.test").address == "u@envelope");
  CHECK(run(cnf, "u@b.test", "l", false).address == "u@header");
  CHECK(run(cnf, "u@c.test").address == "u@dot-test");
  auto r = run(cnf, "u@d.test");
  CHECK(r.address == "u@fallback");
  CHECK(r.rule->line == 8);
  // The trace tells the story.
  bool saw_failure = false;
  for (const auto& line : r.trace)
    if (line.find("fails: $(missing): not in the general database") != std::string::npos)
      saw_failure = true;
  CHECK(saw_failure);
}

TEST_CASE("substitutions", "[rewrite]") {
  struct Case {
    std::string rule;
    std::string address;
    std::string result;
  };
  const std::vector<Case> cases = {
      // PMDF's own examples: $H is what did not match, $D what did.
      {".com $U%$H$D@x", "adrian@example.com", "adrian@example.com"},
      {".example.com $H=$D%r@x", "jdoe@host.example.com", "host=.example.com@r"},
      {"host.example.com $U%$1D@x", "jdoe@host.example.com", "jdoe@example.com"},
      {".example.com $1H%r@x", "jdoe@a.b.example.com", "b@r"},
      {"*.example.com $U%$&0.example.com@x", "jdoe@vaxa.example.com", "jdoe@vaxa.example.com"},
      {". $U%$H@x", "u@a.b.c", "u@a.b.c"},
      {". $U=$D=%r@x", "u@a.b.c", "u==@r"},
      // Labels: $*n/$#n count explicitly matched labels, $&n/$!n the others.
      {".b.example.com $*0-$#0-$&0-$!0%r@x", "u@w.v.b.example.com", "b-com-w-v@r"},
      {"*.*.example.com $*0.$#1.$&1.$!1%r@x", "u@w.v.example.com", "example.example.v.w@r"},
      // Sub-addresses.
      {"example.com $0U=$1U%r@x", "jdoe+box@example.com", "jdoe=box@r"},
      {"example.com $0U=$1U%r@x", "jdoe@example.com", "jdoe=@r"},
      // Domain literals: $L is the part the pattern did not cover.
      {"[192.0.] $L%r@x", "u@[192.0.2.1]", "2.1@r"},
      {"[] $U%[$L]@x", "u@[192.0.2.1]", "u@[192.0.2.1]"},
      // Quoted characters are never structure.
      {"example.com $U$%a$@b$$%r@x", "u@example.com", "u%a@b$@r"},
      // Case.
      {".example.com $\\$U-$^$H-$_$D%r@x", "JDoe@Host.Example.com", "jdoe-HOST-.Example.com@r"},
  };
  for (const auto& c : cases) {
    INFO(c.rule << "  on  " << c.address);
    auto cnf = with_rules(c.rule + "\nr $U%r@x\n");
    auto r = run(cnf, c.address);
    INFO(Catch::Detail::stringify(r.trace));
    REQUIRE(r.ok);
    CHECK(r.address == c.result);
    CHECK(r.channel == "tcp_local");
  }

  SECTION("a missing label fails the rule") {
    auto cnf = with_rules("example.com $*5%r@x\nexample.com $U%fallback@x\n");
    CHECK(run(cnf, "u@example.com").address == "u@fallback");
  }
  SECTION("$W is a fresh unique string each time") {
    auto cnf = with_rules("example.com $W%r@x\n");
    auto a = run(cnf, "u@example.com").address;
    auto b = run(cnf, "u@example.com").address;
    CHECK(a.size() > 4);
    CHECK(a != b);
  }
}

TEST_CASE("general database and mapping lookups", "[rewrite]") {
  FakeLookups lookups;
  lookups.general_db["example.com"] = "mailhub.example.com";
  lookups.mappings[{"INTERNAL_IP", "192.0.2.7"}] = "";  // success, flags removed
  lookups.mappings[{"USERS", "jdoe"}] = "$U+mapped";
  lookups.mappings[{"CHAIN", "mailhub.example.com"}] = "chained";
  auto cnf = with_rules(
      "example.com $U%$($D)@x\n"
      "[] ${INTERNAL_IP,$L}$U%[$L]@tcp_intranet-daemon\n"
      "[] $U%[$L]@x\n"
      "users.test ${USERS,$U}%users.test@x\n"
      "users.test $U%nomatch@x\n"
      "chain.test ${CHAIN,$(example.com)}%r@x\n"
      ". $U%$H$D@x\n");
  auto rw = [&](const std::string& address) {
    RewriteRequest req;
    req.address = address;
    return rewrite_address(cnf, lookups, req);
  };
  CHECK(rw("u@example.com").address == "u@mailhub.example.com");
  auto inside = rw("u@[192.0.2.7]");
  CHECK(inside.channel == "tcp_intranet");
  auto outside = rw("u@[198.51.100.1]");
  CHECK(outside.channel == "tcp_local");
  CHECK(outside.address == "u@[198.51.100.1]");
  // A mapping's result is expanded again as template text.
  CHECK(rw("jdoe@users.test").address == "jdoe+mapped@users.test");
  CHECK(rw("other@users.test").address == "other@nomatch");
  CHECK(rw("u@chain.test").address == "chained@r");
}

TEST_CASE("controls decide whether a rule applies", "[rewrite]") {
  auto cnf = with_rules(
      "e.test $E$U%envelope@x\n"
      "e.test $U%header@x\n"
      "f.test $F$U%forward@x\n"
      "f.test $R$U%backward@x\n"
      "p.test $P$X$U%percent-or-bang@x\n"
      "p.test $A$U%at@x\n"
      "s.test $S$U%route@x\n"
      "s.test $U%not-route@x\n"
      "m.test $U%intranet@x$Mtcp_intranet$Mreprocess\n"
      "m.test $Ntcp_local$U%not-tcp-local@x\n"
      "m.test $U%other@x\n"
      "q.test $Qtcp_intranet$U%dest-intranet@x\n"
      "q.test $Ctcp_intranet$U%dest-not-intranet@x\n"
      "r.test $1M$U%reprocessing@x\n"
      "r.test $1N$U%normal@x\n"
      ". $U%$H$D@x\n");
  CHECK(run(cnf, "u@e.test").address == "u@envelope");
  CHECK(run(cnf, "u@e.test", "l", false).address == "u@header");
  CHECK(run(cnf, "u@f.test", "l", true, true).address == "u@forward");
  CHECK(run(cnf, "u@f.test", "l", true, false).address == "u@backward");
  CHECK(run(cnf, "u%p.test").address == "u@percent-or-bang");
  CHECK(run(cnf, "p.test!u").address == "u@percent-or-bang");
  CHECK(run(cnf, "u@p.test").address == "u@at");
  CHECK(run(cnf, "@s.test:u@a.example").address == "@route:u@a.example");
  CHECK(run(cnf, "u@s.test").address == "u@not-route");

  // $M: any of several names; $N: fail for that name.
  CHECK(run(cnf, "u@m.test", "tcp_intranet").address == "u@intranet");
  CHECK(run(cnf, "u@m.test", "reprocess").address == "u@intranet");
  CHECK(run(cnf, "u@m.test", "l").address == "u@not-tcp-local");
  CHECK(run(cnf, "u@m.test", "tcp_local").address == "u@other");
  // norules on the rewriting channel switches $M/$N checks off.
  CHECK(run(cnf, "u@m.test", "tcp_norules").address == "u@intranet");

  // $C/$Q do not apply to envelope recipients ...
  CHECK(run(cnf, "u@q.test").address == "u@dest-intranet");
  // ... for other addresses they compare with the destination channel.
  RewriteRequest req;
  req.address = "u@q.test";
  req.envelope = false;
  req.destination_channel = "tcp_intranet";
  CHECK(rewrite_address(cnf, NoRewriteLookups{}, req).address == "u@dest-intranet");
  req.destination_channel = "tcp_local";
  CHECK(rewrite_address(cnf, NoRewriteLookups{}, req).address == "u@dest-not-intranet");
  // Without one, the channel the rule's own routing host selects is used.
  req.destination_channel.clear();
  CHECK(rewrite_address(cnf, NoRewriteLookups{}, req).address == "u@dest-not-intranet");

  CHECK(run(cnf, "u@r.test", "reprocess").address == "u@reprocessing");
  CHECK(run(cnf, "u@r.test", "l").address == "u@normal");
}

TEST_CASE("the trace shows every pattern tried", "[rewrite]") {
  auto cnf = parse(kConfig);
  auto r = run(cnf, "user%other.org@example.test");
  REQUIRE(r.ok);
  const std::vector<std::string> expected = {
      "rewriting \"user%other.org@example.test\" from channel l (envelope, forward)",
      "host \"example.test\" (right of @), user \"user%other.org\"",
      "  pattern \"example.test\": rule imta.cnf:1 \"$U%example.test@mail.example.test\" -> "
      "user%other.org@example.test via mail.example.test = channel l",
      "  channel l is local and \"user%other.org\" names another host: dropping example.test",
      "host \"other.org\" (right of %), user \"user\"",
      "  pattern \"other.org\": no rule",
      "  pattern \"*.org\": no rule",
      "  pattern \".org\": no rule",
      "  pattern \"*.*\": no rule",
      "  pattern \".\": rule imta.cnf:9 \"$U%$H$D@tcp_local-daemon\" -> user@other.org via "
      "tcp_local-daemon = channel tcp_local",
      "result: user@other.org on channel tcp_local",
  };
  CHECK(r.trace == expected);
  RewriteRequest quiet;
  quiet.address = "user@example.org";
  CHECK(rewrite_address(cnf, NoRewriteLookups{}, quiet).trace.empty());
}

TEST_CASE("a configuration read back from the image rewrites identically", "[rewrite]") {
  auto cnf = parse(kConfig);
  ImageWriter w;
  write_image(w, cnf);
  ImageReader r(w.bytes());
  auto back = read_imta_cnf(r);
  for (const char* address :
       {"user@example.test", "user%other.org@example.test", "user@[192.0.2.1]", "user",
        "@a.example,@b.example:u@c.example", "user@bad.test", "a!user%b"}) {
    INFO(address);
    auto a = run(cnf, address);
    auto b = run(back, address);
    CHECK(a.ok == b.ok);
    CHECK(a.address == b.address);
    CHECK(a.channel == b.channel);
    CHECK(a.error == b.error);
    CHECK(a.trace == b.trace);
  }
}

TEST_CASE("ten thousand rules: lookups go through the index", "[rewrite]") {
  std::string rules;
  for (int i = 0; i < 10000; ++i)
    rules += "host" + std::to_string(i) + ".example $U%host" + std::to_string(i) + ".example@x\n";
  auto cnf = with_rules(rules + ". $U%$H$D@tcp_intranet-daemon\n");
  for (int i = 0; i < 10000; i += 7) {
    auto r = run(cnf, "u@host" + std::to_string(i) + ".example");
    REQUIRE(r.ok);
    REQUIRE(r.channel == "tcp_local");
    REQUIRE(r.rule->line == i + 1);
  }
  CHECK(run(cnf, "u@elsewhere.example").channel == "tcp_intranet");
}
