#include <catch2/catch.hpp>

#include "queue/queue_name.hpp"

using namespace imta::queue;

TEST_CASE("retry prefixes count attempts as complemented base-36 digits", "[queue_name]") {
  CHECK(retry_prefix(0) == "ZZ");
  CHECK(retry_prefix(1) == "ZY");
  CHECK(retry_prefix(2) == "ZX");
  CHECK(retry_prefix(25) == "ZA");
  CHECK(retry_prefix(26) == "Z9");
  CHECK(retry_prefix(35) == "Z0");
  CHECK(retry_prefix(36) == "YZ");
  CHECK(retry_prefix(max_attempts) == "00");
  CHECK(retry_prefix(max_attempts + 10) == "00");
}

TEST_CASE("every prefix decodes to the attempt count it encodes", "[queue_name]") {
  for (unsigned n = 0; n <= max_attempts; ++n) REQUIRE(attempts_from_prefix(retry_prefix(n)) == n);
  CHECK_FALSE(attempts_from_prefix("Z"));
  CHECK_FALSE(attempts_from_prefix("Zz"));
  CHECK_FALSE(attempts_from_prefix("Z-"));
}

TEST_CASE("queue file names parse into attempts, id and held state", "[queue_name]") {
  auto n = parse_queue_file_name("ZY01IS3D2ZP7FQ9UN54R.00");
  REQUIRE(n);
  CHECK(n->attempts == 1);
  CHECK(n->id == "01IS3D2ZP7FQ9UN54R");
  CHECK_FALSE(n->held);
  CHECK(n->str() == "ZY01IS3D2ZP7FQ9UN54R.00");

  auto h = parse_queue_file_name("ZZ01ABC.HELD");
  REQUIRE(h);
  CHECK(h->held);
  CHECK(h->str() == "ZZ01ABC.HELD");

  CHECK_FALSE(parse_queue_file_name(".tmp.ZZ01ABC.00x"));
  CHECK_FALSE(parse_queue_file_name("ZZ.00"));
  CHECK_FALSE(parse_queue_file_name("ZZ01abc.00"));
  CHECK_FALSE(parse_queue_file_name("ZZ01ABC"));
}
