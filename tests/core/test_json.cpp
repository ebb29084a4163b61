// The JSON writer behind `--json` output: what a consumer (jq, json.loads)
// reads back must be exactly what was written, on one line.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/json.hpp"

using imta::core::json_quote;
using imta::core::JsonWriter;

TEST_CASE("plain strings are quoted as they are", "[json]") {
  CHECK(json_quote("") == R"("")");
  CHECK(json_quote("user@example.org") == R"("user@example.org")");
  CHECK(json_quote("a/b") == R"("a/b")");
}

TEST_CASE("quote, backslash and every control character are escaped", "[json]") {
  CHECK(json_quote("say \"hi\"") == R"("say \"hi\"")");
  CHECK(json_quote("C:\\dir") == R"("C:\\dir")");
  CHECK(json_quote("a\nb\rc\td\be\ff") == R"("a\nb\rc\td\be\ff")");
  CHECK(json_quote(std::string("\x00\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
  // DEL is not a control character for JSON: passed as it is.
  CHECK(json_quote("\x7f") == "\"\x7f\"");
  // No raw newline can ever end up in a line of output.
  std::string all;
  for (int c = 0; c < 0x20; ++c) all += static_cast<char>(c);
  const auto quoted = json_quote(all);
  for (char c : quoted) CHECK(static_cast<unsigned char>(c) >= 0x20);
}

TEST_CASE("UTF-8 passes through unchanged", "[json]") {
  CHECK(json_quote("Grüße") == "\"Grüße\"");
  CHECK(json_quote("用户@例子.中国") == "\"用户@例子.中国\"");
  CHECK(json_quote("\xF0\x9F\x93\xA7") == "\"\xF0\x9F\x93\xA7\"");  // U+1F4E7, four bytes
}

TEST_CASE("invalid UTF-8 becomes U+FFFD, one per bad byte", "[json]") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(json_quote("a\xFFz") == "\"a" + fffd + "z\"");
  CHECK(json_quote("\xC3") == "\"" + fffd + "\"");                       // truncated sequence
  CHECK(json_quote("\xC0\xAF") == "\"" + fffd + fffd + "\"");            // overlong '/'
  CHECK(json_quote("\xED\xA0\x80") == "\"" + fffd + fffd + fffd + "\""); // surrogate U+D800
  CHECK(json_quote("\xF4\x90\x80\x80") == "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
  CHECK(json_quote("\xC3\xA9\x80") == "\"\xC3\xA9" + fffd + "\"");      // stray continuation
}

TEST_CASE("objects and arrays nest with commas in the right places", "[json]") {
  JsonWriter w;
  w.begin_object()
      .field("file", "ZZ01ABC.00")
      .field("size", std::uint64_t{1234})
      .field("attempts", 0)
      .field("delta", -5)
      .field("held", false)
      .key("next_retry").null()
      .key("recipients").begin_array();
  for (int i = 0; i < 2; ++i)
    w.begin_object().field("address", "r" + std::to_string(i) + "@x").field("ok", true).end_object();
  w.end_array().key("empty").begin_array().end_array().key("obj").begin_object().end_object().end_object();
  CHECK(w.complete());
  CHECK(w.str() ==
        R"({"file":"ZZ01ABC.00","size":1234,"attempts":0,"delta":-5,"held":false,"next_retry":null,)"
        R"("recipients":[{"address":"r0@x","ok":true},{"address":"r1@x","ok":true}],"empty":[],"obj":{}})");
}

TEST_CASE("integers keep their full range", "[json]") {
  JsonWriter w;
  w.begin_array()
      .value(std::numeric_limits<std::int64_t>::min())
      .value(std::numeric_limits<std::uint64_t>::max())
      .value(short{7})
      .end_array();
  CHECK(w.str() == "[-9223372036854775808,18446744073709551615,7]");
}

TEST_CASE("keys are escaped like strings", "[json]") {
  JsonWriter w;
  w.begin_object().field("a\"b", "c").end_object();
  CHECK(w.str() == R"({"a\"b":"c"})");
}

TEST_CASE("misuse is caught instead of writing broken JSON", "[json]") {
  {
    JsonWriter w;
    w.begin_object();
    CHECK_THROWS_AS(w.value("no key"), std::logic_error);
  }
  {
    JsonWriter w;
    CHECK_THROWS_AS(w.key("k"), std::logic_error);
  }
  {
    JsonWriter w;
    w.begin_array();
    CHECK_THROWS_AS(w.end_object(), std::logic_error);
    CHECK_FALSE(w.complete());
  }
  {
    JsonWriter w;
    w.value(1);
    CHECK_THROWS_AS(w.value(2), std::logic_error);
  }
}

TEST_CASE("clear starts the next line of a stream", "[json]") {
  JsonWriter w;
  w.begin_object().field("n", 1).end_object();
  w.clear();
  w.begin_object().field("n", 2).end_object();
  CHECK(w.str() == R"({"n":2})");
}
