#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config/job_controller_cnf.hpp"
#include "test_support.hpp"

using namespace imta::config;
using namespace imta::config::testing;

namespace {

JobControllerConfig parse(const std::string& text, Diagnostics& diags) {
  auto lines = split_source(text, "job_controller.cnf", option_file_read_options(), diags);
  return parse_job_controller_cnf(lines, diags);
}

std::string describe(const ChannelJobConfig& c) {
  return c.pattern + "@" + c.where.str() + " master=" + c.master_command + " slave=" +
         c.slave_command + " age=" + std::to_string(c.max_life_age) + " conns=" +
         std::to_string(c.max_life_conns) + " anon=" + std::to_string(c.anon_host);
}

std::string describe(const JobControllerConfig& c) {
  std::string out = "port=" + std::to_string(c.tcp_port) + " addr=" + c.interface_address +
                    " secret=" + c.secret + " debug=" + std::to_string(c.debug) +
                    " max=" + std::to_string(c.max_messages) + " synch=" + std::to_string(c.synch_time) +
                    " rebuild=" + std::to_string(c.rebuild_parallel_channel) +
                    " return=" + std::to_string(c.return_time) + "\n";
  for (const auto& p : c.pools)
    out += "pool " + p.name + "@" + p.where.str() + " " + std::to_string(p.job_limit) + "\n";
  for (const auto& ch : c.channels) out += describe(ch) + "\n";
  return out + "defaults " + describe(c.defaults) + "\n";
}

const char* const sample =
    "tcp_port=27442\n"
    "secret=not-so-secret\n"
    "slave_command=NULL\n"
    "max_life_age=3600\n"
    "JOB_LIMIT=4\n"
    "RETURN_TIME=3:15\n"
    "[POOL=DEFAULT]\n"
    "job_limit=10\n"
    "[POOL=LOCAL_POOL]\n"
    "[POOL=IMS_POOL]\n"
    "job_limit=1\n"
    "[CHANNEL=l]\n"
    "master_command=/opt/imta/lib/l_master\n"
    "[CHANNEL=tcp_?ocal]\n"
    "max_life_age=600\n"
    "[CHANNEL=tcp_*]\n"
    "anon_host=0\n"
    "master_command=/opt/imta/lib/tcp_smtp_client\n";

}  // namespace

TEST_CASE("job_controller.cnf: globals, pools and channel sections", "[job_controller_cnf]") {
  Diagnostics diags;
  auto c = parse(sample, diags);
  CHECK(messages(diags).empty());
  CHECK(c.tcp_port == 27442);
  CHECK(c.secret == "not-so-secret");
  CHECK(c.return_time == 3 * 60 + 15);
  CHECK(c.synch_time == 300);
  CHECK(c.rebuild_parallel_channel == 12);

  REQUIRE(c.pools.size() == 3);
  CHECK(c.default_pool() == &c.pools[0]);
  CHECK(c.pool("local_pool")->job_limit == 4);  // the global JOB_LIMIT
  CHECK(c.pool("IMS_POOL")->job_limit == 1);
  CHECK(c.pool("DEFAULT")->job_limit == 10);
  CHECK(c.pool("NOPE") == nullptr);
  CHECK(c.pool_for("") == &c.pools[0]);
  CHECK(c.pool_for("ims_pool") == c.pool("IMS_POOL"));

  const auto* local = c.for_channel("tcp_local");
  REQUIRE(local != nullptr);
  CHECK(local->pattern == "tcp_?ocal");  // the first matching section wins
  CHECK(local->max_life_age == 600);
  CHECK(local->master_command.empty());
  CHECK(local->slave_command.empty());  // NULL

  const auto* intranet = c.for_channel("TCP_INTRANET");
  REQUIRE(intranet != nullptr);
  CHECK(intranet->pattern == "tcp_*");
  CHECK(intranet->master_command == "/opt/imta/lib/tcp_smtp_client");
  CHECK(intranet->max_life_age == 3600);

  CHECK(c.for_channel("l")->master_command == "/opt/imta/lib/l_master");
  CHECK(c.for_channel("lmtp") == nullptr);
  CHECK(&c.settings_for("lmtp") == &c.defaults);
  CHECK(c.defaults.max_life_age == 3600);
}

TEST_CASE("job_controller.cnf: unset options take the documented defaults", "[job_controller_cnf]") {
  Diagnostics diags;
  auto c = parse("[POOL=DEFAULT]\n", diags);
  CHECK(messages(diags).empty());
  CHECK(c.tcp_port == 27442);
  CHECK(c.return_time == 30);  // 00:30
  CHECK(c.pools[0].job_limit == 10);
  CHECK(c.defaults.max_life_age == 3600);
  CHECK(c.defaults.slave_command.empty());
  CHECK(c.max_messages == 100000);
}

TEST_CASE("job_controller.cnf: an empty or absent file means one default pool", "[job_controller_cnf]") {
  Diagnostics diags;
  auto c = parse("! nothing but comments\n\n", diags);
  CHECK(messages(diags).empty());
  REQUIRE(c.pools.size() == 1);
  CHECK(c.default_pool()->name == "DEFAULT");
  CHECK(c.default_pool()->job_limit == 10);
  auto none = parse_job_controller_cnf({}, diags);
  CHECK(messages(diags).empty());
  CHECK(none.pool_for("") == &none.pools[0]);
}

TEST_CASE("wildcards: * any run, ? one character, case ignored", "[job_controller_cnf]") {
  struct Case {
    const char* pattern;
    const char* name;
    bool match;
  };
  const Case cases[] = {
      {"tcp_*", "tcp_local", true}, {"tcp_*", "tcp_", true},        {"tcp_*", "tcp", false},
      {"TCP_*", "tcp_auth", true},  {"*", "l", true},               {"?", "l", true},
      {"?", "ll", false},           {"t?p_*l", "tcp_local", true},  {"*_local", "tcp_local", true},
      {"*a*a*", "banana", true},    {"*a*a*a*a", "banana", false},  {"l", "L", true},
      {"l", "lmtp", false},         {"", "", true},                 {"**", "x", true},
  };
  for (const auto& c : cases) {
    INFO(c.pattern << " vs " << c.name);
    CHECK(wildcard_match(c.pattern, c.name) == c.match);
  }
}

TEST_CASE("job_controller.cnf mistakes are errors naming file and line", "[job_controller_cnf]") {
  check_diagnostics({
      {"[POOL=A]\nJOB_LIMT=3\n",
       {"job_controller.cnf:2: unknown job controller option JOB_LIMT (did you mean JOB_LIMIT?)"}},
      {"[POOL=A]\n[POOL=a]\n", {"job_controller.cnf:2: pool a is defined twice (first at job_controller.cnf:1)"}},
      {"[POOL=A]\n[CHANNEL=tcp_*]\n[CHANNEL=TCP_*]\n",
       {"job_controller.cnf:3: channel section TCP_* is defined twice (first at job_controller.cnf:2)"}},
      {"[POOL=A]\n[CHANNEL=tcp_*]\n[CHANNEL=tcp_local]\n",
       {"job_controller.cnf:3: warning: section [CHANNEL=tcp_local] never applies: [CHANNEL=tcp_*] "
        "at job_controller.cnf:2 matches first"}},
      {"[POOL=A*]\n", {"job_controller.cnf:1: pool name A* contains a wildcard",
                       "job_controller.cnf: no [POOL=name] section: at least one pool is needed "
                       "(the first is the default)"}},
      {"RETURN_TIME=24:00\n[POOL=A]\n",
       {"job_controller.cnf:1: RETURN_TIME: \"24:00\" is not a time of day HH:MM (00:00 to 23:59)"}},
      {"RETURN_TIME=0030\n[POOL=A]\n",
       {"job_controller.cnf:1: RETURN_TIME: \"0030\" is not a time of day HH:MM (00:00 to 23:59)"}},
      {"[POOL=A]\nMASTER_COMMAND=/bin/true\n",
       {"job_controller.cnf:2: MASTER_COMMAND is not allowed in a [POOL=...] section"}},
      {"[POOL=A]\n[CHANNEL=l]\nJOB_LIMIT=3\n",
       {"job_controller.cnf:3: JOB_LIMIT is not allowed in a [CHANNEL=...] section"}},
      {"[POOL=A]\n[CHANNEL=l]\nSECRET=x\n",
       {"job_controller.cnf:3: SECRET is not allowed in a [CHANNEL=...] section"}},
      {"[POOL=A]\n[PERIODIC_JOB=return]\nCOMMAND=x\n",
       {"job_controller.cnf:2: unknown section [PERIODIC_JOB=...]; job_controller.cnf has [POOL=name] "
        "and [CHANNEL=pattern] sections (periodic jobs are not supported: RETURN_TIME schedules the "
        "return job)"}},
      {"[POOL=A]\nJOB_LIMIT=0\n", {"job_controller.cnf:2: JOB_LIMIT=0 is out of range (1 to 10000)"}},
      {"JOB_LIMIT=5\n", {"job_controller.cnf: no [POOL=name] section: at least one pool is needed "
                         "(the first is the default)"}},
      {"[POOL=A]\nREBUILD_PARALLEL_CHANNEL\n",
       {"job_controller.cnf:2: expected NAME=value, found \"REBUILD_PARALLEL_CHANNEL\""}},
  }, parse);
}

TEST_CASE("job_controller.cnf: a channel naming an unknown pool is an error", "[job_controller_cnf]") {
  Diagnostics diags;
  auto c = parse("[POOL=DEFAULT]\n[POOL=SMTP_POOL]\n", diags);
  REQUIRE(diags.items().empty());
  check_channel_pools(c,
                      {{"l", "", {"imta.cnf", 40}},
                       {"tcp_local", "smtp_pool", {"imta.cnf", 45}},
                       {"tcp_auth", "SMTP_POL", {"imta.cnf", 50}}},
                      diags);
  CHECK(messages(diags) == std::vector<std::string>{
                               "imta.cnf:50: channel tcp_auth names pool SMTP_POL, which "
                               "job_controller.cnf does not define (pools: DEFAULT, SMTP_POOL)"});
}

TEST_CASE("job_controller.cnf: options not acted on yet are reported at their lines",
          "[job_controller_cnf]") {
  Diagnostics diags;
  auto c = parse("MAX_MESSAGES=1\nDEBUG=1\n[POOL=A]\nJOB_LIMIT=2\n[CHANNEL=l]\nANON_HOST=1\n", diags);
  REQUIRE(diags.items().empty());
  warn_unimplemented(c, diags);
  REQUIRE(diags.items().size() == 2);  // DEBUG and JOB_LIMIT are acted on
  CHECK(diags.items()[0].where.line == 1);
  CHECK(diags.items()[1].str() == "job_controller.cnf:6: warning: ANON_HOST is accepted but not "
                                  "acted on yet by this version of imta");
}

TEST_CASE("job_controller.cnf: the embedded default parses", "[job_controller_cnf]") {
  Diagnostics diags;
  auto lines = read_default_file("job_controller.cnf", option_file_read_options(), diags);
  auto c = parse_job_controller_cnf(lines, diags);
  CHECK(messages(diags).empty());
  CHECK(c.default_pool() != nullptr);
  CHECK(c.pool("SMTP_POOL") != nullptr);
  CHECK(c.pool("LOCAL_POOL") != nullptr);
}

TEST_CASE("job_controller.cnf survives the image unchanged", "[job_controller_cnf]") {
  Diagnostics diags;
  auto c = parse(sample, diags);
  REQUIRE(diags.ok());
  auto back = read_back(c, read_job_controller_config);
  CHECK(describe(back) == describe(c));
  for (const char* name : {"l", "tcp_local", "tcp_intranet", "lmtp"})
    CHECK(describe(back.settings_for(name)) == describe(c.settings_for(name)));
  CHECK(format_options(back.globals) == format_options(c.globals));
}
