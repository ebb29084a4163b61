// address_text(): how the dispatcher writes a client's and its own address
// into PORT_ACCESS probes, O/C/E records and the session's replies.
#include <asio/ip/address.hpp>
#include <catch2/catch.hpp>

#include "dispatcher/connection.hpp"

using imta::dispatcher::address_text;

TEST_CASE("IPv4 addresses are dotted quads", "[dispatcher][address]") {
  CHECK(address_text(asio::ip::make_address("127.0.0.1")) == "127.0.0.1");
  CHECK(address_text(asio::ip::make_address("0.0.0.0")) == "0.0.0.0");
  CHECK(address_text(asio::ip::make_address("255.255.255.255")) == "255.255.255.255");
  CHECK(address_text(asio::ip::make_address("192.168.10.200")) == "192.168.10.200");
}

TEST_CASE("an IPv4-mapped IPv6 address is written as the IPv4 address", "[dispatcher][address]") {
  CHECK(address_text(asio::ip::make_address("::ffff:10.1.2.3")) == "10.1.2.3");
}

TEST_CASE("IPv6 addresses keep their usual text", "[dispatcher][address]") {
  CHECK(address_text(asio::ip::make_address("::1")) == "::1");
  CHECK(address_text(asio::ip::make_address("2001:db8::25")) == "2001:db8::25");
}
