// The Received: header; see received_header.hpp.
#include "channels/tcp/received_header.hpp"

#include <array>
#include <ctime>

#include "core/smtp/address.hpp"
#include "core/text.hpp"

namespace imta::channels::tcp {

namespace {

constexpr std::array<const char*, 7> kDays{"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
constexpr std::array<const char*, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 to a civil date (proleptic Gregorian), after Howard
// Hinnant's algorithm: no time zone database, no locale.
void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0));
}

/// Text safe inside a comment: printable ASCII, parentheses and backslashes
/// quoted, at most 100 characters.
std::string comment_text(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 100)) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      out += '?';
      continue;
    }
    if (c == '(' || c == ')' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string address_literal(std::string_view ip) {
  if (ip.find(':') != std::string_view::npos) return "[IPv6:" + std::string(ip) + "]";
  return "[" + std::string(ip) + "]";
}

}  // namespace

std::string with_protocol(const ReceivedInfo& info) {
  std::string p = info.utf8 ? "UTF8SMTP" : info.esmtp ? "ESMTP" : "SMTP";
  if (!info.esmtp && !info.utf8) return p;
  if (info.tls) p += 'S';
  if (info.authenticated) p += 'A';
  return p;
}

std::string rfc5322_date(std::int64_t unix_time, int utc_offset_minutes) {
  std::int64_t local = unix_time + static_cast<std::int64_t>(utc_offset_minutes) * 60;
  std::int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
  auto secs = static_cast<int>(local - days * 86400);
  int y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  auto weekday = static_cast<std::size_t>(((days % 7) + 7) % 7);
  int off = utc_offset_minutes < 0 ? -utc_offset_minutes : utc_offset_minutes;
  std::string out;
  out.reserve(40);
  out.append(kDays[weekday]).append(", ");
  core::append_decimal(out, d);
  out.append(" ").append(kMonths[m - 1]).append(" ");
  if (y < 0) {  // (not a date mail carries; kept as snprintf's %04d would)
    out += '-';
    core::append_decimal(out, static_cast<std::uint64_t>(-static_cast<std::int64_t>(y)), 3);
  } else {
    core::append_decimal(out, static_cast<std::uint64_t>(y), 4);
  }
  char clock[] = "hh:mm:ss +hhmm";
  core::put_digits(clock, static_cast<unsigned>(secs / 3600), 2);
  core::put_digits(clock + 3, static_cast<unsigned>(secs / 60 % 60), 2);
  core::put_digits(clock + 6, static_cast<unsigned>(secs % 60), 2);
  clock[9] = utc_offset_minutes < 0 ? '-' : '+';
  core::put_digits(clock + 10, static_cast<unsigned>(off / 60), 2);
  core::put_digits(clock + 12, static_cast<unsigned>(off % 60), 2);
  out += ' ';
  out.append(clock, sizeof clock - 1);
  return out;
}

std::string rfc5322_date_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  return rfc5322_date(now, static_cast<int>(tm.tm_gmtoff / 60));
}

std::string received_header(const ReceivedInfo& info) {
  const std::string literal = address_literal(info.client_ip);
  const bool helo_ok = core::smtp::is_domain(info.helo, info.utf8) || core::smtp::is_address_literal(info.helo);
  std::string h;
  h.reserve(256);  // one allocation for the usual header
  h += "Received: from ";
  if (helo_ok) {
    h.append(info.helo).append(" (").append(literal).append(")");
  } else {
    h.append(literal).append(" (").append(literal);
    if (!info.helo.empty()) h.append(" helo=\"").append(comment_text(info.helo)).append("\"");
    h += ")";
  }
  h.append("\r\n\tby ").append(info.by_host).append(" (imta) with ").append(with_protocol(info));
  if (!info.id.empty()) h.append(" id ").append(info.id);
  if (info.tls && !info.tls_info.empty()) h.append("\r\n\t(").append(comment_text(info.tls_info)).append(")");
  if (!info.for_address.empty()) h.append("\r\n\tfor <").append(info.for_address).append(">");
  h.append(";\r\n\t").append(rfc5322_date(info.unix_time, info.utc_offset_minutes)).append("\r\n");
  return h;
}

}  // namespace imta::channels::tcp
