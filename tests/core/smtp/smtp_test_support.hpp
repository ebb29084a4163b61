// Shared by the SMTP parser tests: readable failure messages for replies and
// mailboxes, a fixed-seed random source, and input mutation for the
// robustness tests (a small, deterministic cousin of fuzz_smtp.cpp).
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "core/smtp/address.hpp"
#include "core/smtp/reply.hpp"

namespace Catch {
template <>
struct StringMaker<imta::core::smtp::Reply> {
  static std::string convert(const imta::core::smtp::Reply& r) {
    return "{" + std::to_string(r.code) + " \"" + r.enhanced + "\" \"" + r.text + "\"}";
  }
};
template <>
struct StringMaker<imta::core::smtp::Mailbox> {
  static std::string convert(const imta::core::smtp::Mailbox& m) {
    return "{local \"" + m.local + "\" domain \"" + m.domain + "\"}";
  }
};
}  // namespace Catch

namespace imta::test {

/// Fixed seed: a failure found once is found again.
inline std::mt19937& test_rng() {
  static std::mt19937 rng(20240611);
  return rng;
}

inline std::size_t pick(std::size_t n) {
  return std::uniform_int_distribution<std::size_t>(0, n - 1)(test_rng());
}

/// One to four random edits of `seed`: flip, insert, delete or duplicate
/// bytes, favouring the bytes parsers care about.
inline std::string mutate(std::string_view seed) {
  using namespace std::string_view_literals;
  static constexpr std::string_view interesting = "<>@:\"\\.,=+[] \t\r\n\x00\x7f\xc3\xa9\xff"sv;
  std::string s(seed);
  std::size_t edits = 1 + pick(4);
  for (std::size_t e = 0; e < edits; ++e) {
    char c = pick(2) ? interesting[pick(interesting.size())] : static_cast<char>(pick(256));
    std::size_t at = s.empty() ? 0 : pick(s.size());
    switch (pick(4)) {
      case 0: if (!s.empty()) s[at] = c; break;
      case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c); break;
      case 2: if (!s.empty()) s.erase(at, 1 + pick(3)); break;
      default: s.insert(at, s.substr(at, pick(8))); break;
    }
  }
  return s;
}

}  // namespace imta::test
