// mailq(1)'s text; see mailq_format.hpp.
#include "tools/sendmail/mailq_format.hpp"

#include <algorithm>

namespace imta::tools::sendmail {

namespace {

constexpr std::size_t kMinIdWidth = 10;   // as wide as "-Queue ID-"
constexpr std::size_t kSizeWidth = 8;     // "--Size--"
constexpr std::size_t kArrivalWidth = 20; // "----Arrival Time----"

std::string pad_right(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string pad_left(const std::string& s, std::size_t width) {
  return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
}

// A diagnostic may hold line breaks or tabs (multi-line SMTP replies); one
// line each, so line-oriented parsers keep working.
std::string one_line(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const bool blank = c == '\r' || c == '\n' || c == '\t';
    if (blank && (out.empty() || out.back() == ' ')) continue;
    out += blank ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::string arrival_text(std::time_t when) {
  std::tm tm{};
  ::localtime_r(&when, &tm);
  char buf[64];
  if (std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S", &tm) == 0) return "?";
  return buf;
}

std::string mailq_trailer(std::uint64_t bytes, std::size_t requests) {
  const std::uint64_t kbytes = (bytes + 1023) / 1024;
  return "-- " + std::to_string(kbytes) + " Kbytes in " + std::to_string(requests) +
         (requests == 1 ? " Request." : " Requests.");
}

std::string format_mailq(const std::vector<MailqEntry>& entries) {
  if (entries.empty()) return "Mail queue is empty\n";
  // The ID column fits the longest ID and its mark; every row uses the same
  // columns, so the output splits on white space and lines up too.
  std::size_t id_width = kMinIdWidth;
  for (const auto& e : entries) id_width = std::max(id_width, e.id.size());
  ++id_width;  // the mark
  const std::string indent(id_width + 1 + kSizeWidth + 1 + kArrivalWidth + 1, ' ');

  std::string out = pad_right("-Queue ID-", id_width) + " " + pad_left("--Size--", kSizeWidth) + " " +
                    pad_right("----Arrival Time----", kArrivalWidth) + " -Sender/Recipient-------\n";
  std::uint64_t bytes = 0;
  for (const auto& e : entries) {
    bytes += e.size;
    out += pad_right(e.id + (e.mark == ' ' ? "" : std::string(1, e.mark)), id_width) + " " +
           pad_left(std::to_string(e.size), kSizeWidth) + " " + pad_right(e.arrival, kArrivalWidth) + " " +
           (e.sender.empty() ? "MAILER-DAEMON" : e.sender) + "\n";
    std::string shown_error;
    for (const auto& r : e.recipients) {
      const std::string error = one_line(r.last_error);
      if (!error.empty() && error != shown_error) out += "(" + error + ")\n";
      shown_error = error;
      out += indent + r.address + "\n";
    }
    if (!e.detail.empty()) out += indent + "[" + e.detail + "]\n";
    out += "\n";
  }
  out += mailq_trailer(bytes, entries.size()) + "\n";
  return out;
}

}  // namespace imta::tools::sendmail
