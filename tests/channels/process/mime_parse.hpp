// A small MIME reader for the tests: splits a message into header fields
// and body, and a multipart body into its parts by the boundary. Strict
// about CRLF: a bare LF in a report is a bug the tests should see.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/text.hpp"

namespace imta::testing {

struct Entity {
  std::vector<std::pair<std::string, std::string>> fields;  ///< unfolded, in order
  std::string body;

  /// The value of the first field `name` ("" when absent); `count` how many.
  std::string field(std::string_view name) const {
    for (const auto& [n, v] : fields)
      if (core::iequals(n, name)) return v;
    return {};
  }
  std::size_t count(std::string_view name) const {
    std::size_t c = 0;
    for (const auto& f : fields) c += core::iequals(f.first, name) ? 1 : 0;
    return c;
  }
};

inline Entity parse_entity(std::string_view text) {
  Entity e;
  auto end = text.find("\r\n\r\n");
  std::string_view head = text.substr(0, end == std::string_view::npos ? text.size() : end + 2);
  e.body = end == std::string_view::npos ? std::string() : std::string(text.substr(end + 4));
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto eol = head.find("\r\n", pos);
    REQUIRE(eol != std::string_view::npos);
    std::string_view line = head.substr(pos, eol - pos);
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      REQUIRE_FALSE(e.fields.empty());
      e.fields.back().second += " " + std::string(core::trim(line));
    } else {
      auto colon = line.find(':');
      REQUIRE(colon != std::string_view::npos);
      e.fields.emplace_back(std::string(line.substr(0, colon)), std::string(core::trim(line.substr(colon + 1))));
    }
    pos = eol + 2;
  }
  return e;
}

/// The boundary parameter of a Content-Type value.
inline std::string boundary_of(const std::string& content_type) {
  auto at = content_type.find("boundary=\"");
  REQUIRE(at != std::string::npos);
  auto start = at + 10;
  auto end = content_type.find('"', start);
  REQUIRE(end != std::string::npos);
  return content_type.substr(start, end - start);
}

/// The parts of a multipart body (text between the delimiters, without the
/// CRLF that belongs to the next delimiter); checks the closing delimiter.
inline std::vector<std::string> split_parts(const std::string& body, const std::string& boundary) {
  std::vector<std::string> parts;
  const std::string delim = "\r\n--" + boundary;
  std::string text = "\r\n" + body;  // the first delimiter may start the body
  auto pos = text.find(delim);
  REQUIRE(pos != std::string::npos);
  while (true) {
    pos += delim.size();
    if (text.compare(pos, 2, "--") == 0) {
      CHECK(text.compare(pos + 2, 2, "\r\n") == 0);
      break;
    }
    REQUIRE(text.compare(pos, 2, "\r\n") == 0);
    pos += 2;
    auto next = text.find(delim, pos);
    REQUIRE(next != std::string::npos);
    parts.push_back(text.substr(pos, next - pos));
    pos = next;
  }
  return parts;
}

/// The field groups of a message/delivery-status body: the per-message
/// group first, then one per recipient.
inline std::vector<Entity> status_groups(const std::string& body) {
  std::vector<Entity> groups;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find("\r\n\r\n", pos);
    std::string block = body.substr(pos, end == std::string::npos ? std::string::npos : end + 2 - pos);
    if (!block.empty()) groups.push_back(parse_entity(block + "\r\n"));
    if (end == std::string::npos) break;
    pos = end + 4;
  }
  return groups;
}

}  // namespace imta::testing
