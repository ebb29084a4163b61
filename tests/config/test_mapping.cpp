#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/image_io.hpp"
#include "config/mapping.hpp"
#include "config/mapping_engine.hpp"
#include "config/source_lines.hpp"
#include "test_support.hpp"

using namespace imta::config;
using namespace imta::config::testing;

namespace {

Mappings parse(std::string_view text, Diagnostics& d) {
  auto lines = split_source(text, "mappings", mappings_read_options(), d);
  return parse_mappings(lines, d);
}

bool has_message(const Diagnostics& d, const std::string& text) {
  for (const auto& item : d.items())
    if (item.str().find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

// ------------------------------------------------------------------ file format

TEST_CASE("mappings: tables, indented entries, blank lines end a table", "[mapping]") {
  auto m = parse_mappings_ok(
      "! site tables\n"
      "PORT_ACCESS\n"
      "  *|*|*|*|*   $C$|INTERNAL_IP;$3|$Y$E\n"
      "  *           $YEXTERNAL\n"
      "\n"
      "\n"
      "INTERNAL_IP\n"
      "\n"  // the older layout: a blank line right after the name
      "  $(127.0.0.0/8)  $Y\n"
      "\t::1\t\t$Y\n"
      "  ! a comment inside a table does not end it\n"
      "  *               $N\n");
  REQUIRE(m.tables.size() == 2);
  CHECK(m.entry_count() == 5);
  const MappingTable* t = m.find("internal_ip");  // names are case-insensitive
  REQUIRE(t != nullptr);
  CHECK(t->name == "INTERNAL_IP");
  CHECK(t->where.str() == "mappings:7");
  REQUIRE(t->entries.size() == 3);
  CHECK(t->entries[1].pattern == "::1");
  CHECK(t->entries[1].templ == "$Y");
  CHECK(t->entries[2].where.str() == "mappings:12");
  CHECK(m.find("NO_SUCH") == nullptr);
}

TEST_CASE("mappings: quoted spaces stay inside a column; continuation joins lines",
          "[mapping]") {
  auto m = parse_mappings_ok(
      "ORIG_SEND_ACCESS\n"
      "  tcp_local|*|tcp_local|*   $NRelaying$ not$ permitted\n"
      "  a$ b|*   \\\n"
      "      $Ncontinued\n");
  const auto& e = m.find("ORIG_SEND_ACCESS")->entries;
  REQUIRE(e.size() == 2);
  CHECK(e[0].templ == "$NRelaying$ not$ permitted");
  CHECK(e[1].pattern == "a$ b|*");
  CHECK(e[1].templ == "$Ncontinued");
}

TEST_CASE("mappings: every problem is reported with file and line", "[mapping]") {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"  orphan  $Y\n", "mappings:1: entry outside any table"},
      {"T\n  a  $Y\n\n  b  $Y\n", "mappings:4: entry outside any table"},
      {"T\n  a  $Y\n\nt\n  b  $Y\n", "mappings:4: mapping table t is already defined at mappings:1"},
      {"T\n  lonely\n", "mappings:2: entry \"lonely\" has no template"},
      {"T\n  a b c\n", "mappings:2: entry \"a\" has text after its template: \"c\""},
      {"1TABLE\n  a  b\n", "mappings:1: table name \"1TABLE\" must start with a letter"},
      {"T|X\n  a  b\n", "mappings:1: bad character '|' in table name \"T|X\""},
      {"T  foo\n", "mappings:1: text after table name \"T\" (entries must be indented)"},
      {"T\n  $[abc%  $Y\n", "mappings:2: pattern: $[ set without closing ]"},
      {"T\n  $[]%  $Y\n", "mappings:2: pattern: $[ set without closing ]"},
      {"T\n  $[abc]x  $Y\n", "mappings:2: pattern: $[...] must be followed by % or *"},
      {"T\n  $<10.0.0.0/8  $Y\n", "mappings:2: pattern: $<...> subnet without closing >"},
      {"T\n  $(10.0.0.0/33)  $Y\n", "mappings:2: pattern: bad bit count \"33\" in $(...)"},
      {"T\n  $(10.0.0/8)  $Y\n", "mappings:2: pattern: bad IP address \"10.0.0\" in $(...)"},
      {"T\n  ${2001:db8::/129}  $Y\n", "mappings:2: pattern: bad bit count \"129\" in ${...}"},
      {"T\n  $Q*  $Y\n", "mappings:2: pattern: unknown pattern sequence $Q"},
      {"T\n  $d*  $Y\n", "mappings:2: pattern: unknown pattern sequence $d"},
      {"T\n  $D  $Y\n", "mappings:2: pattern: $D must be followed by % or *"},
      {"T\n  *$1*  $Y\n", "mappings:2: pattern: back-match $1* refers to a wildcard not saved"},
      {"T\n  $_abc  $Y\n", "mappings:2: pattern: $_ is not followed by a * wildcard"},
      {"T\n  *  $|OTHER;$0\n", "mappings:2: template: $| without closing |"},
      {"T\n  *  $|OTHER|\n", "mappings:2: template: $|...| call has no ;argument"},
      {"T\n  *  $W\n", "mappings:2: template: unknown template sequence $W"},
      {"T\n  *  $:Q\n", "mappings:2: template: unknown probe flag Q in $:Q"},
      {"T\n  *  $#seq#\n", "mappings:2: template: $#...# (sequence numbers) is not supported"},
      {"T\n  *  ${db,x}\n", "mappings:2: template: ${...} (database lookups) is not supported"},
      {"T\n  *  $|O;$Y|\n", "mappings:2: template: flag $Y cannot be used inside $|...|"},
      {"T\n  *  abc$\n", "mappings:2: template: template ends with a lone $"},
  };
  for (const auto& c : cases) {
    Diagnostics d;
    parse(c.text, d);
    INFO(c.text);
    for (const auto& msg : messages(d)) INFO(msg);
    CHECK(d.error_count() >= 1);
    CHECK(has_message(d, c.message));
  }
}

TEST_CASE("mappings: length limits", "[mapping]") {
  Diagnostics d;
  std::string long_text(kMaxMappingText + 1, 'a');
  parse("T\n  " + long_text + "  $Y\n  a  " + long_text + "\n", d);
  CHECK(has_message(d, "mappings:2: pattern longer than 1024 characters"));
  CHECK(has_message(d, "mappings:3: template longer than 1024 characters"));
  Diagnostics ok;
  parse("T\n  " + std::string(kMaxMappingText, 'a') + "  $Y\n", ok);
  CHECK(ok.error_count() == 0);
}

TEST_CASE("mappings: all errors of one file come out in one run", "[mapping]") {
  Diagnostics d;
  auto m = parse(
      "T\n"
      "  $[x  $Y\n"
      "  good  $Y\n"
      "  *  $W$|X\n",
      d);
  CHECK(d.error_count() == 3);  // the $[, the $W and the unclosed $|
  CHECK(has_message(d, "mappings:2:"));
  CHECK(has_message(d, "mappings:4: template: unknown template sequence $W"));
  CHECK(has_message(d, "mappings:4: template: $| without closing |"));
  REQUIRE(m.find("T") != nullptr);
  CHECK(m.find("T")->entries.size() == 1);  // only the good entry is kept
}

TEST_CASE("mappings: warnings for calls to missing tables, unset wildcards, empty tables",
          "[mapping]") {
  Diagnostics d;
  parse(
      "T\n"
      "  *|*  $|MISSING;$0|$Y\n"
      "  *    $|$0;x|$Y\n"  // a computed table name cannot be checked
      "  *@*  $2\n"
      "\n"
      "EMPTY\n",
      d);
  CHECK(d.error_count() == 0);
  CHECK(has_message(
      d, "mappings:2: warning: $|MISSING;...| calls mapping table MISSING, which is not defined"));
  CHECK(has_message(d, "mappings:4: warning: template: $2 is never set: the pattern saves 2 "
                       "wildcards"));
  CHECK(has_message(d, "mappings:6: warning: mapping table EMPTY has no entries"));
  CHECK(d.warning_count() == 3);
}

// ------------------------------------------------------------------ patterns

TEST_CASE("mapping patterns: wildcards, classes, subnets, quoting", "[mapping]") {
  using Caps = std::vector<std::string>;
  struct Case {
    const char* pattern;
    const char* subject;
    std::optional<Caps> expected;
  };
  const Case cases[] = {
      {"*", "abc", Caps{"abc"}},
      {"*", "", Caps{""}},
      {"a*c", "ABC", Caps{"B"}},  // case-blind, values keep their case
      {"abc", "abd", std::nullopt},
      {"abc", "abcd", std::nullopt},  // the whole subject must match
      {"*@*", "a@b@c", Caps{"a@b", "c"}},     // greedy
      {"$_*@*", "a@b@c", Caps{"a", "b@c"}},   // $_ makes the next * lazy
      {"%%%", "abc", Caps{"a", "b", "c"}},
      {"%%", "abc", std::nullopt},
      {"$@*@$^*", "user@host", Caps{"host"}},  // $@ stops saving, $^ resumes
      {"$D*", "12345", Caps{"12345"}},
      {"$D*", "12a45", std::nullopt},
      {"$A%$D%", "x5", Caps{"x", "5"}},
      {"$H*", "DEADbeef09", Caps{"DEADbeef09"}},
      {"$X*", "fg", std::nullopt},
      {"$O*", "0717", Caps{"0717"}},
      {"$O*", "18", std::nullopt},
      {"$B*", "0110", Caps{"0110"}},
      {"$B*", "012", std::nullopt},
      {"$S*", "a_B$9", Caps{"a_B$9"}},
      {"$S*", "a-b", std::nullopt},
      {"$T*x", " \t x", Caps{" \t ", }},
      {"$[abc]*", "CabBA", Caps{"CabBA"}},
      {"$[a-c]%", "B", Caps{"B"}},
      {"$[a-c]%", "d", std::nullopt},
      {"$[^a-c]%", "d", Caps{"d"}},
      {"$[^a-c]%", "A", std::nullopt},
      {"$[^a-c]*@*", "xyz@b", Caps{"xyz", "b"}},
      {"$(192.168.0.0/16)", "192.168.5.4", Caps{"192.168.5.4"}},
      {"$(192.168.0.0/16)", "192.169.0.1", std::nullopt},
      {"$(192.168.0.0/16)", "192.168.1", std::nullopt},  // not a whole address
      {"$(10.0.0.0/8)|*", "10.1.2.3|x", Caps{"10.1.2.3", "x"}},
      {"$(1.2.3.4)", "1.2.3.4", Caps{"1.2.3.4"}},   // no bit count: exactly this address
      {"$(1.2.3.4)", "1.2.3.5", std::nullopt},
      {"$(1.2.3.4)", "1.2.3.45", std::nullopt},
      {"$<123.45.67.4/2>", "123.45.67.7", Caps{"123.45.67.7"}},  // /2 = ignore two bits
      {"$<123.45.67.4/2>", "123.45.67.8", std::nullopt},
      {"$<123.45.67.0/8>", "123.45.67.200", Caps{"123.45.67.200"}},
      {"$<123.45.67.0/8>", "123.45.68.1", std::nullopt},
      {"${2001:db8::/32}", "2001:DB8:1::5", Caps{"2001:DB8:1::5"}},
      {"${2001:db8::/32}", "2001:db9::1", std::nullopt},
      {"$(2001:db8::/32)", "2001:db8::1", Caps{"2001:db8::1"}},
      {"$<2001:db8::/96>", "2001:db8::ffff:1", Caps{"2001:db8::ffff:1"}},
      {"$(127.0.0.0/8)", "::ffff:127.0.0.1", Caps{"::ffff:127.0.0.1"}},  // v4-mapped
      {"$(127.0.0.0/8)", "::1", std::nullopt},
      {"${::1}", "::1", Caps{"::1"}},
      {"$*$%$ $$$|", "*% $|", Caps{}},
      {"$*", "x", std::nullopt},
      {"*-$0*", "ab-AB", Caps{"ab"}},  // back-match, case-blind
      {"*-$0*", "ab-ac", std::nullopt},
  };
  for (const auto& c : cases) {
    INFO("pattern " << c.pattern << " subject \"" << c.subject << "\"");
    std::string error;
    auto got = match_pattern(c.pattern, c.subject, &error);
    CHECK(error.empty());
    CHECK(got == c.expected);
  }
}

TEST_CASE("mapping patterns: an invalid pattern explains itself", "[mapping]") {
  std::string error;
  CHECK_FALSE(match_pattern("$[abc", "a", &error));
  CHECK(error == "pattern: $[ set without closing ]");
  CHECK_FALSE(match_pattern("a$", "a", &error));
  CHECK(error == "pattern: pattern ends with a lone $");
}

// Backtracking patterns must finish (speed is measured by tests/bench, not here).
TEST_CASE("mapping patterns: many stars against a long probe give the right answer", "[mapping]") {
  std::string subject(300, 'a');
  CHECK_FALSE(match_pattern("*a*a*a*a*a*a*a*a*b", subject));
  CHECK(match_pattern("*a*a*a*a*a*a*a*a*", subject));
}

// ------------------------------------------------------------------ templates and flow

TEST_CASE("mapping templates: substitutions, case, calls", "[mapping]") {
  auto m = parse_mappings_ok(
      "REWRITE\n"
      "  *@*.example.com   $0@$\\$1$_.EXAMPLE.ORG$Y\n"
      "  *@*               $^$0$_@$1$ (upper)$Y\n"
      "\n"
      "OUTER\n"
      "  *   [$|INNER;$0|]$Y\n"
      "\n"
      "inner\n"
      "  x*  got-$0$Y\n");
  auto r = apply_mapping(m, "REWRITE", "Joe@Mail.Example.com");
  CHECK(r.matched);
  CHECK(r.output == "Joe@mail.EXAMPLE.ORG");
  CHECK(apply_mapping(m, "rewrite", "joe@y.net").output == "JOE@y.net (upper)");
  auto call = apply_mapping(m, "OUTER", "xyz");
  CHECK(call.matched);
  CHECK(call.output == "[got-yz]");
  CHECK_FALSE(apply_mapping(m, "OUTER", "abc").matched);  // INNER fails, so the entry fails
}

TEST_CASE("mapping flow: $C continues with the next entry, $R restarts, $L makes one more pass",
          "[mapping]") {
  auto m = parse_mappings_ok(
      "CHAIN\n"
      "  a*   b$0$C\n"
      "  b*   c$0$C\n"
      "  x*   never\n"
      "  c*   done-$0\n"
      "\n"
      "TAIL\n"
      "  a    b$C\n"
      "\n"
      "RESTART\n"
      "  z*   $0$E\n"
      "  *    z$0$R\n"
      "\n"
      "LOOP\n"
      "  *    $0$R\n"
      "\n"
      "PASS\n"
      "  b    c$E\n"
      "  a    b$L\n");
  CHECK(apply_mapping(m, "CHAIN", "ax").output == "done-x");
  auto tail = apply_mapping(m, "TAIL", "a");
  CHECK(tail.matched);  // the table ran out after a $C: the last output stands
  CHECK(tail.output == "b");
  CHECK(apply_mapping(m, "RESTART", "q").output == "q");
  auto loop = apply_mapping(m, "LOOP", "x");
  CHECK_FALSE(loop.matched);
  CHECK(loop.error.find("mapping loop") == 0);
  CHECK(apply_mapping(m, "PASS", "a").output == "c");
}

TEST_CASE("mapping flow: a failed test or call fails the mapping unless $C came first",
          "[mapping]") {
  auto m = parse_mappings_ok(
      "AUTH_ONLY\n"
      "  *   $:A$Yauthenticated\n"
      "  *   $Ynever-reached\n"
      "\n"
      "AUTH_CHECK\n"
      "  *   $C$:A$Yauthenticated$E\n"
      "  *   $Nnot$ authenticated\n"
      "\n"
      "CLEAR_TESTS\n"
      "  *   $C$;T$;E$;L$;S$;F$;D$Yplain$E\n"
      "  *   $Yfancy\n");
  ProbeFlags auth;
  auth.auth = true;
  CHECK(apply_mapping(m, "AUTH_ONLY", "x", auth).output == "authenticated");
  CHECK_FALSE(apply_mapping(m, "AUTH_ONLY", "x").matched);

  auto yes = apply_mapping(m, "AUTH_CHECK", "x", auth);
  CHECK(yes.allow);
  CHECK(yes.output == "authenticated");
  auto no = apply_mapping(m, "AUTH_CHECK", "x");
  CHECK(no.reject);
  CHECK(no.reject_text == "not authenticated");

  CHECK(apply_mapping(m, "CLEAR_TESTS", "x").output == "plain");
  for (int i = 0; i < 6; ++i) {
    ProbeFlags f;
    bool* fields[] = {&f.tls, &f.esmtp, &f.lmtp, &f.notify_success, &f.notify_failure,
                      &f.notify_delay};
    *fields[i] = true;
    CHECK(apply_mapping(m, "CLEAR_TESTS", "x", f).output == "fancy");
  }
}

TEST_CASE("mapping: the classic PORT_ACCESS / INTERNAL_IP idiom", "[mapping]") {
  auto m = parse_mappings_ok(
      "PORT_ACCESS\n"
      "  *|*|*|*|*   $C$|INTERNAL_IP;$3|$Y$E\n"
      "  *           $YEXTERNAL\n"
      "\n"
      "INTERNAL_IP\n"
      "  $(127.0.0.0/8)  $Y\n"
      "  ::1             $Y\n"
      "  *               $N\n");
  auto internal = apply_mapping(m, "PORT_ACCESS", "TCP|127.0.0.1|2525|127.0.0.1|4000");
  CHECK(internal.matched);
  CHECK(internal.allow);
  CHECK(internal.output.empty());
  CHECK(internal.entry->str() == "mappings:2");
  auto v6 = apply_mapping(m, "PORT_ACCESS", "TCP|::1|2525|::1|4000");
  CHECK(v6.allow);
  CHECK(v6.output.empty());
  auto external = apply_mapping(m, "PORT_ACCESS", "TCP|127.0.0.1|2525|192.0.2.7|4000");
  CHECK(external.matched);
  CHECK(external.allow);
  CHECK(external.output == "EXTERNAL");
  CHECK(external.entry->str() == "mappings:3");
}

TEST_CASE("mapping: access flags and their arguments in the fixed order", "[mapping]") {
  auto m = parse_mappings_ok(
      "DELAY\n"
      "  *   $N$D30|Relaying$ not$ allowed\n"
      "\n"
      "ALL\n"
      "  *   $Y$D$<$U$J$K$I$>5|new@x|snd@y|alice|staff|seen$ $0|refused|-20|rest|more\n"
      "\n"
      "MISC\n"
      "  b   $B\n"
      "  h   $H\n"
      "  v   $V\n"
      "  z   $Z\n"
      "  n   $!$Y\n"
      "  f   $Fgo$ away\n"
      "  yn  $Y$Nboth\n"
      "  bad* $D$0\n");
  auto d = apply_mapping(m, "DELAY", "x");
  CHECK(d.reject);
  CHECK_FALSE(d.allow);
  CHECK(d.delay == 30);
  CHECK(d.reject_text == "Relaying not allowed");
  CHECK(d.output.empty());
  CHECK(d.flags_string() == "$N$D30|Relaying not allowed");

  auto a = apply_mapping(m, "ALL", "probe");
  CHECK(a.allow);
  CHECK(a.debug == 5);
  CHECK(a.new_from == "new@x");
  CHECK(a.sender == "snd@y");
  CHECK(a.group == "alice|staff");
  CHECK(a.syslog_match == "seen probe");
  CHECK(a.syslog_refuse == "refused");
  CHECK(a.delay == -20);
  CHECK(a.output == "rest|more");
  CHECK(a.flags_string() == "$Y$U$J$K$I$<$>$D5|new@x|snd@y|alice|staff|seen probe|refused|-20");

  CHECK(apply_mapping(m, "MISC", "b").bitbucket);
  CHECK(apply_mapping(m, "MISC", "h").hold);
  CHECK(apply_mapping(m, "MISC", "v").discard);
  CHECK(apply_mapping(m, "MISC", "z").discard);
  auto n = apply_mapping(m, "MISC", "n");
  CHECK(n.novacation);
  CHECK(n.flags_string() == "$Y$!");
  auto f = apply_mapping(m, "MISC", "f");
  CHECK(f.reject);
  CHECK(f.reject_text == "go away");
  auto yn = apply_mapping(m, "MISC", "yn");
  CHECK(yn.reject);  // rejection wins
  CHECK_FALSE(yn.allow);
  auto bad = apply_mapping(m, "MISC", "badx");
  CHECK_FALSE(bad.matched);
  CHECK(bad.error == "$D needs a number, got \"x\"");
  CHECK(apply_mapping(m, "MISC", "other").flags_string().empty());
}

TEST_CASE("mapping: calls need $Y from the called table; missing tables and recursion",
          "[mapping]") {
  auto m = parse_mappings_ok(
      "NOFLAG\n"
      "  *   $|PLAIN;$0|$Y\n"
      "\n"
      "PLAIN\n"
      "  *   text\n"
      "\n"
      "SELF\n"
      "  *   $|SELF;$0|$Y\n"
      "\n"
      "GHOST\n"
      "  *   $C$|NOWHERE;$0|$Y$E\n"
      "  *   $Yfallback\n");
  CHECK_FALSE(apply_mapping(m, "NOFLAG", "x").matched);
  auto self = apply_mapping(m, "SELF", "x");
  CHECK_FALSE(self.matched);
  CHECK(self.error == "mapping calls nested deeper than 10");
  CHECK(apply_mapping(m, "GHOST", "x").output == "fallback");
  auto none = apply_mapping(m, "ABSENT", "x");
  CHECK_FALSE(none.matched);
  CHECK(none.error == "no such mapping table \"ABSENT\"");
  CHECK_FALSE(apply_mapping(m, "PLAIN", "").output.empty());
}

TEST_CASE("mapping: debug trace names each entry tried", "[mapping]") {
  auto m = parse_mappings_ok(
      "PORT_ACCESS\n"
      "  *|*|*|*|*   $C$|INTERNAL_IP;$3|$Y$E\n"
      "  *           $YEXTERNAL\n"
      "\n"
      "INTERNAL_IP\n"
      "  127.0.0.1  $Y\n"
      "  *          $N\n");
  auto r = apply_mapping(m, "PORT_ACCESS", "TCP|1.2.3.4|25|5.6.7.8|99", {}, true);
  REQUIRE(r.trace.size() >= 5);
  std::string all;
  for (const auto& line : r.trace) all += line + "\n";
  INFO(all);
  CHECK(all.find("call INTERNAL_IP with \"5.6.7.8\"") != std::string::npos);
  CHECK(all.find("mappings:6: \"127.0.0.1\" no match") != std::string::npos);
  CHECK(all.find("trying the next entry") != std::string::npos);
  CHECK(all.find("mappings:3: \"*\" matched, output \"EXTERNAL\" $Y") != std::string::npos);
  CHECK(apply_mapping(m, "PORT_ACCESS", "x").trace.empty());  // no debug, no trace
}

TEST_CASE("mapping: hand-built entries work without parse_mappings", "[mapping]") {
  Mappings m;
  m.tables.push_back(MappingTable{"T", {MappingEntry{"*@*", "$1$Y", {"x", 1}, nullptr}}, {"x", 1}});
  auto r = apply_mapping(m, "t", "a@b");
  CHECK(r.allow);
  CHECK(r.output == "b");
}

// ------------------------------------------------------------------ image

TEST_CASE("mapping: tables survive the compiled image", "[mapping]") {
  auto m = parse_mappings_ok(
      "PORT_ACCESS\n"
      "  *|*|*|*|*   $C$|INTERNAL_IP;$3|$Y$E\n"
      "  *           $YEXTERNAL\n"
      "\n"
      "INTERNAL_IP\n"
      "  $(10.0.0.0/8)   $Y\n"
      "  *               $N\n"
      "\n"
      "ORIG_SEND_ACCESS\n"
      "  tcp_local|*|tcp_local|*   $N$D10|Relaying$ not$ permitted\n");
  ImageWriter w;
  write_image(w, m);
  ImageReader r(w.bytes());
  Mappings back = read_mappings(r);
  CHECK(r.at_end());
  REQUIRE(back.tables.size() == m.tables.size());
  CHECK(back.find("INTERNAL_IP")->entries[0].where.str() == "mappings:6");
  struct Probe {
    const char* table;
    const char* probe;
  };
  const Probe probes[] = {
      {"PORT_ACCESS", "TCP|10.0.0.1|25|10.9.8.7|1234"},
      {"PORT_ACCESS", "TCP|10.0.0.1|25|11.9.8.7|1234"},
      {"ORIG_SEND_ACCESS", "tcp_local|a@x|tcp_local|b@y"},
      {"ORIG_SEND_ACCESS", "tcp_intranet|a@x|tcp_local|b@y"},
  };
  for (const auto& p : probes) {
    auto a = apply_mapping(m, p.table, p.probe);
    auto b = apply_mapping(back, p.table, p.probe);
    INFO(p.probe);
    CHECK(a.matched == b.matched);
    CHECK(a.output == b.output);
    CHECK(a.flags_string() == b.flags_string());
    CHECK(a.entry.has_value() == b.entry.has_value());
    if (a.entry && b.entry) CHECK(a.entry->str() == b.entry->str());
  }
  std::string cut = w.bytes().substr(0, w.bytes().size() - 3);
  ImageReader truncated(cut);
  CHECK_THROWS_AS(read_mappings(truncated), ImageError);
}

TEST_CASE("mapping: every kind of pattern and template works the same read back from the image",
          "[mapping]") {
  // The image holds each entry's prepared form; reading it back must give
  // entries that match, save, call and flag exactly like the compiled ones.
  auto m = parse_mappings_ok(
      "T\n"
      "  a$_*b*c             $Y$0+$1\n"
      "  $@x*$^y*            $Y$0\n"
      "  s$[a-c]%$[^0-9]*    $Y$\\$0$^$1$_\n"
      "  $D*-$A%-$0*         $Y$0$1\n"
      "  ip$(10.0.0.0/8)     $Y$0\n"
      "  ip${2001:db8::/32}  $Y$0\n"
      "  ip$<192.168.0.0/16> $Y$0\n"
      "  call|*              $|SUB;$0|$Y\n"
      "  flags|*             $:A$N$D10|$0$ denied\n"
      "  flags2|*            $;T$Y$U$J$K5|$0|$0|rest\n"
      "  loop|*              $Cloop2|$0\n"
      "  loop2|*             $Y$0\n"
      "  *                   $N\n"
      "\n"
      "SUB\n"
      "  %*  $Y$1$0\n");
  Mappings back = read_back(m, read_mappings);
  ImageWriter original, again;
  write_image(original, m);
  write_image(again, back);
  CHECK(again.bytes() == original.bytes());  // nothing lost or changed

  const char* probes[] = {
      "axxbyyc", "axbyc", "xab", "xyz", "sb7", "sbq", "42-q-42", "42-q-43", "ip10.1.2.3",
      "ip11.1.2.3", "ip2001:db8::5", "ip2001:db9::5", "ip192.168.7.7", "ip192.169.7.7",
      "call|hello", "flags|x", "flags2|x", "loop|y", "anything"};
  ProbeFlags auth;
  auth.auth = true;
  for (const char* probe : probes) {
    for (const ProbeFlags& flags : {ProbeFlags{}, auth}) {
      INFO(probe << (flags.auth ? " with auth" : ""));
      auto a = apply_mapping(m, "T", probe, flags, true);
      auto b = apply_mapping(back, "T", probe, flags, true);
      CHECK(a.matched == b.matched);
      CHECK(a.output == b.output);
      CHECK(a.reject_text == b.reject_text);
      CHECK(a.flags_string() == b.flags_string());
      CHECK(a.error == b.error);
      CHECK(a.trace == b.trace);
    }
  }
}

TEST_CASE("mapping: entries from several files keep their file and line through the image",
          "[mapping]") {
  // The image names each file once and locations refer to it by number.
  Diagnostics d;
  auto lines = split_source("T\n  a  $Y\n<more\n  c  $Y\n<more\n", "/etc/imta/mappings",
                            mappings_read_options(), d,
                            [](const std::filesystem::path&) -> std::optional<std::string> {
                              return "  b  $Y\n";
                            });
  auto m = parse_mappings(lines, d);
  REQUIRE(d.error_count() == 0);
  Mappings back = read_back(m, read_mappings);
  std::vector<std::string> where;
  for (const auto& e : back.tables.at(0).entries) where.push_back(e.where.str());
  CHECK(where == std::vector<std::string>{"/etc/imta/mappings:2", "/etc/imta/more:1",
                                          "/etc/imta/mappings:4", "/etc/imta/more:1"});
  CHECK(back.tables.at(0).where.str() == "/etc/imta/mappings:1");
}

TEST_CASE("mapping: an entry whose prepared form is damaged is refused, naming it", "[mapping]") {
  auto m = parse_mappings_ok("T\n  x  $Y\n  %  $Y\n");
  ImageWriter w;
  write_image(w, m);
  // The image ends with the prepared form of `%`: the number of wildcards
  // the pattern saves (1), its one step, which saves wildcard 0, and the
  // template. Claiming that the pattern saves none makes the step's wildcard
  // number out of range, which the matcher must never see.
  std::string bytes = w.bytes();
  const std::size_t prepared = 4 + 4 + 1 + 1 + 4 + 4 + 1 + 1 + 4;
  REQUIRE(bytes.size() > prepared);
  REQUIRE(bytes[bytes.size() - prepared] == 1);
  bytes[bytes.size() - prepared] = 0;
  ImageReader r(bytes);
  CHECK_THROWS_WITH(read_mappings(r),
                    "corrupt configuration image (bad mapping entry at mappings:3)");
}

TEST_CASE("mapping: ten thousand entries, first match wins", "[mapping]") {
  std::string text = "BIG\n";
  for (int i = 0; i < 10000; ++i) {
    if (i % 2)
      text += "  user" + std::to_string(i) + "@example" + std::to_string(i) + ".com  $N\n";
    else
      text += "  *@host" + std::to_string(i) + ".example.net  $N\n";
  }
  text += "  *  $Ydefault\n";
  auto m = parse_mappings_ok(text);
  constexpr int kProbes = 200;
  int allowed = 0;
  for (int i = 0; i < kProbes; ++i) {
    auto r = apply_mapping(m, "BIG", "someone" + std::to_string(i) + "@example5.com");
    allowed += r.allow ? 1 : 0;
  }
  CHECK(allowed == kProbes);
  CHECK(apply_mapping(m, "BIG", "user9999@EXAMPLE9999.com").reject);
  CHECK(apply_mapping(m, "BIG", "x@host42.example.net").reject);
}
