#include "core/text.hpp"

#include <charconv>
#include <limits>

namespace imta::core {

namespace {
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
}  // namespace

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = upper(c);
  return out;
}

std::string concat(std::initializer_list<std::string_view> pieces) {
  std::size_t size = 0;
  for (auto p : pieces) size += p.size();
  std::string out;
  out.reserve(size);
  for (auto p : pieces) out += p;
  return out;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  auto junk = [](char c) { return is_blank(c) || c == '\r' || c == '\n'; };
  while (!s.empty() && junk(s.front())) s.remove_prefix(1);
  while (!s.empty() && junk(s.back())) s.remove_suffix(1);
  return s;
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) ++i;
    if (i >= s.size()) break;
    std::string word;
    while (i < s.size() && !is_blank(s[i])) {
      if (s[i] == '"') {
        ++i;
        while (i < s.size() && s[i] != '"') word += s[i++];
        if (i < s.size()) ++i;  // closing quote
      } else {
        word += s[i++];
      }
    }
    words.push_back(std::move(word));
  }
  return words;
}

std::optional<std::int64_t> parse_integer(std::string_view s) {
  s = trim(s);
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  int base = 10;
  if (auto pct = s.find('%'); pct != std::string_view::npos) {
    int b = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + pct, b);
    if (ec != std::errc{} || p != s.data() + pct || b < 2 || b > 36) return std::nullopt;
    base = b;
    s.remove_prefix(pct + 1);
  }
  if (s.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    int digit;
    const char lower = ascii_lower(c);
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (lower >= 'a' && lower <= 'z') digit = lower - 'a' + 10;
    else return std::nullopt;
    if (digit >= base) return std::nullopt;
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / base) return std::nullopt;
    value = value * base + digit;
  }
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (value > max + (negative ? 1 : 0)) return std::nullopt;
  if (negative) return value == max + 1 ? std::numeric_limits<std::int64_t>::min()
                                        : -static_cast<std::int64_t>(value);
  return static_cast<std::int64_t>(value);
}

void append_lf(std::string& out, std::string_view text) {
  // Whole runs up to each CRLF at a time, the CR left out.
  std::size_t from = 0;
  for (auto crlf = text.find("\r\n"); crlf != std::string_view::npos; crlf = text.find("\r\n", from)) {
    out.append(text, from, crlf - from);
    out += '\n';
    from = crlf + 2;
  }
  out.append(text, from, std::string_view::npos);
}

std::string to_lf(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_lf(out, text);
  return out;
}

std::string to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32 + 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
  return out;
}

std::string header_field(std::string_view message, std::string_view name) {
  std::size_t pos = 0;
  while (pos < message.size()) {
    auto eol = message.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (line.empty()) break;  // the end of the header section
    auto colon = line.find(':');
    if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), name)) {
      std::string value(line.substr(colon + 1));
      // Continuation lines start with a blank.
      std::size_t next = eol + 2;
      while (next < message.size() && (message[next] == ' ' || message[next] == '\t')) {
        auto e = message.find("\r\n", next);
        if (e == std::string_view::npos) e = message.size();
        value += message.substr(next, e - next);
        next = e + 2;
      }
      return std::string(trim(value));
    }
    pos = eol + 2;
  }
  return {};
}

void put_digits(char* at, std::uint64_t value, int width, unsigned base) {
  static constexpr char digits[] = "0123456789ABCDEF";
  for (int i = width - 1; i >= 0; --i, value /= base) at[i] = digits[value % base];
}

void append_decimal(std::string& out, std::uint64_t value, int width) {
  int n = 1;
  for (std::uint64_t v = value; v >= 10; v /= 10) ++n;
  if (width < n) width = n;
  const std::size_t at = out.size();
  out.resize(at + static_cast<std::size_t>(width));
  put_digits(out.data() + at, value, width);
}

}  // namespace imta::core
