#include <catch2/catch.hpp>

#include "core/text.hpp"

using namespace imta::core;

TEST_CASE("integers accept decimal and Sun's b%v radix form", "[text]") {
  CHECK(parse_integer("1024") == 1024);
  CHECK(parse_integer(" -3 ") == -3);
  CHECK(parse_integer("16%1FF") == 0x1FF);
  CHECK(parse_integer("8%777") == 0777);
  CHECK(parse_integer("2%101") == 5);
  CHECK_FALSE(parse_integer(""));
  CHECK_FALSE(parse_integer("12x"));
  CHECK_FALSE(parse_integer("8%9"));
  CHECK_FALSE(parse_integer("37%1"));
  CHECK_FALSE(parse_integer("99999999999999999999"));
}

TEST_CASE("words split on blanks and keep quoted runs together", "[text]") {
  CHECK(split_words("backoff \"pt5m\"  \"pt10m\"") ==
        std::vector<std::string>{"backoff", "pt5m", "pt10m"});
  CHECK(split_words("  a\tb  ") == std::vector<std::string>{"a", "b"});
  CHECK(split_words("x \"two words\"") == std::vector<std::string>{"x", "two words"});
  CHECK(split_words("   ").empty());
}

TEST_CASE("case-insensitive helpers are ASCII-only", "[text]") {
  CHECK(iequals("TCP_Local", "tcp_local"));
  CHECK_FALSE(iequals("tcp", "tcp_"));
  CHECK(istarts_with("LOG_CONNECTION", "log_"));
  CHECK(to_lower("Example.ORG") == "example.org");
  CHECK(trim(" \tx y\r\n") == "x y");
}

TEST_CASE("numbers are written without printf, padded as asked", "[text]") {
  std::string out = "x";
  append_decimal(out, 0);
  append_decimal(out, 250);
  append_decimal(out, 7, 2);
  append_decimal(out, 12345, 3);  // wider than asked: every digit
  append_decimal(out, 18446744073709551615ull);
  CHECK(out == "x02500712345" "18446744073709551615");
  char field[8];
  put_digits(field, 0xDEADBEEF, 8, 16);
  CHECK(std::string(field, 8) == "DEADBEEF");
  put_digits(field, 42, 8);
  CHECK(std::string(field, 8) == "00000042");
  put_digits(field, 123456789, 4);  // the last digits only
  CHECK(std::string(field, 4) == "6789");
}
