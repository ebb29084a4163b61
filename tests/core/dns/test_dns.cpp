// The resolver's pure parts, without sockets: server lists, resolv.conf,
// names, the wire format both ways (answers made with ldns here), what an
// answer means, the cache (with a stepped clock), MX order and literals,
// and the option.dat settings.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>

#include "core/dns/ldns.hpp"

#include "channels/tcp/dns_options.hpp"
#include "config/options.hpp"
#include "config/source_lines.hpp"
#include "core/dns/cache.hpp"
#include "core/dns/message.hpp"
#include "core/dns/resolver.hpp"
#include "core/dns/servers.hpp"
#include "core/dns/targets.hpp"

using namespace imta::core::dns;
using asio::ip::make_address;
using asio::ip::udp;

namespace {

udp::endpoint ep(const char* ip, unsigned short port = 53) { return udp::endpoint(make_address(ip), port); }

/// The wire bytes of an answer, written as zone-file lines with ldns.
std::vector<std::uint8_t> make_answer(std::uint16_t id, const std::string& qname, RrType qtype, std::uint8_t rcode,
                                      const std::vector<std::string>& answer,
                                      const std::vector<std::string>& authority = {}, bool aa = true,
                                      bool tc = false) {
  ldns_pkt* pkt = ldns_pkt_new();
  ldns_pkt_set_id(pkt, id);
  ldns_pkt_set_qr(pkt, true);
  ldns_pkt_set_aa(pkt, aa);
  ldns_pkt_set_tc(pkt, tc);
  ldns_pkt_set_rcode(pkt, rcode);
  ldns_rr* question = nullptr;
  std::string q = qname + ". IN " + (qtype == RrType::mx ? "MX" : qtype == RrType::a ? "A" : "AAAA");
  REQUIRE(ldns_rr_new_question_frm_str(&question, q.c_str(), nullptr, nullptr) == LDNS_STATUS_OK);
  ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, question);
  auto push = [&](const std::vector<std::string>& lines, ldns_pkt_section section) {
    for (const auto& line : lines) {
      ldns_rr* rr = nullptr;
      INFO(line);
      REQUIRE(ldns_rr_new_frm_str(&rr, line.c_str(), 0, nullptr, nullptr) == LDNS_STATUS_OK);
      ldns_pkt_push_rr(pkt, section, rr);
    }
  };
  push(answer, LDNS_SECTION_ANSWER);
  push(authority, LDNS_SECTION_AUTHORITY);
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  REQUIRE(ldns_pkt2wire(&wire, pkt, &size) == LDNS_STATUS_OK);
  std::vector<std::uint8_t> bytes(wire, wire + size);
  std::free(wire);
  ldns_pkt_free(pkt);
  return bytes;
}

Response answer(const std::vector<std::uint8_t>& wire) {
  auto r = parse_response(wire);
  REQUIRE(r.has_value());
  return *r;
}

const std::string soa = "example.test. 300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60";

}  // namespace

TEST_CASE("servers are written ip, ip:port or [ipv6]:port", "[dns]") {
  CHECK(parse_server("192.0.2.1") == ep("192.0.2.1"));
  CHECK(parse_server("127.0.0.1:5353") == ep("127.0.0.1", 5353));
  CHECK(parse_server("::1") == ep("::1"));
  CHECK(parse_server("[::1]:5353") == ep("::1", 5353));
  CHECK(parse_server("[2001:db8::1]") == ep("2001:db8::1"));
  for (const char* bad : {"", "localhost", "dns.example:53", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                          "127.0.0.1:53x", "[::1]:", "[::1", "[127.0.0.1]:53", "256.1.1.1", "[::1]x"}) {
    INFO(bad);
    CHECK_FALSE(parse_server(bad));
  }
  auto list = parse_server_list("127.0.0.1:5353, [::1]:53  10.0.0.1,\t192.0.2.7");
  REQUIRE(list);
  CHECK(*list == std::vector<udp::endpoint>{ep("127.0.0.1", 5353), ep("::1"), ep("10.0.0.1"), ep("192.0.2.7")});
  CHECK(parse_server_list("")->empty());
  CHECK(parse_server_list(" , ")->empty());
  CHECK_FALSE(parse_server_list("127.0.0.1, nameserver.example"));
}

TEST_CASE("resolv.conf gives its first three nameservers", "[dns]") {
  const std::string text =
      "# generated\n"
      "search example.org\n"
      "nameserver 192.0.2.53   # the office\n"
      "; nameserver 192.0.2.99\n"
      "nameserver\tnot-an-address\n"
      "  nameserver 2001:db8::53\n"
      "options timeout:1 attempts:3\n"
      "nameserver 198.51.100.53\n"
      "nameserver 203.0.113.53\n";
  CHECK(parse_resolv_conf(text) == std::vector<udp::endpoint>{ep("192.0.2.53"), ep("2001:db8::53"),
                                                               ep("198.51.100.53")});
  CHECK(parse_resolv_conf("").empty());
  CHECK(parse_resolv_conf("nameservers 192.0.2.1\nnameserver\n").empty());
  CHECK(parse_resolv_conf("nameserver 192.0.2.1") == std::vector<udp::endpoint>{ep("192.0.2.1")});
  CHECK(default_server() == ep("127.0.0.1"));
}

TEST_CASE("names are lower case, without the trailing dot, and well formed", "[dns]") {
  CHECK(normalize_name("Example.TEST.") == "example.test");
  CHECK(normalize_name("_dmarc.mx-1.example.test") == "_dmarc.mx-1.example.test");
  CHECK(normalize_name(std::string(63, 'a') + ".test"));
  for (std::string bad : {std::string(), std::string("."), std::string("a..b"), std::string(".a"),
                          std::string("a b.test"), std::string("ex\xc3\xa9.test"), std::string(64, 'a') + ".test",
                          std::string("[127.0.0.1]"), std::string("a\\.b")}) {
    INFO(bad);
    CHECK_FALSE(normalize_name(bad));
  }
  std::string long_name;
  while (long_name.size() < 250) long_name += "abcdefghi.";
  CHECK_FALSE(normalize_name(long_name + "test"));
}

TEST_CASE("a query is a recursive question with our id and EDNS0", "[dns]") {
  auto wire = build_query("example.test", RrType::mx, 0x1234);
  REQUIRE(wire.size() > 12);
  CHECK(wire[0] == 0x12);
  CHECK(wire[1] == 0x34);
  CHECK((wire[2] & 0x01) == 0x01);  // RD
  CHECK(wire[11] == 1);             // ARCOUNT: the OPT record
  auto parsed = parse_response(wire);
  REQUIRE(parsed);
  CHECK_FALSE(parsed->qr);
  CHECK(parsed->question_names == std::vector<std::string>{"example.test"});
  CHECK(parsed->question_types == std::vector<std::uint16_t>{15});
  auto plain = build_query("example.test", RrType::a, 7, 0);
  CHECK(plain[11] == 0);  // no OPT record
}

TEST_CASE("an answer must match our id and question", "[dns]") {
  auto r = answer(make_answer(77, "Example.Test", RrType::mx, 0, {"example.test. 300 IN MX 10 mx1.example.test."}));
  CHECK(answers_query(r, 77, "example.test", RrType::mx));
  CHECK_FALSE(answers_query(r, 78, "example.test", RrType::mx));
  CHECK_FALSE(answers_query(r, 77, "other.test", RrType::mx));
  CHECK_FALSE(answers_query(r, 77, "example.test", RrType::a));
  auto query = parse_response(build_query("example.test", RrType::mx, 77));
  REQUIRE(query);
  CHECK_FALSE(answers_query(*query, 77, "example.test", RrType::mx));  // not a response
  std::vector<std::uint8_t> garbage{0x00, 0x4d, 0x81, 0x80, 0x00};
  CHECK_FALSE(parse_response(garbage));
}

TEST_CASE("answers are read into records", "[dns]") {
  auto r = answer(make_answer(1, "example.test", RrType::mx, 0,
                              {"example.test. 300 IN MX 20 MX2.Example.Test.", "example.test. 200 IN MX 10 mx1.example.test.",
                               "mx1.example.test. 100 IN A 127.0.0.5", "mx1.example.test. 100 IN AAAA ::1"}));
  REQUIRE(r.answers.size() == 4);
  CHECK(r.answers[0].preference == 20);
  CHECK(r.answers[0].target == "mx2.example.test");
  CHECK(r.answers[1].ttl == 200);
  CHECK(r.answers[2].address == make_address("127.0.0.5"));
  CHECK(r.answers[3].address == make_address("::1"));
  auto null_mx = answer(make_answer(1, "nomail.test", RrType::mx, 0, {"nomail.test. 300 IN MX 0 ."}));
  REQUIRE(null_mx.answers.size() == 1);
  CHECK(null_mx.answers[0].target.empty());
}

TEST_CASE("what an answer means", "[dns]") {
  SECTION("records of the type asked: ok, cached for the smallest TTL") {
    auto res = interpret(answer(make_answer(1, "example.test", RrType::mx, 0,
                                            {"example.test. 300 IN MX 10 mx1.example.test.",
                                             "example.test. 120 IN MX 20 mx2.example.test."})),
                         "example.test", RrType::mx);
    CHECK(res.status == Status::ok);
    CHECK(res.records.size() == 2);
    CHECK(res.canonical == "example.test");
    CHECK(res.ttl == 120);
    CHECK_FALSE(res.follow);
  }
  SECTION("a CNAME chain inside the answer is followed") {
    auto res = interpret(answer(make_answer(1, "www.example.test", RrType::a, 0,
                                            {"www.example.test. 60 IN CNAME web.example.test.",
                                             "web.example.test. 300 IN CNAME host.example.test.",
                                             "host.example.test. 300 IN A 127.0.0.9",
                                             "other.example.test. 300 IN A 127.0.0.10"})),
                         "www.example.test", RrType::a);
    CHECK(res.status == Status::ok);
    REQUIRE(res.records.size() == 1);
    CHECK(res.records[0].address == make_address("127.0.0.9"));
    CHECK(res.canonical == "host.example.test");
    CHECK(res.chain == std::vector<std::string>{"www.example.test", "web.example.test", "host.example.test"});
    CHECK(res.ttl == 60);
  }
  SECTION("a CNAME whose target the answer does not cover is asked again") {
    auto res = interpret(answer(make_answer(1, "alias.example.test", RrType::mx, 0,
                                            {"alias.example.test. 300 IN CNAME real.other.test."})),
                         "alias.example.test", RrType::mx);
    CHECK(res.follow);
    CHECK(res.canonical == "real.other.test");
  }
  SECTION("a CNAME to a name with no such records, SOA given: nodata") {
    auto res = interpret(answer(make_answer(1, "alias.example.test", RrType::mx, 0,
                                            {"alias.example.test. 300 IN CNAME host.example.test."}, {soa})),
                         "alias.example.test", RrType::mx);
    CHECK_FALSE(res.follow);
    CHECK(res.status == Status::nodata);
    CHECK(res.ttl == 60);
  }
  SECTION("a CNAME loop is a server-side failure") {
    auto res = interpret(answer(make_answer(1, "a.example.test", RrType::a, 0,
                                            {"a.example.test. 300 IN CNAME b.example.test.",
                                             "b.example.test. 300 IN CNAME a.example.test."})),
                         "a.example.test", RrType::a);
    CHECK(res.status == Status::servfail);
  }
  SECTION("NXDOMAIN: cached by the SOA's negative TTL") {
    auto res = interpret(answer(make_answer(1, "nx.example.test", RrType::mx, 3, {}, {soa})), "nx.example.test",
                         RrType::mx);
    CHECK(res.status == Status::nxdomain);
    CHECK(res.ttl == 60);
    auto without_soa = interpret(answer(make_answer(1, "nx.example.test", RrType::mx, 3, {})), "nx.example.test",
                                 RrType::mx);
    CHECK(without_soa.status == Status::nxdomain);
    CHECK(without_soa.ttl == 0);
  }
  SECTION("NOERROR without records: nodata; without SOA or AA: a referral, servfail") {
    CHECK(interpret(answer(make_answer(1, "example.test", RrType::aaaa, 0, {}, {soa})), "example.test", RrType::aaaa)
              .status == Status::nodata);
    CHECK(interpret(answer(make_answer(1, "example.test", RrType::aaaa, 0, {}, {}, true)), "example.test",
                    RrType::aaaa)
              .status == Status::nodata);
    CHECK(interpret(answer(make_answer(1, "example.test", RrType::aaaa, 0, {},
                                       {"example.test. 300 IN NS ns.example.test."}, false)),
                    "example.test", RrType::aaaa)
              .status == Status::servfail);
  }
  SECTION("the negative TTL is the smaller of the SOA's TTL and its MINIMUM") {
    auto res = interpret(answer(make_answer(1, "example.test", RrType::a, 0, {},
                                            {"example.test. 30 IN SOA ns.example.test. h.example.test. 1 1 1 1 600"})),
                         "example.test", RrType::a);
    CHECK(res.ttl == 30);
  }
}

TEST_CASE("the cache keeps answers for their TTL, capped", "[dns]") {
  auto now = Cache::Clock::time_point{};
  Cache cache(100, [&] { return now; });
  const auto key = Cache::key("127.0.0.1:53,", "example.test", RrType::mx);
  CachedAnswer ok{Status::ok, {Record{"example.test", 15, 300, 10, "mx1.example.test", {}}}, "example.test"};
  cache.store(key, ok, 300);
  CHECK(cache.find(key) == ok);
  CHECK_FALSE(cache.find(Cache::key("127.0.0.2:53,", "example.test", RrType::mx)));  // other servers
  CHECK_FALSE(cache.find(Cache::key("127.0.0.1:53,", "example.test", RrType::a)));
  now += std::chrono::seconds(299);
  CHECK(cache.find(key));
  now += std::chrono::seconds(1);
  CHECK_FALSE(cache.find(key));

  const auto nx = Cache::key("", "nx.test", RrType::mx);
  cache.store(nx, CachedAnswer{Status::nxdomain, {}, "nx.test"}, 86400);
  now += std::chrono::seconds(max_negative_ttl - 1);
  CHECK(cache.find(nx));
  now += std::chrono::seconds(1);
  CHECK_FALSE(cache.find(nx));

  cache.store(key, CachedAnswer{Status::servfail, {}, ""}, 300);
  cache.store(key, CachedAnswer{Status::timeout, {}, ""}, 300);
  cache.store(key, ok, 0);
  CHECK(cache.size() == 0);

  cache.store(key, ok, 1000000);
  now += std::chrono::seconds(max_positive_ttl - 1);
  CHECK(cache.find(key));
  now += std::chrono::seconds(1);
  CHECK_FALSE(cache.find(key));
}

TEST_CASE("a full cache makes room", "[dns]") {
  auto now = Cache::Clock::time_point{};
  Cache cache(3, [&] { return now; });
  CachedAnswer ok{Status::ok, {}, "x"};
  cache.store("a", ok, 10);
  cache.store("b", ok, 100);
  cache.store("c", ok, 100);
  now += std::chrono::seconds(50);
  cache.store("d", ok, 100);  // "a" expired: dropped to make room
  CHECK(cache.size() == 3);
  CHECK(cache.find("d"));
  CHECK(cache.find("b"));
  cache.store("e", ok, 100);  // all alive: the cache starts over
  CHECK(cache.size() == 1);
  CHECK(cache.find("e"));
}

TEST_CASE("MX hosts are tried by preference", "[dns]") {
  std::mt19937_64 random(1);
  std::vector<MxRecord> received{{20, "b.test"}, {10, "a.test"}, {20, "c.test"}, {5, "z.test"}, {30, "a.test"}};
  auto ordered = order_mx(received, false, random);
  CHECK(ordered == std::vector<MxRecord>{{5, "z.test"}, {10, "a.test"}, {20, "b.test"}, {20, "c.test"}});
  CHECK(order_mx({{0, ""}}, false, random).empty());
  CHECK(is_null_mx({{0, ""}}));
  CHECK(is_null_mx({{10, ""}}));
  CHECK_FALSE(is_null_mx({{0, ""}, {10, "mx.test"}}));
  CHECK_FALSE(is_null_mx({}));
  CHECK(order_mx({{0, ""}, {10, "mx.test"}}, false, random) == std::vector<MxRecord>{{10, "mx.test"}});
}

TEST_CASE("randommx shuffles equal preferences only", "[dns]") {
  std::vector<MxRecord> received{{10, "a.test"}, {10, "b.test"}, {10, "c.test"}, {5, "first.test"}, {20, "last.test"}};
  std::set<std::string> orders;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 random(seed);
    auto ordered = order_mx(received, true, random);
    REQUIRE(ordered.size() == 5);
    CHECK(ordered.front().exchange == "first.test");
    CHECK(ordered.back().exchange == "last.test");
    std::string middle;
    for (int i = 1; i <= 3; ++i) {
      CHECK(ordered[static_cast<std::size_t>(i)].preference == 10);
      middle += ordered[static_cast<std::size_t>(i)].exchange.substr(0, 1);
    }
    orders.insert(middle);
  }
  CHECK(orders == std::set<std::string>{"abc", "acb", "bac", "bca", "cab", "cba"});
}

TEST_CASE("domain literals are their address", "[dns]") {
  CHECK(parse_domain_literal("[127.0.0.5]") == make_address("127.0.0.5"));
  CHECK(parse_domain_literal("[IPv6:::1]") == make_address("::1"));
  CHECK(parse_domain_literal("[ipv6:2001:DB8::5]") == make_address("2001:db8::5"));
  CHECK(parse_domain_literal("192.0.2.1") == make_address("192.0.2.1"));
  CHECK(parse_domain_literal("2001:db8::1") == make_address("2001:db8::1"));
  for (const char* bad : {"[::1]", "[IPv6:127.0.0.1]", "[300.1.1.1]", "[example.test]", "[]", "example.test",
                          "[IPv6:fe80::1%eth0]"}) {
    INFO(bad);
    CHECK_FALSE(parse_domain_literal(bad));
  }
  CHECK(looks_like_domain_literal("[x]"));
  CHECK_FALSE(looks_like_domain_literal("x"));
}

TEST_CASE("status texts and classes", "[dns]") {
  CHECK(status_text(Status::ok) == "ok");
  CHECK(status_text(Status::nxdomain) == "nxdomain");
  CHECK(status_text(Status::timeout) == "timeout");
  CHECK(is_temporary(Status::servfail));
  CHECK(is_temporary(Status::timeout));
  CHECK_FALSE(is_temporary(Status::nxdomain));
  CHECK_FALSE(is_temporary(Status::nodata));
  TargetsAnswer t;
  t.status = Status::nodata;
  CHECK(t.permanent());
  t.status = Status::timeout;
  CHECK(t.temporary());
}

TEST_CASE("resolver options come from option.dat", "[dns]") {
  using namespace imta::config;
  Diagnostics diags;
  auto lines = split_source("DNS_SERVERS=127.0.0.1:5353, [::1]:5354\nDNS_TIMEOUT=3\nDNS_ATTEMPTS=4\n",
                            "option.dat", option_file_read_options(), diags);
  auto o = parse_option_dat(lines, diags);
  REQUIRE(diags.ok());
  auto options = imta::channels::tcp::resolver_options_from(o);
  CHECK(options.servers == std::vector<udp::endpoint>{ep("127.0.0.1", 5353), ep("::1", 5354)});
  CHECK(options.timeout == std::chrono::seconds(3));
  CHECK(options.attempts == 4);

  auto defaults = imta::channels::tcp::resolver_options_from(Options(option_dat_registry()));
  CHECK(defaults.servers.empty());  // /etc/resolv.conf
  CHECK(defaults.timeout == std::chrono::seconds(2));
  CHECK(defaults.attempts == 2);
}
