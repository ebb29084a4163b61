// Test messages of imta-loadgen. See message.hpp.
#include "tools/loadgen/message.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdio>

#include "core/text.hpp"
#include "tools/loadgen/smtp_text.hpp"

namespace imta::tools::loadgen {

namespace {

constexpr std::size_t filler_line_length = 76;  // plus CRLF: well under RFC 5322's 998

/// A message number in decimal, zero-padded to at least ten digits.
std::string serial(std::uint64_t number) {
  std::string digits;
  core::append_decimal(digits, number, 10);
  return digits;
}

/// RFC 5322 date in UTC with a two-digit day, so its length never changes
/// (English names by hand: the C library's follow the locale).
std::string rfc5322_date(std::time_t when) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&when, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
                tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return text;
}

/// Printable filler that changes from line to line (so nothing along the way
/// can compress it to nothing) and never starts with a dot.
std::string filler_line(std::size_t number, std::size_t length) {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string line;
  line.reserve(length + 2);
  for (std::size_t i = 0; i < length; ++i) line.push_back(alphabet[(number + i) % alphabet.size()]);
  line += "\r\n";
  return line;
}

std::string build_body(std::size_t wanted) {
  std::string body;
  for (std::string_view line : {body_first_line, body_dot_line, body_two_dots_line, std::string_view()}) {
    body.append(line);
    body.append("\r\n");
  }
  if (wanted <= body.size()) return body;
  std::size_t remaining = wanted - body.size();
  std::size_t number = 0;
  while (remaining >= filler_line_length + 2 + 3) {
    body += filler_line(number++, filler_line_length);
    remaining -= filler_line_length + 2;
  }
  // The rest (3 to 80 bytes) in one or two lines; a line needs at least one
  // character besides its CRLF.
  if (remaining > filler_line_length + 2) {
    body += filler_line(number++, remaining - 2 - 3);
    remaining = 3;
  }
  if (remaining >= 3) body += filler_line(number, remaining - 2);
  else if (remaining > 0) body += filler_line(number, 1);  // only when wanted was tiny
  return body;
}

}  // namespace

std::string expand_recipient(std::string_view address_template, unsigned number) {
  std::string out;
  std::string digits = std::to_string(number);
  for (std::size_t i = 0; i < address_template.size(); ++i) {
    if (address_template[i] == '%' && i + 1 < address_template.size() && address_template[i + 1] == 'd') {
      out += digits;
      ++i;
    } else {
      out.push_back(address_template[i]);
    }
  }
  return out;
}

MessageFactory::MessageFactory(std::string from, std::string to, std::string domain, std::size_t size,
                               MessageIds ids)
    : from_(std::move(from)), to_(std::move(to)), domain_(std::move(domain)), ids_(ids) {
  char tag[48];
  std::snprintf(tag, sizeof tag, "%010lld.%010ld", static_cast<long long>(std::time(nullptr)),
                static_cast<long>(::getpid()));
  run_tag_ = tag;
  // The null sender (MAIL FROM:<>) still needs a valid From: header.
  if (from_.empty()) from_ = "MAILER-DAEMON@" + domain_;
  header_size_ = header(0, std::time(nullptr)).size();
  body_ = build_body(size > header_size_ ? size - header_size_ : 0);
  stuffed_body_ = dot_stuff(body_);
}

void MessageFactory::append_message_id(std::string& out, std::string_view digits) const {
  out.append("<");
  if (ids_ == MessageIds::scattered) {
    // FNV-1a over the rest of the id, then a 64-bit finaliser (splitmix64)
    // so that neighbouring serials give unrelated prefixes. Only the order
    // matters: the rest keeps the id unique whatever the hash.
    std::uint64_t h = 14695981039346656037ull;
    for (std::string_view part : {std::string_view(run_tag_), digits})
      for (char c : part) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    static constexpr char hex[] = "0123456789abcdef";
    for (int shift = 60; shift >= 0; shift -= 4) out.push_back(hex[(h >> shift) & 0xf]);
    out.append(".");
  }
  out.append(run_tag_).append(".").append(digits).append("@").append(domain_).append(">");
}

std::string MessageFactory::message_id(std::uint64_t number) const {
  std::string id;
  append_message_id(id, serial(number));
  return id;
}

std::string find_message_id(std::string_view message) {
  static constexpr std::string_view name = "message-id:";
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t end = message.find("\r\n", pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view field = message.substr(pos, end - pos);
    if (field.empty()) break;  // the end of the header
    bool match = field.size() >= name.size();
    for (std::size_t i = 0; match && i < name.size(); ++i)
      match = std::tolower(static_cast<unsigned char>(field[i])) == name[i];
    if (match) {
      std::string value(field.substr(name.size()));
      // Folded continuation lines belong to the value.
      std::size_t next = end + 2;
      while (next < message.size() && (message[next] == ' ' || message[next] == '\t')) {
        std::size_t e = message.find("\r\n", next);
        if (e == std::string_view::npos) e = message.size();
        value += message.substr(next, e - next);
        next = e + 2;
      }
      std::string out;
      for (char c : value)
        if (c != ' ' && c != '\t') out.push_back(c);
      return out;
    }
    pos = end + 2;
  }
  return {};
}

std::string MessageFactory::header(std::uint64_t number, std::time_t when) const {
  // Made for every message, and imta-loadgen shares the machine with the
  // server it measures: no printf, no temporaries, the date made once a
  // second (per thread).
  const std::string digits = serial(number);
  thread_local std::time_t date_of = -1;
  thread_local std::string date;
  if (when != date_of) {
    date = rfc5322_date(when);
    date_of = when;
  }
  std::string h;
  h.reserve(256 + from_.size() + to_.size() + 2 * domain_.size() + run_tag_.size());
  h.append("From: <").append(from_).append(">\r\nTo: <").append(to_).append(">\r\n");
  h.append("Subject: imta-loadgen test message ").append(digits);
  h.append("\r\nDate: ").append(date).append("\r\n");
  h.append("Message-ID: ");
  append_message_id(h, digits);
  h.append("\r\n");
  h.append("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
  return h;
}

}  // namespace imta::tools::loadgen
