#include <catch2/catch.hpp>

#include <algorithm>

#include "config/access_probes.hpp"
#include "config/mapping.hpp"
#include "config/mapping_engine.hpp"
#include "config/source_lines.hpp"
#include "test_support.hpp"

using namespace imta::config;
using namespace imta::config::testing;

namespace {

std::size_t fields(const std::string& probe) {
  return static_cast<std::size_t>(std::count(probe.begin(), probe.end(), '|')) + 1;
}

}  // namespace

TEST_CASE("access probes: the exact strings of each table", "[access_probes]") {
  auto port = port_access_probe("192.0.2.1", 25, "198.51.100.7", 40123);
  CHECK(port == "TCP|192.0.2.1|25|198.51.100.7|40123");
  CHECK(port_access_probe("::1", 2525, "2001:db8::5", 4000) == "TCP|::1|2525|2001:db8::5|4000");

  auto helo = app_info("SMTP", "hostb.sesta.com");
  CHECK(helo == "SMTP/hostb.sesta.com");

  auto from = from_access_probe(port, helo, "MAIL", "tcp_local", "a@x.org", "");
  CHECK(from ==
        "TCP|192.0.2.1|25|198.51.100.7|40123|SMTP/hostb.sesta.com|MAIL|tcp_local|a@x.org|");
  CHECK(fields(from) == 10);
  CHECK(from_access_probe(port, helo, "MAIL", "tcp_auth", "", "joe@x.org") ==
        "TCP|192.0.2.1|25|198.51.100.7|40123|SMTP/hostb.sesta.com|MAIL|tcp_auth||joe@x.org");

  CHECK(send_access_probe("tcp_local", "a@x.org", "l", "b@y.org") == "tcp_local|a@x.org|l|b@y.org");

  auto mail = mail_access_probe(port, helo, "MAIL", "tcp_local", "a@x.org", "l", "b@y.org");
  CHECK(mail ==
        "TCP|192.0.2.1|25|198.51.100.7|40123|SMTP/hostb.sesta.com|MAIL|tcp_local|a@x.org|l|"
        "b@y.org");
  CHECK(fields(mail) == 11);

  CHECK(conversions_probe("tcp_local", "l") == "IN-CHAN=tcp_local;OUT-CHAN=l;CONVERT");
}

TEST_CASE("access probes: the classic anti-relay rule", "[access_probes]") {
  auto m = parse_mappings_ok(
      "ORIG_SEND_ACCESS\n"
      "  tcp_local|*|tcp_local|*   $NRelaying$ not$ permitted\n");
  auto relay = apply_mapping(m, kOrigSendAccess,
                             send_access_probe("tcp_local", "a@x.org", "tcp_local", "b@y.org"));
  CHECK(relay.matched);
  CHECK(relay.reject);
  CHECK(relay.reject_text == "Relaying not permitted");
  auto inside = apply_mapping(m, kOrigSendAccess,
                              send_access_probe("tcp_intranet", "a@x.org", "tcp_local", "b@y.org"));
  CHECK_FALSE(inside.matched);
  CHECK_FALSE(inside.reject);
  CHECK(inside.error.empty());
}

TEST_CASE("access probes: MAIL_ACCESS and FROM_ACCESS fields line up with patterns",
          "[access_probes]") {
  // The 11 MAIL_ACCESS fields; the sender is not saved ($@ ... $^), so $0 is
  // the server address, $3 the HELO name, $4 the destination channel, $5 the
  // recipient.
  auto m = parse_mappings_ok(
      "MAIL_ACCESS\n"
      "  TCP|*|25|*|*|SMTP/*|MAIL|tcp_local|$@*|$^*|*   $N$<$0|$5$ via$ $4\n"
      "\n"
      "FROM_ACCESS\n"
      "  TCP|*|*|*|*|*|MAIL|*|*|   $C$:A$Y$E\n"
      "  TCP|*|587|*|*|*|MAIL|*|*|   $NAuthentication$ required\n"
      "\n"
      "CONVERSIONS\n"
      "  IN-CHAN=tcp_local;OUT-CHAN=l;CONVERT  Yes\n");
  auto port = port_access_probe("192.0.2.1", 25, "198.51.100.7", 40123);
  auto r = apply_mapping(m, kMailAccess,
                         mail_access_probe(port, app_info("SMTP", "client.example"), "MAIL",
                                           "tcp_local", "a@x.org", "l", "b@y.org"));
  CHECK(r.reject);
  CHECK(r.syslog_match == "192.0.2.1");
  CHECK(r.reject_text == "b@y.org via l");

  auto submit = port_access_probe("192.0.2.1", 587, "198.51.100.7", 40123);
  auto probe = from_access_probe(submit, app_info("SMTP", "client.example"), "MAIL", "tcp_local",
                                 "a@x.org", "");
  CHECK(apply_mapping(m, kFromAccess, probe).reject_text == "Authentication required");
  ProbeFlags auth;
  auth.auth = true;
  CHECK(apply_mapping(m, kFromAccess, probe, auth).allow);

  auto conv = apply_mapping(m, kConversions, conversions_probe("tcp_local", "l"));
  CHECK(conv.output == "Yes");
  CHECK_FALSE(apply_mapping(m, kConversions, conversions_probe("l", "tcp_local")).matched);
}
