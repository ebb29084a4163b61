// xtext encoding (RFC 3461 §4); see xtext.hpp.
#include "core/smtp/xtext.hpp"

namespace imta::core::smtp {
namespace {

bool stands_for_itself(unsigned char c) { return c >= '!' && c <= '~' && c != '+' && c != '='; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string xtext_encode(std::string_view raw) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    auto u = static_cast<unsigned char>(c);
    if (stands_for_itself(u)) {
      out += c;
    } else {
      out += '+';
      out += digits[u >> 4];
      out += digits[u & 0xf];
    }
  }
  return out;
}

std::optional<std::string> xtext_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto u = static_cast<unsigned char>(text[i]);
    if (stands_for_itself(u)) {
      out += text[i];
      continue;
    }
    if (u != '+' || text.size() - i < 3) return std::nullopt;
    int hi = hex_value(text[i + 1]);
    int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

bool is_xtext(std::string_view text) { return xtext_decode(text).has_value(); }

}  // namespace imta::core::smtp
