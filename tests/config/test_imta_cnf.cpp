#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <sstream>

#include "config/channel_keywords.hpp"
#include "config/imta_cnf.hpp"
#include "config/source_lines.hpp"
#include "core/text.hpp"
#include "test_support.hpp"

using namespace imta::config;
using namespace imta::config::testing;

namespace {

ImtaCnf parse(std::string_view text, Diagnostics& diags) {
  auto lines = split_source(text, "imta.cnf", ReadOptions{}, diags);
  return parse_imta_cnf(lines, diags);
}

bool has_message(const Diagnostics& diags, const std::string& text) {
  auto all = messages(diags);
  return std::find(all.begin(), all.end(), text) != all.end();
}

std::vector<std::uint32_t> numbers(std::span<const std::uint32_t> rules) {
  return {rules.begin(), rules.end()};
}

// The shape of the default configuration: rules, defaults, l, tcp_local.
const char* kSample =
    "! Rewrite rules\n"                                                          // 1
    "example.test            $U%example.test@mail.example.test\n"                // 2
    "[]                      $U%[$L]@tcp_local-daemon\n"                         // 3
    ".                       $U%$H$D@tcp_local-daemon\n"                         // 4
    "\n"                                                                         // 5
    "defaults logging notices 1 2 4 7 copywarnpost copysendpost postheadonly\n"  // 6
    "\n"                                                                         // 7
    "l maxjobs 4 pool LOCAL_POOL\n"                                              // 8
    "mail.example.test example.test\n"                                           // 9
    "\n"                                                                         // 10
    "tcp_local smtp mx single_sys remotehost switchchannel maxjobs 7 pool SMTP_POOL "
    "maytlsserver maysaslserver saslswitchchannel tcp_auth\n"                    // 11
    "tcp_local-daemon\n"                                                         // 12
    "\n"                                                                         // 13
    "\n"                                                                         // 14
    "tcp_auth smtp backoff \"pt5m\" \"PT1H\" \"p1d\" returnpersonal \"Mail System\"\n"  // 15
    "tcp_auth-daemon\n"                                                          // 16
    "auth.example.test\n";                                                       // 17

// A valid head to which each error case adds its lines: rules end at line 2,
// l is lines 3-4, the case's own lines start at line 6.
const char* kHead =
    ".  $U%$H@tcp_local-daemon\n"  // 1
    "\n"                            // 2
    "l\n"                           // 3
    "mail.example.test\n"           // 4
    "\n"                            // 5
    ;

}  // namespace

TEST_CASE("the sample configuration parses without problems", "[imta_cnf]") {
  Diagnostics diags;
  auto cnf = parse(kSample, diags);
  INFO(Catch::Detail::stringify(messages(diags)));
  REQUIRE(diags.items().empty());

  REQUIRE(cnf.rules.size() == 3);
  CHECK(cnf.rules[1].pattern == "[]");
  CHECK(cnf.rules[1].templ == "$U%[$L]@tcp_local-daemon");
  CHECK(cnf.rules[1].where.str() == "imta.cnf:3");

  REQUIRE(cnf.channels.size() == 3);
  const auto& l = cnf.channels[0];
  CHECK(l.name == "l");
  CHECK(l.hosts == std::vector<std::string>{"mail.example.test", "example.test"});
  CHECK(l.official_host() == "mail.example.test");
  CHECK(l.where.str() == "imta.cnf:8");
  // Defaults apply to every block that follows them.
  CHECK(l.has("logging"));
  REQUIRE(l.keyword("notices"));
  CHECK(l.keyword("notices")->args == std::vector<std::string>{"1", "2", "4", "7"});
  CHECK(l.keyword("notices")->where.str() == "imta.cnf:6");
  CHECK(l.keyword("maxjobs")->args == std::vector<std::string>{"4"});
  CHECK(l.keyword("pool")->args == std::vector<std::string>{"LOCAL_POOL"});
  CHECK_FALSE(l.has("smtp"));

  const auto* tcp = cnf.find_channel("tcp_local");
  REQUIRE(tcp);
  CHECK(tcp->keyword("maxjobs")->args == std::vector<std::string>{"7"});
  CHECK(tcp->keyword("saslswitchchannel")->args == std::vector<std::string>{"tcp_auth"});
  CHECK(tcp->family("copies")->name == "single_sys");
  CHECK(tcp->family("logging")->name == "logging");
  CHECK(tcp->family("tls") == nullptr);
  CHECK(tcp->family("tlsserver")->name == "maytlsserver");

  // Several blank lines between blocks are fine; quotes are removed.
  const auto* auth = cnf.find_channel("tcp_auth");
  REQUIRE(auth);
  CHECK(auth->keyword("backoff")->args == std::vector<std::string>{"pt5m", "PT1H", "p1d"});
  CHECK(auth->keyword("returnpersonal")->args == std::vector<std::string>{"Mail System"});
  CHECK(auth->hosts == std::vector<std::string>{"tcp_auth-daemon", "auth.example.test"});

  // Host names find their channel case-insensitively, official or not.
  CHECK(cnf.channel_for_host("EXAMPLE.test") == &cnf.channels[0]);
  CHECK(cnf.channel_for_host("Tcp_Local-Daemon") == tcp);
  CHECK(cnf.channel_for_host("auth.example.test") == auth);
  CHECK(cnf.channel_for_host("nowhere.test") == nullptr);
  CHECK(cnf.find_channel("nosuch") == nullptr);
  CHECK(numbers(cnf.rules_for("example.test")) == std::vector<std::uint32_t>{0});
  CHECK(cnf.rules_for("example.org").empty());

  Diagnostics tags;
  check_rule_tags(cnf, tags);
  CHECK(tags.items().empty());
}

TEST_CASE("the shipped default imta.cnf parses and its rules name real channels", "[imta_cnf]") {
  auto text = source_text("config/defaults/imta.cnf");
  REQUIRE_FALSE(text.empty());
  text = fill_placeholders(text);
  Diagnostics diags;
  auto cnf = parse(text, diags);
  check_rule_tags(cnf, diags);
  INFO(Catch::Detail::stringify(messages(diags)));
  CHECK(diags.items().empty());
  REQUIRE_FALSE(cnf.channels.empty());
  CHECK(cnf.channels[0].name == "l");
}

TEST_CASE("every problem is reported with file and line", "[imta_cnf]") {
  struct Case {
    std::string tail;      // lines appended after kHead (they start at line 6)
    std::string expected;  // one of the diagnostics
  };
  const std::vector<Case> cases = {
      {"tcp_local smtp maxjob 4\ntcp_local-daemon\n",
       "imta.cnf:6: unknown channel keyword \"maxjob\"; did you mean \"maxjobs\"?"},
      {"tcp_local smtp maytlsservre\ntcp_local-daemon\n",
       "imta.cnf:6: unknown channel keyword \"maytlsservre\"; did you mean \"maytlsserver\"?"},
      {"tcp_local smtp pol SMTP_POOL 4 logingg\ntcp_local-daemon\n",
       "imta.cnf:6: unknown channel keyword \"logingg\"; did you mean \"logging\"?"},
      {"tcp_local smtp frobnicate\ntcp_local-daemon\n",
       "imta.cnf:6: unknown channel keyword \"frobnicate\""},
      {"tcp_local maxjobs x\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"maxjobs\": \"x\" is not an integer"},
      {"tcp_local maxjobs\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"maxjobs\" needs an integer of at least 1"},
      {"tcp_local maxjobs smtp\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"maxjobs\" needs an integer of at least 1"},
      {"tcp_local maxjobs 0\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"maxjobs\": \"0\" is out of range (an integer of at least 1)"},
      {"tcp_local port 70000\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"port\": \"70000\" is out of range (an integer from 1 to 65535)"},
      {"tcp_local maxjobs 4 5\ntcp_local-daemon\n",
       "imta.cnf:6: extra argument \"5\" after keyword \"maxjobs\" (it takes an integer of at "
       "least 1)"},
      {"tcp_local logging 5\ntcp_local-daemon\n",
       "imta.cnf:6: extra argument \"5\" after keyword \"logging\" (it takes no argument)"},
      {"tcp_local backoff \"5m\"\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"backoff\": \"5m\" is not an ISO 8601 duration (e.g. \"pt10m\", "
       "\"p1d\")"},
      {"tcp_local backoff\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"backoff\" needs one or more ISO 8601 durations such as \"pt10m\""},
      {"tcp_local notices 1 4 2\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"notices\": values must be ascending (\"2\" follows 4)"},
      {"tcp_local notices 0 3\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"notices\": \"0\" is not a positive integer"},
      {"tcp_local daemon bad/host\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"daemon\": \"bad/host\" is not a valid host name"},
      {"tcp_local saslswitchchannel TCP_AUTH\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"saslswitchchannel\": \"TCP_AUTH\" is not a valid channel name"},
      {"tcp_local smtp\ntcp_local-daemon\n\ntcp_local smtp\ntcp_local-daemon\n",
       "imta.cnf:9: duplicate channel tcp_local (first defined at imta.cnf:6)"},
      {"tcp_local smtp\n",
       "imta.cnf:6: no official host name for channel tcp_local (the line after the channel "
       "line names it)"},
      {"TCP_local smtp\ntcp_local-daemon\n",
       "imta.cnf:6: invalid channel name \"TCP_local\" (up to 32 characters: lower case letters, "
       "digits, _ $ -)"},
      {"tcp.local smtp\ntcp_local-daemon\n",
       "imta.cnf:6: invalid channel name \"tcp.local\" (up to 32 characters: lower case letters, "
       "digits, _ $ -)"},
      {std::string(33, 'a') + "\nhost.test\n",
       "imta.cnf:6: invalid channel name \"" + std::string(33, 'a') +
           "\" (up to 32 characters: lower case letters, digits, _ $ -)"},
      // A rule written after the first blank line is read as a channel block.
      {"example.com $U@tcp_local-daemon\n",
       "imta.cnf:6: invalid channel name \"example.com\" (up to 32 characters: lower case "
       "letters, digits, _ $ -); rewrite rules must come before the first blank line"},
      {"foo $U@tcp_local-daemon\n",
       "imta.cnf:6: unknown channel keyword \"$U@tcp_local-daemon\" (rewrite rules must come "
       "before the first blank line)"},
      {"tcp_local smtp\ntcp_local-daemon a.test b.test\n",
       "imta.cnf:7: unexpected text \"b.test\" after host names of channel tcp_local (at most "
       "two names per line)"},
      {"tcp_local smtp\ntcp_local-daemon\nbad/host\n",
       "imta.cnf:8: invalid host name \"bad/host\" for channel tcp_local"},
      {"tcp_local logging nologging\ntcp_local-daemon\n",
       "imta.cnf:6: warning: keywords \"logging\" and \"nologging\" conflict for channel "
       "tcp_local; \"nologging\" wins"},
      {"tcp_local maxjobs 2 maxjobs 3\ntcp_local-daemon\n",
       "imta.cnf:6: warning: keyword \"maxjobs\" given twice for channel tcp_local; the last "
       "one counts"},
      {"defaults logging\nmail.example.test\n",
       "imta.cnf:7: a defaults block has no host names (is a blank line missing after it?)"},
      {"nodefaults logging\n", "imta.cnf:6: nodefaults takes no keywords"},
      {"tcp_local smtp saslswitchchannel tcp_auth\ntcp_local-daemon\n",
       "imta.cnf:6: keyword \"saslswitchchannel\" of channel tcp_local names channel "
       "tcp_auth, which is not defined"},
      {"tcp_local smtp\ntcp_local-daemon\nmail.example.test\n",
       "imta.cnf:8: warning: host name mail.example.test already belongs to channel l; "
       "rewriting uses that channel"},
  };
  for (const auto& c : cases) {
    Diagnostics diags;
    parse(std::string(kHead) + c.tail, diags);
    INFO("input tail:\n" << c.tail);
    INFO(Catch::Detail::stringify(messages(diags)));
    CHECK(has_message(diags, c.expected));
  }
}

TEST_CASE("rewrite rule problems are reported with their line", "[imta_cnf]") {
  struct Case {
    std::string rule;
    std::string expected;  // the diagnostic for line 1
  };
  const std::vector<Case> cases = {
      {"example.test", "imta.cnf:1: rewrite rule for pattern \"example.test\" has no template"},
      {"example.test $U@x extra",
       "imta.cnf:1: unexpected text \"extra\" after the template of rule \"example.test\" (a "
       "rule is \"pattern template\", neither may contain blanks)"},
      {"example.test $U$Z@x", "imta.cnf:1: template \"$U$Z@x\": unknown sequence \"$Z\""},
      {"example.test $U@x$", "imta.cnf:1: template \"$U@x$\": \"$\" at the end of the template"},
      {"example.test ${MAP}$U@x",
       "imta.cnf:1: template \"${MAP}$U@x\": \"${MAP}\" needs a mapping table name and a comma"},
      {"example.test $(key$U@x",
       "imta.cnf:1: template \"$(key$U@x\": \"$(\" without a closing \")\""},
      {"example.test $[lib,fn,$U]$U@x",
       "imta.cnf:1: template \"$[lib,fn,$U]$U@x\": \"$[\" (site-supplied routines) is not "
       "supported"},
      {"example.test $*x$U@x",
       "imta.cnf:1: template \"$*x$U@x\": \"$*\" must be followed by a digit"},
      {"example.test $U@x$M",
       "imta.cnf:1: template \"$U@x$M\": \"$M\" must be followed by a channel name"},
      {"example.test $U",
       "imta.cnf:1: template \"$U\" names no routing host (\"@host\") and no domain "
       "(\"%domain\") (is the blank line before the channel blocks missing?)"},
      {"example.test $U%example.test@",
       "imta.cnf:1: template \"$U%example.test@\" ends with \"@\" but names no routing host"},
      {"exa[mple $U@x", "imta.cnf:1: invalid rewrite rule pattern \"exa[mple\""},
  };
  for (const auto& c : cases) {
    Diagnostics diags;
    parse(c.rule + "\n\nl\nx\n", diags);
    INFO(Catch::Detail::stringify(messages(diags)));
    CHECK(has_message(diags, c.expected));
  }
}

TEST_CASE("structural errors in the channel part", "[imta_cnf]") {
  SECTION("the first real block must be l; defaults may come before it") {
    Diagnostics diags;
    parse(".  $U@x\n\ndefaults logging\n\ntcp_local smtp\nx\n\nl\nlocal.test\n", diags);
    CHECK(has_message(diags,
                      "imta.cnf:5: the first channel block must be the local channel l, not "
                      "tcp_local"));
    Diagnostics fine;
    parse(".  $U@x\n\ndefaults logging\n\nl\nx\n", fine);
    CHECK(fine.ok());
  }
  SECTION("no channel blocks at all") {
    Diagnostics diags;
    parse(".  $U@x\n", diags);
    CHECK(has_message(diags,
                      "imta.cnf: no channel blocks: the local channel l is required (channel "
                      "blocks follow the first blank line)"));
  }
  SECTION("every problem is reported, not only the first") {
    Diagnostics diags;
    parse(std::string(kHead) +
              "tcp_a maxjob 4 backoff \"5m\"\ntcp_a-daemon\n\n"  // 6
              "tcp_b frobnicate\n\n"                              // 9 (and no host line)
              "tcp_a smtp\nx.test\n",                             // 11
          diags);
    INFO(Catch::Detail::stringify(messages(diags)));
    CHECK(diags.error_count() == 5);
    CHECK(has_message(diags, "imta.cnf:6: unknown channel keyword \"maxjob\"; did you mean "
                             "\"maxjobs\"?"));
    CHECK(has_message(diags, "imta.cnf:9: unknown channel keyword \"frobnicate\""));
    CHECK(has_message(diags, "imta.cnf:9: no official host name for channel tcp_b (the line "
                             "after the channel line names it)"));
    CHECK(has_message(diags, "imta.cnf:11: duplicate channel tcp_a (first defined at "
                             "imta.cnf:6)"));
  }
  SECTION("the argument of an unknown keyword is not reported again") {
    Diagnostics diags;
    parse(std::string(kHead) + "tcp_local smtp pol SMTP_POOL maxjob 4 logingg\ntcp_local-daemon\n",
          diags);
    INFO(Catch::Detail::stringify(messages(diags)));
    CHECK(diags.error_count() == 3);  // pol, maxjob, logingg
    CHECK(has_message(diags, "imta.cnf:6: unknown channel keyword \"pol\"; did you mean \"pool\"?"));
  }
  SECTION("errors inside included files name that file") {
    Diagnostics diags;
    auto loader = [](const std::filesystem::path& p) -> std::optional<std::string> {
      if (p.filename() == "channels.inc") return "tcp_local maxjobz 3\ntcp_local-daemon\n";
      return std::nullopt;
    };
    auto lines = split_source(std::string(kHead) + "<channels.inc\n", "/cfg/imta.cnf",
                              ReadOptions{}, diags, loader);
    auto cnf = parse_imta_cnf(lines, diags);
    CHECK(has_message(diags, "/cfg/channels.inc:1: unknown channel keyword \"maxjobz\"; did you "
                             "mean \"maxjobs\"?"));
    CHECK(cnf.find_channel("tcp_local"));
  }
}

TEST_CASE("defaults accumulate, later ones win, nodefaults clears them", "[imta_cnf]") {
  Diagnostics diags;
  auto cnf = parse(
      ".  $U@x\n\n"
      "defaults logging maxjobs 5 copysendpost\n\n"
      "l\nlocal.test\n\n"
      "defaults nologging\n\n"
      "tcp_a maxjobs 9\na.test\n\n"
      "nodefaults\n\n"
      "tcp_b smtp\nb.test\n\n"
      "defaults identnone\n\n"
      "tcp_c smtp\nc.test\n",
      diags);
  INFO(Catch::Detail::stringify(messages(diags)));
  REQUIRE(diags.ok());
  const auto* l = cnf.find_channel("l");
  const auto* a = cnf.find_channel("tcp_a");
  const auto* b = cnf.find_channel("tcp_b");
  const auto* c = cnf.find_channel("tcp_c");
  REQUIRE((l && a && b && c));
  CHECK(l->family("logging")->name == "logging");
  CHECK(l->keyword("maxjobs")->args[0] == "5");
  CHECK(a->family("logging")->name == "nologging");      // later defaults win
  CHECK_FALSE(a->has("logging"));
  CHECK(a->keyword("maxjobs")->args[0] == "9");          // the block wins over defaults
  CHECK(a->has("copysendpost"));                         // cumulative
  CHECK(b->keywords.size() == 1);                        // only its own smtp
  CHECK(b->family("logging") == nullptr);
  CHECK(c->has("identnone"));
  CHECK_FALSE(c->has("copysendpost"));
}

TEST_CASE("rules whose routing host names no channel are warned about", "[imta_cnf]") {
  Diagnostics diags;
  auto cnf = parse(
      "a.test $U%a.test@nowhere-daemon\n"
      "b.test $U%b.test@tcp_local-daemon\n"
      "c.test $U@$H$D\n"
      "d.test $U%d.test@tcp_local-daemon$Mtcp_intranet\n"
      "e.test $U%e.test\n"
      "\n"
      "l\nlocal.test\n\n"
      "tcp_local smtp\ntcp_local-daemon\n",
      diags);
  REQUIRE(diags.ok());
  Diagnostics tags;
  check_rule_tags(cnf, tags);
  auto all = messages(tags);
  INFO(Catch::Detail::stringify(all));
  REQUIRE(all.size() == 2);
  CHECK(all[0] ==
        "imta.cnf:1: warning: rule \"a.test\": routing host \"nowhere-daemon\" is no channel's "
        "host name; addresses it matches will be refused as an illegal host/domain name");
  CHECK(all[1] ==
        "imta.cnf:4: warning: rule \"d.test\" names channel \"tcp_intranet\", which is not "
        "defined");
}

TEST_CASE("a tcp_* channel without the smtp keyword is warned about", "[imta_cnf]") {
  Diagnostics diags;
  auto cnf = parse(".  $U@x\n\nl\nlocal.test\n\ntcp_a mx\na.test\n\ntcp_b smtp mx\nb.test\n\nrelay smtp\nr.test\n",
                   diags);
  REQUIRE(diags.ok());
  Diagnostics warn;
  warn_unimplemented(cnf, warn);
  auto all = messages(warn);
  INFO(Catch::Detail::stringify(all));
  REQUIRE(all.size() == 1);
  CHECK(all[0] == "imta.cnf:6: warning: channel \"tcp_a\" has no smtp keyword: tcp_* channels speak SMTP (add smtp)");
}

TEST_CASE("keywords not yet acted on get one warning each, with a count", "[imta_cnf]") {
  Diagnostics diags;
  auto cnf = parse(
      ".  $U@x\n\n"
      "defaults deferred rules\n\n"
      "l urgentblocklimit 2\nlocal.test\n\n"
      "tcp_a smtp urgentblocklimit 3 deferred bangoverpercent\na.test\n",
      diags);
  REQUIRE(diags.ok());
  Diagnostics warn;
  warn_unimplemented(cnf, warn);
  auto all = messages(warn);
  INFO(Catch::Detail::stringify(all));
  REQUIRE(all.size() == 2);
  CHECK(all[0] ==
        "imta.cnf:3: warning: keyword \"deferred\" is recognised but not yet acted on by this "
        "version (2 uses)");
  CHECK(all[1] ==
        "imta.cnf:5: warning: keyword \"urgentblocklimit\" is recognised but not yet acted on by this "
        "version (2 uses)");
}

TEST_CASE("a parsed imta.cnf survives the image unchanged", "[imta_cnf]") {
  Diagnostics diags;
  auto cnf = parse(kSample, diags);
  REQUIRE(diags.ok());
  ImageWriter w;
  write_image(w, cnf);
  ImageReader r(w.bytes());
  auto back = read_imta_cnf(r);
  CHECK(r.at_end());

  REQUIRE(back.rules.size() == cnf.rules.size());
  for (std::size_t i = 0; i < cnf.rules.size(); ++i) {
    CHECK(back.rules[i].pattern == cnf.rules[i].pattern);
    CHECK(back.rules[i].templ == cnf.rules[i].templ);
    CHECK(back.rules[i].where.str() == cnf.rules[i].where.str());
  }
  REQUIRE(back.channels.size() == cnf.channels.size());
  for (std::size_t i = 0; i < cnf.channels.size(); ++i) {
    const auto& a = cnf.channels[i];
    const auto& b = back.channels[i];
    CHECK(a.name == b.name);
    CHECK(a.hosts == b.hosts);
    CHECK(a.where.str() == b.where.str());
    REQUIRE(a.keywords.size() == b.keywords.size());
    for (std::size_t k = 0; k < a.keywords.size(); ++k) {
      CHECK(a.keywords[k].name == b.keywords[k].name);
      CHECK(a.keywords[k].args == b.keywords[k].args);
      CHECK(a.keywords[k].where.str() == b.keywords[k].where.str());
    }
  }
  CHECK(back.keyword_uses.size() == cnf.keyword_uses.size());
  // The indexes are rebuilt on reading.
  CHECK(back.channel_for_host("example.test") == back.find_channel("l"));
  CHECK(numbers(back.rules_for(".")) == std::vector<std::uint32_t>{2});

  std::string truncated = w.bytes().substr(0, w.bytes().size() / 2);
  ImageReader bad(truncated);
  CHECK_THROWS_AS(read_imta_cnf(bad), ImageError);
}

TEST_CASE("keyword registry: lookups, suggestions and argument checks", "[imta_cnf]") {
  CHECK(find_keyword("MaxJobs") == find_keyword("maxjobs"));
  REQUIRE(find_keyword("maxjobs"));
  CHECK(find_keyword("maxjobs")->args == KeywordArgs::integer);
  CHECK(find_keyword("nosuch") == nullptr);
  CHECK(closest_keyword("logginng") == "logging");
  CHECK(closest_keyword("singel_sys") == "single_sys");
  CHECK(closest_keyword("zzzzzzzz").empty());
  CHECK(find_keyword("sourcespamfilter3optin"));
  CHECK(find_keyword("destinationspamfilteroptin"));
  CHECK_FALSE(find_keyword("sourcespamfilter9optin"));

  std::map<std::string, int> names;
  for (const auto& k : channel_keywords()) {
    ++names[k.name];
    CHECK_FALSE(k.doc.empty());
    CHECK_FALSE(k.family.empty());
    CHECK(k.name == imta::core::to_lower(k.name));
  }
  for (const auto& [name, count] : names) {
    INFO(name);
    CHECK(count == 1);
  }
  // Families keep alternatives together.
  CHECK(find_keyword("randommx")->family == find_keyword("nomx")->family);
  CHECK(find_keyword("single")->family == find_keyword("multiple")->family);
  CHECK(find_keyword("maytlsserver")->family != find_keyword("maytlsclient")->family);

  struct Duration {
    std::string text;
    std::optional<std::int64_t> seconds;
  };
  for (const auto& d : std::vector<Duration>{{"pt5m", 300},
                                             {"PT1H30M", 5400},
                                             {"p1d", 86400},
                                             {"P1W", 604800},
                                             {"P1DT2H", 93600},
                                             {"pt10s", 10},
                                             {"P1M", 30 * 86400},
                                             {"5m", std::nullopt},
                                             {"p", std::nullopt},
                                             {"pt", std::nullopt},
                                             {"p1dt", std::nullopt},
                                             {"pt5x", std::nullopt},
                                             {"pm5", std::nullopt},
                                             {"pt5m1h", std::nullopt}}) {
    INFO(d.text);
    CHECK(parse_iso8601_duration(d.text) == d.seconds);
  }
  CHECK(valid_channel_name("ims-ms"));
  CHECK(valid_channel_name("tcp_local"));
  CHECK(valid_channel_name("a$b"));
  CHECK_FALSE(valid_channel_name("Tcp"));
  CHECK_FALSE(valid_channel_name(""));
  CHECK_FALSE(valid_channel_name(std::string(33, 'x')));
  CHECK(valid_host_name("[192.0.2.1]"));
  CHECK(valid_host_name("TCP-DAEMON"));
  CHECK_FALSE(valid_host_name("[192.0.2.1"));
  CHECK_FALSE(valid_host_name("a b"));
}

TEST_CASE("imta.cnf(5) documents every keyword and says which are not acted on", "[imta_cnf]") {
  auto text = source_text("man/imta.cnf.5");
  REQUIRE_FALSE(text.empty());
  // Keyword entries are mdoc list items, `.It Cm name [Ar arg ...]`, or
  // `.It Cm name1 , name2 , ... Ar arg` for a group; an entry's text runs to
  // the next item, list end or section.
  std::map<std::string, std::string> body;  // keyword -> text of its entry
  std::vector<std::string> open;            // names of the entry being read
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(".It", 0) == 0 || line.rfind(".El", 0) == 0 || line.rfind(".Sh", 0) == 0 ||
        line.rfind(".Ss", 0) == 0) {
      open.clear();
      if (line.rfind(".It Cm ", 0) == 0) {
        std::istringstream words(line.substr(7));
        for (std::string w; words >> w;) {
          if (w == ",") continue;
          if (!w.empty() && w[0] >= 'A' && w[0] <= 'Z') break;  // the next macro (Ar, Op ...)
          open.push_back(w);
          body[w];
        }
      }
      continue;
    }
    for (const auto& name : open) body[name] += line + "\n";
  }
  for (const auto& k : channel_keywords()) {
    INFO("keyword " << k.name);
    REQUIRE(body.count(k.name));
    bool says_not_acted_on = body[k.name].find("not yet acted on") != std::string::npos;
    CHECK(says_not_acted_on == !k.implemented);
  }
}

TEST_CASE("ten thousand rules stay quick to look up", "[imta_cnf]") {
  std::string text;
  for (int i = 0; i < 10000; ++i)
    text += "host" + std::to_string(i) + ".example $U%host" + std::to_string(i) +
            ".example@tcp_local-daemon\n";
  text += ".  $U%$H@tcp_local-daemon\n\nl\nlocal.test\n\ntcp_local smtp\ntcp_local-daemon\n";
  Diagnostics diags;
  auto cnf = parse(text, diags);
  REQUIRE(diags.ok());
  REQUIRE(cnf.rules.size() == 10001);
  REQUIRE(cnf.rules_for("host9999.example").size() == 1);
  CHECK(cnf.rules[cnf.rules_for("host9999.example").front()].where.line == 10000);
}

TEST_CASE("rules with one pattern in any case are tried in file order", "[imta_cnf]") {
  Diagnostics diags;
  auto cnf = parse("a.example $U@local.test\nB.example $U@local.test\nA.EXAMPLE $U%a@local.test\n"
                   "b.example $U%b@local.test\na.Example $U%c@local.test\n\nl\nlocal.test\n",
                   diags);
  REQUIRE(diags.ok());
  CHECK(numbers(cnf.rules_for("a.example")) == std::vector<std::uint32_t>{0, 2, 4});
  CHECK(numbers(cnf.rules_for("b.example")) == std::vector<std::uint32_t>{1, 3});
  CHECK(cnf.rules_for("c.example").empty());
  // A copy answers on its own after the original is gone.
  ImtaCnf copy = cnf;
  cnf = ImtaCnf{};
  CHECK(cnf.rules_for("a.example").empty());
  CHECK(numbers(copy.rules_for("a.example")) == std::vector<std::uint32_t>{0, 2, 4});
}
