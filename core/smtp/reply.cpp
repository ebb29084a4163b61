// Reply formatting and parsing; see reply.hpp.
#include "core/smtp/reply.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace imta::core::smtp {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Control characters in reply text could end a line early or smuggle a fake
// reply to the client; '?' keeps the text readable and the framing intact.
char printable(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u < 0x20 || u == 0x7f) ? '?' : c;
}

// Written straight into `out` (the session's output buffer): no line or
// number strings of its own.
void append_line(std::string& out, const Reply& reply, std::string_view text, bool last) {
  const std::size_t start = out.size();
  append_decimal(out, static_cast<std::uint64_t>(std::clamp(reply.code, 0, 999)));
  out += last ? ' ' : '-';
  if (!reply.enhanced.empty()) {
    out += reply.enhanced;
    if (!text.empty()) out += ' ';
  }
  const std::size_t text_at = out.size();
  out.append(text);
  for (std::size_t i = text_at; i < out.size(); ++i) out[i] = printable(out[i]);
  if (out.size() - start > max_reply_line - 2) out.resize(start + max_reply_line - 2);
  // A bare code is a legal last line ("250"); drop the separator we added.
  if (last && out.size() - start == 4) out.resize(start + 3);
  out += "\r\n";
}

// Digits 1..3 at s[pos...]; returns the position after them or npos.
std::size_t skip_digits(std::string_view s, std::size_t pos) {
  std::size_t start = pos;
  while (pos < s.size() && pos - start < 3 && is_digit(s[pos])) ++pos;
  return pos == start ? std::string_view::npos : pos;
}

// The enhanced code that opens `text` when its class matches `code`.
std::string_view leading_enhanced(std::string_view text, int code) {
  std::size_t end = text.find(' ');
  std::string_view word = text.substr(0, end);
  if (!is_enhanced_code(word)) return {};
  if (word[0] - '0' != code / 100) return {};
  return word;
}

}  // namespace

std::string to_wire(const Reply& reply) {
  std::string out;
  append_wire(out, reply);
  return out;
}

void append_wire(std::string& out, const Reply& reply) {
  std::string_view rest = reply.text;
  for (;;) {
    std::size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      append_line(out, reply, rest, true);
      return;
    }
    append_line(out, reply, rest.substr(0, nl), false);
    rest.remove_prefix(nl + 1);
  }
}

std::vector<std::string_view> reply_lines(const Reply& reply) {
  std::vector<std::string_view> lines;
  std::string_view rest = reply.text;
  for (;;) {
    std::size_t nl = rest.find('\n');
    lines.push_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return lines;
}

bool is_enhanced_code(std::string_view s) {
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t pos = skip_digits(s, 2);
  if (pos == std::string_view::npos || pos >= s.size() || s[pos] != '.') return false;
  pos = skip_digits(s, pos + 1);
  return pos == s.size();
}

ReplyParser::Status ReplyParser::fail(std::string why) {
  error_ = std::move(why);
  done_ = true;
  return Status::malformed;
}

ReplyParser::Status ReplyParser::feed_line(std::string_view line) {
  if (done_) *this = ReplyParser{};
  bool code_ok = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && is_digit(line[1]) &&
                 is_digit(line[2]);
  if (!code_ok) return fail("reply line does not start with a three-digit code");
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (!lines_.empty() && code != reply_.code) return fail("reply lines carry different codes");
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-')
    return fail("reply code is not followed by a space or a hyphen");
  if (lines_.size() >= max_lines) return fail("reply has too many lines");
  reply_.code = code;
  lines_.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view{});
  if (line.size() > 3 && line[3] == '-') return Status::need_more;
  finish();
  return Status::complete;
}

void ReplyParser::finish() {
  done_ = true;
  std::string enhanced{leading_enhanced(lines_.front(), reply_.code)};
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    std::string_view line = lines_[i];
    bool repeats = !enhanced.empty() && line.substr(0, enhanced.size()) == enhanced &&
                   (line.size() == enhanced.size() || line[enhanced.size()] == ' ');
    if (repeats) line.remove_prefix(std::min(line.size(), enhanced.size() + 1));
    if (i > 0) reply_.text += '\n';
    reply_.text += line;
  }
  reply_.enhanced = std::move(enhanced);
}

}  // namespace imta::core::smtp
