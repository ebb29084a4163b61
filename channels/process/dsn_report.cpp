// The RFC 3464 report; see dsn_report.hpp.
#include "channels/process/dsn_report.hpp"

#include <cstdio>
#include <ctime>

#include "core/text.hpp"

namespace imta::channels::process {

namespace {

/// One line of a header field: CR, LF and other controls become blanks
/// (runs of them one blank), so a value (a remote server's reply, a folded
/// field) can never start a field of its own.
std::string one_line(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    const bool blank = u <= 0x20 || u == 0x7F;
    if (!blank) {
      out += c;
    } else if (!out.empty() && out.back() != ' ') {
      out += ' ';
    }
  }
  // RFC 5322 §2.1.1: at most 998 characters per line.
  if (out.size() > 900) out.resize(900);
  return std::string(core::trim(out));
}

bool has_8bit(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  return false;
}

/// "type; value" as RFC 3464 wants it: a value without a type gets `type`.
std::string typed(std::string_view value, std::string_view type) {
  std::string v = one_line(value);
  auto semi = v.find(';');
  auto blank = v.find(' ');
  if (semi != std::string::npos && (blank == std::string::npos || semi < blank) && semi > 0) return v;
  return std::string(type) + "; " + v;
}

std::string angle(std::string_view address) {
  if (address.empty()) return "<>";
  if (address.front() == '<') return std::string(address);
  return "<" + std::string(address) + ">";
}

std::string_view kind_name(core::NoticeKind kind) {
  switch (kind) {
    case core::NoticeKind::delay: return "Delay";
    case core::NoticeKind::success: return "Success";
    default: return "Failure";
  }
}

}  // namespace

ReturnChoice choose_return(const core::Notice& notice, bool headers_only_copy, std::uint64_t message_size,
                           std::uint64_t limit_bytes) {
  ReturnChoice c;
  switch (notice.original_ret) {
    case core::Ret::full: c.returned = Returned::full; break;
    case core::Ret::hdrs: c.returned = Returned::headers; break;
    case core::Ret::unspecified:
      c.returned = notice.kind == core::NoticeKind::failure ? Returned::full : Returned::headers;
      break;
  }
  if (headers_only_copy) c.returned = Returned::headers;
  if (c.returned == Returned::full && limit_bytes > 0 && message_size > limit_bytes) {
    c.returned = Returned::headers;
    c.truncated = true;
  }
  return c;
}

std::string_view header_section(std::string_view message) {
  if (message.starts_with("\r\n")) return message.substr(0, 2);
  auto end = message.find("\r\n\r\n");
  return end == std::string_view::npos ? message : message.substr(0, end + 4);
}

ReportTemplate parse_template(std::string_view text) {
  ReportTemplate t;
  // Lines starting with '#' at the top are comments for the administrator.
  while (text.starts_with("#")) {
    auto nl = text.find('\n');
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  if (core::istarts_with(text, "Subject:")) {
    auto nl = text.find('\n');
    t.subject = std::string(core::trim(text.substr(8, nl == std::string_view::npos ? text.npos : nl - 8)));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    // One blank line may separate the Subject from the text.
    if (text.starts_with("\r\n")) text.remove_prefix(2);
    else if (text.starts_with("\n")) text.remove_prefix(1);
  }
  t.body = std::string(text);
  return t;
}

std::string substitute(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(text.size() + 256);
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto start = text.find("${", pos);
    if (start == std::string_view::npos) {
      out += text.substr(pos);
      break;
    }
    auto end = text.find('}', start + 2);
    if (end == std::string_view::npos) {
      out += text.substr(pos);
      break;
    }
    out += text.substr(pos, start - pos);
    auto it = values.find(std::string(text.substr(start + 2, end - start - 2)));
    if (it == values.end()) {
      out += text.substr(start, end + 1 - start);
    } else {
      out += it->second;
    }
    pos = end + 1;
  }
  return out;
}

std::string rfc5322_date(std::int64_t unix_ms, int utc_offset_minutes) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000) + static_cast<std::time_t>(utc_offset_minutes) * 60;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  int off = utc_offset_minutes < 0 ? -utc_offset_minutes : utc_offset_minutes;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %d %s %04d %02d:%02d:%02d %c%02d%02d", days[tm.tm_wday % 7], tm.tm_mday,
                months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                utc_offset_minutes < 0 ? '-' : '+', (off / 60) % 100, off % 60);
  return buf;
}

std::string make_boundary(std::string_view seed, std::string_view original) {
  std::string b = "=_imta_report_" + std::string(seed);
  for (int n = 0; original.find(b) != std::string_view::npos; ++n) b += "_" + std::to_string(n);
  return b;
}

std::map<std::string, std::string> template_values(const core::Notice& n, std::string_view original,
                                                   std::string_view reporting_mta, std::string_view postmaster,
                                                   const ReturnChoice& returned, int utc_offset_minutes) {
  std::map<std::string, std::string> v;
  auto head = header_section(original);
  v["HOST"] = std::string(reporting_mta);
  v["POSTMASTER"] = std::string(postmaster);
  v["SENDER"] = n.original_from.empty() ? "<>" : n.original_from;
  v["MESSAGE_ID"] = n.original_message_id;
  v["QUEUE_ID"] = n.original_id;
  v["CHANNEL"] = n.reporting_channel;
  v["ENVID"] = n.original_envid;
  v["ARRIVAL_DATE"] = n.arrival_ms > 0 ? rfc5322_date(n.arrival_ms, utc_offset_minutes) : std::string();
  std::string subject = one_line(core::header_field(head, "Subject"));
  v["SUBJECT"] = subject.empty() ? "(no subject)" : subject;
  std::string list;
  for (const auto& r : n.recipients) {
    list += "  <" + r.final_recipient + ">\n";
    std::string why = !r.diagnostic.empty() ? one_line(r.diagnostic) : r.action + " (status " + r.status + ")";
    list += "    " + why + "\n";
  }
  if (!list.empty()) list.pop_back();  // the template's own line end follows
  v["RECIPIENTS"] = list;
  if (returned.truncated)
    v["RETURNED"] = "The message was too big to return whole; its header section is attached.";
  else if (returned.returned == Returned::headers)
    v["RETURNED"] = "The header section of the message is attached.";
  else
    v["RETURNED"] = "The message is attached.";
  return v;
}

std::string build_report(const ReportInput& in) {
  const core::Notice& n = *in.notice;
  std::string subject = one_line(in.text.subject);
  if (subject.empty()) subject = "Delivery Status Notification (" + std::string(kind_name(n.kind)) + ")";
  std::string text = core::to_crlf(in.text.body);
  if (!text.ends_with("\r\n")) text += "\r\n";

  std::string out;
  out.reserve(in.original.size() + text.size() + 2048);
  out += "From: " + one_line(in.from) + "\r\n";
  out += "To: " + angle(in.to) + "\r\n";
  out += "Subject: " + subject + "\r\n";
  out += "Date: " + rfc5322_date(in.date_ms, in.utc_offset_minutes) + "\r\n";
  out += "Message-ID: " + in.message_id + "\r\n";
  out += "Auto-Submitted: auto-replied\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + in.boundary + "\"\r\n";
  out += "\r\n";
  out += "This is a MIME-encapsulated message in the RFC 3464 format.\r\n";

  // 1. the readable part
  out += "\r\n--" + in.boundary + "\r\n";
  if (has_8bit(text)) {
    out += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n";
  } else {
    out += "Content-Type: text/plain; charset=us-ascii\r\n";
  }
  out += "Content-Description: Notification\r\n\r\n";
  out += text;

  // 2. the machine-readable part
  out += "\r\n--" + in.boundary + "\r\n";
  out += "Content-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n";
  out += "Reporting-MTA: dns; " + one_line(in.reporting_mta) + "\r\n";
  if (!n.original_envid.empty()) out += "Original-Envelope-Id: " + one_line(n.original_envid) + "\r\n";
  if (n.arrival_ms > 0) out += "Arrival-Date: " + rfc5322_date(n.arrival_ms, in.utc_offset_minutes) + "\r\n";
  for (const auto& r : n.recipients) {
    out += "\r\n";
    out += "Final-Recipient: " + typed(r.final_recipient, "rfc822") + "\r\n";
    if (!r.original_recipient.empty()) out += "Original-Recipient: " + typed(r.original_recipient, "rfc822") + "\r\n";
    out += "Action: " + one_line(r.action) + "\r\n";
    out += "Status: " + one_line(r.status) + "\r\n";
    if (!r.remote_mta.empty()) out += "Remote-MTA: " + typed(r.remote_mta, "dns") + "\r\n";
    if (!r.diagnostic.empty()) out += "Diagnostic-Code: " + typed(r.diagnostic, "X-imta") + "\r\n";
    if (r.last_attempt_ms > 0)
      out += "Last-Attempt-Date: " + rfc5322_date(r.last_attempt_ms, in.utc_offset_minutes) + "\r\n";
  }

  // 3. the original, or its header section
  out += "\r\n--" + in.boundary + "\r\n";
  std::string_view content;
  if (in.returned.returned == Returned::full) {
    content = in.original;
    out += "Content-Type: message/rfc822\r\n";
  } else {
    content = header_section(in.original);
    // The blank line that ended the header is not part of the fields.
    if (content.ends_with("\r\n\r\n")) content.remove_suffix(2);
    out += "Content-Type: text/rfc822-headers\r\n";
  }
  if (has_8bit(content)) out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "Content-Description: " +
         std::string(in.returned.returned == Returned::full ? "Returned message" : "Returned message header") +
         "\r\n\r\n";
  out += content;
  if (!content.ends_with("\r\n")) out += "\r\n";
  out += "\r\n--" + in.boundary + "--\r\n";
  return out;
}

}  // namespace imta::channels::process
