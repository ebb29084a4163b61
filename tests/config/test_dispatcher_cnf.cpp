#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config/dispatcher_cnf.hpp"
#include "test_support.hpp"

using namespace imta::config;
using namespace imta::config::testing;

namespace {

DispatcherConfig parse(const std::string& text, Diagnostics& diags) {
  auto lines = split_source(text, "dispatcher.cnf", option_file_read_options(), diags);
  return parse_dispatcher_cnf(lines, diags);
}

// Everything an administrator could observe of a service, for comparisons.
std::string describe(const ServiceConfig& s) {
  std::string out = s.name + "@" + s.where.str() + " ports";
  for (int p : s.ports) out += " " + std::to_string(p) + (s.is_tls_port(p) ? "(tls)" : "");
  out += " addr=" + s.interface_address + " channel=" + s.channel;
  for (auto v : {std::int64_t{s.worker_threads}, std::int64_t{s.min_procs}, std::int64_t{s.min_conns},
                 std::int64_t{s.max_conns}, std::int64_t{s.backlog}, std::int64_t{s.max_handoffs},
                 s.max_life_time, s.max_life_conns, s.max_idle_time, std::int64_t{s.max_shutdown},
                 s.stacksize, s.debug, std::int64_t{s.enable_rbl}, std::int64_t{s.ident},
                 s.historical_time, std::int64_t{s.command_timeout}, std::int64_t{s.data_timeout},
                 std::int64_t{s.dot_timeout}})
    out += " " + std::to_string(v);
  for (const auto& d : s.dns_verify_domains) out += " rbl=" + d;
  out += " image=" + s.image + " log=" + s.logfile;
  return out;
}

const char* const sun_sample =
    "! the published sample\n"
    "MIN_PROCS=0\n"
    "MAX_PROCS=5\n"
    "MIN_CONNS=5\n"
    "MAX_CONNS=20\n"
    "MAX_LIFE_TIME=86400\n"
    "MAX_LIFE_CONNS=100\n"
    "MAX_SHUTDOWN=2\n"
    "\n"
    "[SERVICE=SMTP]\n"
    "PORT=25\n"
    "IMAGE=/opt/SUNWmsgsr/lib/tcp_smtp_server\n"
    "LOGFILE=/opt/SUNWmsgsr/log/tcp_smtp_server.log\n"
    "\n"
    "[SERVICE=SMTP_SUBMIT]\n"
    "PORT=587\n"
    "PARAMETER=CHANNEL=tcp_submit\n"
    "MAX_CONNS=16%10\n"
    "DNS_VERIFY_DOMAIN=bl.example.org\n"
    "DNS_VERIFY_DOMAIN=dnsbl.example.net\n";

}  // namespace

TEST_CASE("dispatcher.cnf: global options are defaults, sections override", "[dispatcher_cnf]") {
  Diagnostics diags;
  auto config = parse(sun_sample, diags);
  CHECK(messages(diags).empty());
  REQUIRE(config.services.size() == 2);

  const auto& smtp = config.services[0];
  CHECK(smtp.name == "SMTP");
  CHECK(smtp.where.str() == "dispatcher.cnf:10");
  CHECK(smtp.ports == std::vector<int>{25});
  CHECK(smtp.tls_ports.empty());
  CHECK(smtp.interface_address.empty());
  CHECK(smtp.channel == "tcp_local");
  CHECK(smtp.worker_threads == 5);  // MAX_PROCS is WORKER_THREADS' Sun name
  CHECK(smtp.max_conns == 20);
  CHECK(smtp.backlog == 100);       // MAX_CONNS x WORKER_THREADS
  CHECK(smtp.max_life_time == 86400);
  CHECK(smtp.max_life_conns == 100);
  CHECK(smtp.image == "/opt/SUNWmsgsr/lib/tcp_smtp_server");
  CHECK(smtp.command_timeout == 300);
  CHECK(smtp.data_timeout == 180);
  CHECK(smtp.dot_timeout == 600);

  const auto* submit = config.service("smtp_submit");
  REQUIRE(submit != nullptr);
  CHECK(submit->ports == std::vector<int>{587});
  CHECK(submit->channel == "tcp_submit");
  CHECK(submit->max_conns == 16);
  CHECK(submit->backlog == 80);
  CHECK(submit->worker_threads == 5);
  CHECK(submit->dns_verify_domains == std::vector<std::string>{"bl.example.org", "dnsbl.example.net"});
  CHECK(config.settings(*submit).integer("MAX_CONNS") == 16);
  CHECK(config.settings(*submit).where("MAX_CONNS")->str() == "dispatcher.cnf:18");
  CHECK(config.settings(*submit).where("MAX_LIFE_TIME")->str() == "dispatcher.cnf:6");
  CHECK(config.service("LMTP") == nullptr);
}

TEST_CASE("dispatcher.cnf: ports, implicit TLS ports and addresses", "[dispatcher_cnf]") {
  Diagnostics diags;
  auto config = parse("INTERFACE_ADDRESS=0:0::1\n"
                      "WORKER_THREADS=1\nMAX_CONNS=1\n"
                      "[SERVICE=SUBMIT]\nPORT=587, 465\nTLS_PORT=465\n"
                      "[SERVICE=OTHER]\nPORT=587\nINTERFACE_ADDRESS=192.0.2.1\n"
                      "[SERVICE=ALL]\nPORT=2525\nINTERFACE_ADDRESS=any\nBACKLOG=16%40\n",
                      diags);
  CHECK(messages(diags).empty());
  REQUIRE(config.services.size() == 3);
  CHECK(config.services[0].ports == std::vector<int>{587, 465});
  CHECK(config.services[0].is_tls_port(465));
  CHECK_FALSE(config.services[0].is_tls_port(587));
  CHECK(config.services[0].interface_address == "::1");
  CHECK(config.services[0].backlog == 5);  // 1 x 1, raised to the minimum
  CHECK(config.services[1].interface_address == "192.0.2.1");
  CHECK(config.services[2].interface_address.empty());
  CHECK(config.services[2].backlog == 64);
}

TEST_CASE("dispatcher.cnf mistakes are errors naming file and line", "[dispatcher_cnf]") {
  check_diagnostics({
      {"[SERVICE=SMTP]\nPORT=25\nMAX_CON=5\n",
       {"dispatcher.cnf:3: unknown dispatcher option MAX_CON (did you mean MAX_CONNS?)"}},
      {"[SERVICE=SMTP]\nPORT=0\n",
       {"dispatcher.cnf:2: PORT: port 0 is out of range (1 to 65535)",
        "dispatcher.cnf:1: service SMTP has no PORT"}},
      {"[SERVICE=SMTP]\nPORT=25,smtp\n",
       {"dispatcher.cnf:2: PORT: \"smtp\" is not a port number", "dispatcher.cnf:1: service SMTP has no PORT"}},
      {"[SERVICE=SMTP]\nPORT=25,25\n", {"dispatcher.cnf:2: service SMTP lists port 25 twice"}},
      {"[SERVICE=SMTPS]\nPORT=587\nTLS_PORT=465\n",
       {"dispatcher.cnf:3: TLS_PORT 465 of service SMTPS is not one of its PORT values"}},
      {"[SERVICE=SMTP]\nPORT=25\n[SERVICE=smtp]\nPORT=26\n",
       {"dispatcher.cnf:3: service smtp is defined twice (first at dispatcher.cnf:1)"}},
      {"[SERVICE=A]\nPORT=25\n[SERVICE=B]\nPORT=26,25\n",
       {"dispatcher.cnf:4: service B listens on port 25 of every address, which service A "
        "(dispatcher.cnf:1) already uses on every address"}},
      {"[SERVICE=A]\nPORT=25\nINTERFACE_ADDRESS=127.0.0.1\n[SERVICE=B]\nPORT=25\n",
       {"dispatcher.cnf:5: service B listens on port 25 of every address, which service A "
        "(dispatcher.cnf:1) already uses on 127.0.0.1"}},
      {"[SERVICE=A]\nPORT=25\nINTERFACE_ADDRESS=::1\n[SERVICE=B]\nPORT=25\nINTERFACE_ADDRESS=0::1\n",
       {"dispatcher.cnf:5: service B listens on port 25 of ::1, which service A "
        "(dispatcher.cnf:1) already uses on ::1"}},
      {"[SERVICE=SMTP\nPORT=25\n",
       {"dispatcher.cnf:1: malformed section header \"[SERVICE=SMTP\": no closing \"]\""}},
      {"[SERVICE]\nPORT=25\n",
       {"dispatcher.cnf:1: malformed section header \"[SERVICE]\": expected [KIND=name]"}},
      {"[SERVICE=]\nPORT=25\n",
       {"dispatcher.cnf:1: malformed section header \"[SERVICE=]\": the section has no name"}},
      {"[SERVICE=SMTP] x\nPORT=25\n",
       {"dispatcher.cnf:1: malformed section header \"[SERVICE=SMTP] x\": text after \"]\""}},
      {"[POOL=X]\nPORT=25\n",
       {"dispatcher.cnf:1: unknown section [POOL=...]; dispatcher.cnf has only [SERVICE=name] sections"}},
      {"[SERVICE=SMTP]\nPORT 25\n",
       {"dispatcher.cnf:2: expected NAME=value, found \"PORT 25\"", "dispatcher.cnf:1: service SMTP has no PORT"}},
      {"PORT=25\n", {"dispatcher.cnf:1: PORT is not allowed before the first section"}},
      {"[SERVICE=SMTP*]\nPORT=25\nMAX_CONNS=0\n",
       {"dispatcher.cnf:1: service name SMTP* contains a wildcard",
        "dispatcher.cnf:3: MAX_CONNS=0 is out of range (1 to 1000000)"}},
      {"[SERVICE=SMTP]\nPORT=25\nINTERFACE_ADDRESS=localhost\n",
       {"dispatcher.cnf:3: INTERFACE_ADDRESS: \"localhost\" is not an IPv4 or IPv6 address (or ANY)"}},
      {"[SERVICE=SMTP]\nPORT=25\nPARAMETER=tcp_submit\n",
       {"dispatcher.cnf:3: PARAMETER: \"tcp_submit\" is not of the form CHANNEL=name"}},
      {"WORKER_THREADS=0\n[SERVICE=SMTP]\nPORT=25\n",
       {"dispatcher.cnf:1: WORKER_THREADS=0 is out of range (1 to 1024)"}},
      {"[SERVICE=SMTP]\nPORT=25\nBACKLOG=4\n",
       {"dispatcher.cnf:3: BACKLOG=4 is out of range (5 to 65535)"}},
  }, parse);
}

TEST_CASE("dispatcher.cnf: WORKER_THREADS and MAX_PROCS are one option", "[dispatcher_cnf]") {
  Diagnostics diags;
  auto config = parse("WORKER_THREADS=3\nMAX_PROCS=6\n[SERVICE=S]\nPORT=25\n", diags);
  CHECK(messages(diags) ==
        std::vector<std::string>{"dispatcher.cnf:2: warning: MAX_PROCS (WORKER_THREADS) is set again "
                                 "(first at dispatcher.cnf:1); the later value wins"});
  REQUIRE(config.services.size() == 1);
  CHECK(config.services[0].worker_threads == 6);
}

TEST_CASE("dispatcher.cnf: a service's channel must exist in imta.cnf", "[dispatcher_cnf]") {
  Diagnostics diags;
  auto config = parse("[SERVICE=SMTP]\nPORT=25\n[SERVICE=SUBMIT]\nPORT=587\nPARAMETER=CHANNEL=tcp_sbumit\n",
                      diags);
  REQUIRE(diags.ok());
  check_service_channels(config, {"l", "tcp_local", "tcp_submit"}, diags);
  CHECK(messages(diags) == std::vector<std::string>{"dispatcher.cnf:5: service SUBMIT names channel "
                                                    "tcp_sbumit, which imta.cnf does not define"});
}

TEST_CASE("dispatcher.cnf: options not acted on yet are reported at their lines", "[dispatcher_cnf]") {
  Diagnostics diags;
  // MAX_CONNS and PORT are acted on; MAX_LIFE_TIME and IDENT are not (yet).
  auto config = parse("MAX_CONNS=10\nMAX_LIFE_TIME=60\n[SERVICE=SMTP]\nPORT=25\nIDENT=1\n", diags);
  REQUIRE(diags.items().empty());
  warn_unimplemented(config, diags);
  CHECK(messages(diags) ==
        std::vector<std::string>{
            "dispatcher.cnf:2: warning: MAX_LIFE_TIME is accepted but not acted on yet by this version of imta",
            "dispatcher.cnf:5: warning: IDENT is accepted but not acted on yet by this version of imta"});
}

TEST_CASE("dispatcher.cnf: the embedded default parses and listens on loopback", "[dispatcher_cnf]") {
  Diagnostics diags;
  auto lines = read_default_file("dispatcher.cnf", option_file_read_options(), diags);
  auto config = parse_dispatcher_cnf(lines, diags);
  CHECK(messages(diags).empty());
  REQUIRE_FALSE(config.services.empty());
  for (const auto& s : config.services) {
    INFO(s.name);
    CHECK_FALSE(s.ports.empty());
    CHECK((s.interface_address == "127.0.0.1" || s.interface_address == "::1"));
  }
}

TEST_CASE("dispatcher.cnf survives the image unchanged", "[dispatcher_cnf]") {
  Diagnostics diags;
  auto config = parse(std::string(sun_sample) + "[SERVICE=SMTPS]\nPORT=465\nTLS_PORT=465\n"
                                                "INTERFACE_ADDRESS=::1\nBACKLOG=50\n",
                      diags);
  REQUIRE(diags.ok());
  auto back = read_back(config, read_dispatcher_config);
  REQUIRE(back.services.size() == config.services.size());
  for (std::size_t i = 0; i < config.services.size(); ++i) {
    CHECK(describe(back.services[i]) == describe(config.services[i]));
    CHECK(format_options(back.settings(back.services[i])) ==
          format_options(config.settings(config.services[i])));
  }
  Diagnostics again;
  warn_unimplemented(back, again);
  Diagnostics original;
  warn_unimplemented(config, original);
  CHECK(messages(again) == messages(original));
}
