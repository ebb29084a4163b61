// Pure SMTP text helpers of imta-loadgen: reply parsing, command lines,
// dot-stuffing and DATA decoding. See smtp_text.hpp.
#include "tools/loadgen/smtp_text.hpp"

#include <cctype>
#include <charconv>
#include <cstring>

namespace imta::tools::loadgen {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

ReplyParse bad_reply(std::string why) {
  ReplyParse result;
  result.status = ParseStatus::bad;
  result.error = std::move(why);
  return result;
}

}  // namespace

ReplyParse parse_reply(std::string_view buffer) {
  ReplyParse result;
  std::size_t pos = 0;
  while (true) {
    std::string_view rest = buffer.substr(pos);
    std::size_t lf = rest.substr(0, max_reply_line + 2).find('\n');
    if (lf == std::string_view::npos) {
      if (rest.size() > max_reply_line + 1) return bad_reply("reply line too long");
      return result;  // need_more
    }
    std::string_view line = rest.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_reply_line) return bad_reply("reply line too long");
    if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
        line[0] < '2' || line[0] > '5')
      return bad_reply("reply does not start with a code: " + std::string(line.substr(0, 80)));
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (result.reply.lines.empty()) {
      result.reply.code = code;
    } else if (code != result.reply.code) {
      return bad_reply("reply lines with different codes");
    }
    char separator = line.size() > 3 ? line[3] : ' ';
    if (separator != ' ' && separator != '-') return bad_reply("malformed reply line");
    if (result.reply.lines.size() >= max_reply_lines) return bad_reply("reply has too many lines");
    result.reply.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
    pos += lf + 1;
    if (separator == ' ') {
      result.status = ParseStatus::complete;
      result.consumed = pos;
      return result;
    }
  }
}

Capabilities parse_ehlo(const Reply& ehlo_reply) {
  Capabilities caps;
  // The first line is the server's name and greeting, not an extension.
  for (std::size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
    std::string_view line = trim_blanks(ehlo_reply.lines[i]);
    std::string keyword = upper(line.substr(0, line.find(' ')));
    if (keyword == "PIPELINING") caps.pipelining = true;
    else if (keyword == "STARTTLS") caps.starttls = true;
    else if (keyword == "SIZE") caps.size = true;
    else if (keyword == "CHUNKING") caps.chunking = true;
  }
  return caps;
}

LineFind find_line(std::string_view buffer, std::size_t limit) {
  LineFind result;
  std::size_t lf = buffer.substr(0, limit).find('\n');
  if (lf == std::string_view::npos) {
    if (buffer.size() >= limit) result.status = ParseStatus::bad;
    return result;
  }
  std::string_view line = buffer.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  result.status = ParseStatus::complete;
  result.line = line;
  result.consumed = lf + 1;
  return result;
}

Command split_command(std::string_view line) {
  line = trim_blanks(line);
  std::size_t space = line.find(' ');
  Command command;
  command.verb = upper(line.substr(0, space));
  if (space != std::string_view::npos) command.argument = trim_blanks(line.substr(space + 1));
  return command;
}

std::optional<ChunkCommand> parse_bdat(std::string_view argument) {
  ChunkCommand chunk;
  auto [end, ec] = std::from_chars(argument.data(), argument.data() + argument.size(), chunk.size);
  const auto digits = static_cast<std::size_t>(end - argument.data());
  if (ec != std::errc() || digits > 19) return std::nullopt;  // 19 digits always fit in 64 bits
  if (digits < argument.size() && argument[digits] != ' ' && argument[digits] != '\t') return std::nullopt;
  std::string_view rest = trim_blanks(argument.substr(digits));
  if (!rest.empty() && upper(rest) != "LAST") return std::nullopt;
  chunk.last = !rest.empty();
  return chunk;
}

std::string dot_stuff(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 64 + 1);
  bool line_start = true;
  for (char c : text) {
    if (line_start && c == '.') out.push_back('.');
    out.push_back(c);
    line_start = c == '\n';
  }
  return out;
}

std::size_t DataDecoder::feed(std::string_view input, std::string* out) {
  auto emit = [&](std::string_view bytes) {
    size_ += bytes.size();
    if (out) out->append(bytes);
  };
  std::size_t i = 0;
  while (i < input.size() && state_ != State::done) {
    char c = input[i];
    switch (state_) {
      case State::in_line: {
        // Fast path: everything up to the next CR is message text.
        const void* found = std::memchr(input.data() + i, '\r', input.size() - i);
        std::size_t end = found ? static_cast<std::size_t>(static_cast<const char*>(found) - input.data())
                                : input.size();
        emit(input.substr(i, end - i));
        i = end;
        if (found) {
          state_ = State::cr;
          ++i;
        }
        continue;
      }
      case State::line_start:
        if (c == '.') state_ = State::dot;
        else if (c == '\r') state_ = State::cr;
        else {
          emit(input.substr(i, 1));
          state_ = State::in_line;
        }
        break;
      case State::cr:
        if (c == '\n') {
          emit("\r\n");
          state_ = State::line_start;
        } else if (c == '\r') {
          emit("\r");  // the first CR was bare; this one may still start CRLF
        } else {
          emit("\r");
          emit(input.substr(i, 1));
          state_ = State::in_line;
        }
        break;
      case State::dot:
        // The leading dot is dropped whatever follows (RFC 5321 §4.5.2).
        if (c == '\r') state_ = State::dot_cr;
        else {
          emit(input.substr(i, 1));
          state_ = State::in_line;
        }
        break;
      case State::dot_cr:
        if (c == '\n') {
          state_ = State::done;
        } else if (c == '\r') {
          emit("\r");  // that CR was bare; this one may still start CRLF
          state_ = State::cr;
        } else {
          emit("\r");
          emit(input.substr(i, 1));
          state_ = State::in_line;
        }
        break;
      case State::done:
        break;
    }
    ++i;
  }
  return i;
}

}  // namespace imta::tools::loadgen
