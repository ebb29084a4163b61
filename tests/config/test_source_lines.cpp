#include <catch2/catch.hpp>

#include <map>

#include "config/source_lines.hpp"

using namespace imta::config;

namespace {
// Include files served from memory, so the include logic is tested without disk.
IncludeLoader from_map(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::filesystem::path& p) -> std::optional<std::string> {
    auto it = files.find(p.string());
    if (it == files.end()) return std::nullopt;
    return it->second;
  };
}
}  // namespace

TEST_CASE("comment lines vanish, blank lines stay, locations are kept", "[source_lines]") {
  Diagnostics d;
  auto lines = split_source("a\n! comment\n\n  ! indented comment\nb\r\n", "/c/imta.cnf", {}, d);
  REQUIRE(d.ok());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].text == "a");
  CHECK(lines[0].where.line == 1);
  CHECK(lines[1].blank());
  CHECK(lines[1].where.line == 3);
  CHECK(lines[2].text == "b");
  CHECK(lines[2].where.str() == "/c/imta.cnf:5");
}

TEST_CASE("continuation joins lines, skipping comments inside", "[source_lines]") {
  Diagnostics d;
  ReadOptions o;
  o.continuation = true;
  o.comment_chars = "!#;";
  auto lines = split_source("A=1\\\n# note\n2\nB=3\\\n", "opt", o, d);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].text == "A=12");
  CHECK(lines[0].where.line == 1);
  REQUIRE(d.error_count() == 1);
  CHECK(d.items()[0].str() == "opt:4: continuation line at end of file");
}

TEST_CASE("includes resolve relative to the including file, with a depth limit", "[source_lines]") {
  Diagnostics d;
  auto load = from_map({{"/c/rules", "x.org $U@l\n<more\n"},
                        {"/c/more", "y.org $U@l\n"},
                        {"/c/loop", "<loop\n"}});
  auto lines = split_source("first\n</c/rules\nlast\n", "/c/imta.cnf", {}, d, load);
  REQUIRE(d.ok());
  REQUIRE(lines.size() == 4);
  CHECK(lines[1].text == "x.org $U@l");
  CHECK(lines[1].where.str() == "/c/rules:1");
  CHECK(lines[2].where.str() == "/c/more:1");
  CHECK(lines[3].text == "last");

  Diagnostics d2;
  split_source("<loop\n", "/c/imta.cnf", {}, d2, load);
  REQUIRE(d2.error_count() == 1);
  CHECK(d2.items()[0].message.find("nested deeper than 3 levels") != std::string::npos);

  Diagnostics d3;
  split_source("<missing\n", "/c/imta.cnf", {}, d3, load);
  REQUIRE(d3.error_count() == 1);
  CHECK(d3.items()[0].str() == "/c/imta.cnf:1: cannot read included file \"/c/missing\"");
}
