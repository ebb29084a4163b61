// Small text helpers shared by every parser: case folding, trimming, splitting
// and the Sun-style integer syntax. Pure functions, no allocation surprises.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imta::core {

/// ASCII lower-casing (mail syntax is ASCII; locale must never change results).
std::string to_lower(std::string_view s);
/// ASCII upper-casing.
std::string to_upper(std::string_view s);
/// One character, ASCII lower-cased.
inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
/// ASCII case-insensitive equality.
inline bool iequals(std::string_view a, std::string_view b) {  // (inline: it runs for every lookup by name)
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i] && ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}
/// The pieces joined, the result sized once.
std::string concat(std::initializer_list<std::string_view> pieces);
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

/// `text` with CRLF line ends turned into LF (what Unix programs expect);
/// a lone CR or LF is kept.
std::string to_lf(std::string_view text);
/// The same, appended to `out`.
void append_lf(std::string& out, std::string_view text);
/// `text` with every line ending in CRLF (bare LF and CR become CRLF), and a
/// final CRLF added when the text does not end with a line end.
std::string to_crlf(std::string_view text);

/// The value of the first `name` field (case-insensitive) of the header
/// section of `message` (CRLF line ends; the section ends at the first empty
/// line), continuation lines unfolded, trimmed; "" when there is none.
std::string header_field(std::string_view message, std::string_view name);

/// Appends `value` in decimal, zero-padded to at least `width` digits.
/// (snprintf costs a few thousand instructions a call; this runs for every
/// reply, log entry and queue file.)
void append_decimal(std::string& out, std::uint64_t value, int width = 0);
/// Writes the last `width` digits of `value` at `at`, zero-padded: decimal,
/// or upper-case hexadecimal with base 16. No terminating NUL.
void put_digits(char* at, std::uint64_t value, int width, unsigned base = 10);

}  // namespace imta::core
