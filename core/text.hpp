// Small text helpers shared by every parser: case folding, trimming, splitting
// and the Sun-style integer syntax. Pure functions, no allocation surprises.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imta::core {

/// ASCII lower-casing (mail syntax is ASCII; locale must never change results).
std::string to_lower(std::string_view s);
/// ASCII upper-casing.
std::string to_upper(std::string_view s);
/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);
/// ASCII case-insensitive prefix test.
bool istarts_with(std::string_view s, std::string_view prefix);

/// True for space and horizontal tab (the only blanks config files know).
constexpr bool is_blank(char c) { return c == ' ' || c == '\t'; }

/// Removes leading and trailing blanks, CR and LF.
std::string_view trim(std::string_view s);

/// Splits on runs of blanks. Double-quoted runs stay one word, quotes removed
/// (used for `backoff "pt5m" "pt10m"`). An unterminated quote keeps the rest.
std::vector<std::string> split_words(std::string_view s);

/// Parses a decimal integer, or Sun's radix form `b%v` (`16%1FF`, `8%777`).
/// Optional leading sign. Returns nullopt on any stray character or overflow.
std::optional<std::int64_t> parse_integer(std::string_view s);

}  // namespace imta::core
