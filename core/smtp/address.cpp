// Path and mailbox parsing (RFC 5321 §4.1.2, RFC 6531); see address.hpp.
#include "core/smtp/address.hpp"

#include <arpa/inet.h>

#include <cstring>

#include "core/text.hpp"

namespace imta::core::smtp {
namespace {

enum class Role { sender, recipient };

// A check answers nullptr when the text is fine, otherwise why it is not.
using Why = const char*;

Reply syntax_error(Role role, std::string_view why) {
  if (role == Role::sender) return {501, "5.1.7", "Bad sender address syntax: " + std::string(why)};
  return {501, "5.1.3", "Bad recipient address syntax: " + std::string(why)};
}

Reply non_ascii_refused(Role role) {
  return {553, "5.6.7",
          role == Role::sender ? "Non-ASCII sender address needs the SMTPUTF8 parameter"
                               : "Non-ASCII recipient address needs the SMTPUTF8 parameter"};
}

bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_atext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;
  return is_alnum(c) || (c != 0 && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr);
}

bool has_non_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  return false;
}

Why check_dot_string(std::string_view s, bool utf8) {
  if (s.empty()) return "empty local part";
  if (s.front() == '.' || s.back() == '.') return "local part starts or ends with a dot";
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '.' && s[i + 1] == '.') return "two dots in a row in the local part";
    if (c != '.' && !is_atext(c, utf8)) return "invalid character in the local part";
  }
  return nullptr;
}

// The index just past the closing quote of a quoted string starting at s[0],
// or npos when it is not closed.
std::size_t quoted_end(std::string_view s) {
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '\\') ++i;
    else if (s[i] == '"') return i + 1;
  }
  return std::string_view::npos;
}

// `s` is a whole quoted string, quotes included (quoted_end found its end).
Why check_quoted_string(std::string_view s, bool utf8) {
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') c = static_cast<unsigned char>(s[++i]);
    bool ok = (c >= 32 && c <= 126) || (c >= 0x80 && utf8);
    if (!ok) return "invalid character in the quoted local part";
  }
  return nullptr;
}

Why check_label(std::string_view label, bool utf8) {
  if (label.empty()) return "empty label in the domain";
  if (label.size() > max_label) return "domain label longer than 63 octets";
  if (label.front() == '-' || label.back() == '-') return "domain label starts or ends with a hyphen";
  for (char ch : label) {
    auto c = static_cast<unsigned char>(ch);
    bool ok = is_alnum(c) || c == '-' || c == '_' || (c >= 0x80 && utf8);
    if (!ok) return "invalid character in the domain";
  }
  return nullptr;
}

Why check_domain(std::string_view d, bool utf8) {
  if (d.empty()) return "missing domain";
  if (d.size() > max_domain) return "domain longer than 255 octets";
  for (;;) {
    std::size_t dot = d.find('.');
    if (Why why = check_label(d.substr(0, dot), utf8)) return why;
    if (dot == std::string_view::npos) return nullptr;
    d.remove_prefix(dot + 1);
  }
}

bool is_ipv4(std::string_view s) {
  int parts = 0;
  while (parts < 4) {
    std::size_t n = 0;
    unsigned value = 0;
    while (n < s.size() && n < 4 && s[n] >= '0' && s[n] <= '9') value = value * 10 + (s[n++] - '0');
    if (n == 0 || n > 3 || value > 255) return false;
    s.remove_prefix(n);
    if (++parts < 4) {
      if (s.empty() || s.front() != '.') return false;
      s.remove_prefix(1);
    }
  }
  return s.empty();
}

bool is_ipv6(std::string_view s) {
  if (s.empty() || s.size() > 45) return false;  // INET6_ADDRSTRLEN - 1
  unsigned char out[16];
  return inet_pton(AF_INET6, std::string(s).c_str(), out) == 1;
}

Why check_address_literal(std::string_view s) {
  if (s.size() < 2 || s.front() != '[' || s.back() != ']') return "malformed address literal";
  std::string_view inner = s.substr(1, s.size() - 2);
  if (istarts_with(inner, "IPv6:"))
    return is_ipv6(inner.substr(5)) ? nullptr : "malformed IPv6 address literal";
  if (is_ipv4(inner)) return nullptr;
  if (inner.find(':') != std::string_view::npos) return "unsupported address literal";
  return "malformed IPv4 address literal";
}

Why check_domain_or_literal(std::string_view s, bool utf8) {
  if (!s.empty() && s.front() == '[') return check_address_literal(s);
  return check_domain(s, utf8);
}

// The ':' ending a source route ("@a,@[192.0.2.1]:..."), skipping literals.
std::size_t route_end(std::string_view s) {
  bool in_literal = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[') in_literal = true;
    else if (s[i] == ']') in_literal = false;
    else if (s[i] == ':' && !in_literal) return i;
  }
  return std::string_view::npos;
}

// "@a,@b" (without the ':'): each hop is '@' and a domain or literal.
Why check_route(std::string_view route, bool utf8) {
  for (;;) {
    std::size_t comma = route.find(',');
    std::string_view hop = route.substr(0, comma);
    if (hop.empty() || hop.front() != '@') return "malformed source route";
    if (Why why = check_domain_or_literal(hop.substr(1), utf8)) return why;
    if (comma == std::string_view::npos) return nullptr;
    route.remove_prefix(comma + 1);
  }
}

Result<Mailbox> split_mailbox(std::string_view s, Role role, bool utf8) {
  bool quoted = !s.empty() && s.front() == '"';
  std::size_t at = quoted ? quoted_end(s) : s.find('@');
  if (quoted && at == std::string_view::npos) return syntax_error(role, "unterminated quoted local part");
  if (at == std::string_view::npos || at >= s.size() || s[at] != '@')
    return syntax_error(role, "missing @domain");
  std::string_view local = s.substr(0, at);
  std::string_view domain = s.substr(at + 1);
  if (local.size() > max_local_part) return syntax_error(role, "local part longer than 255 octets");
  Why why = quoted ? check_quoted_string(local, utf8) : check_dot_string(local, utf8);
  if (!why) why = check_domain_or_literal(domain, utf8);
  if (why) return syntax_error(role, why);
  return Mailbox{std::string(local), std::string(domain)};
}

// Everything one path needs: brackets, <>, route, Postmaster, mailbox.
Result<Mailbox> parse_path(std::string_view path, Role role, bool utf8) {
  if (has_non_ascii(path)) {
    if (!utf8) return non_ascii_refused(role);
    if (!is_utf8(path)) return syntax_error(role, "malformed UTF-8");
  }
  bool bracketed = !path.empty() && path.front() == '<';
  std::string_view inner = path;
  if (bracketed) {
    if (path.size() < 2 || path.back() != '>') return syntax_error(role, "missing closing \">\"");
    inner = path.substr(1, path.size() - 2);
  }
  if (inner.empty()) {
    if (role == Role::sender && bracketed) return Mailbox{};
    return syntax_error(role, "empty address");
  }
  if (inner.front() == '@') {
    std::size_t colon = route_end(inner);
    if (!bracketed || colon == std::string_view::npos) return syntax_error(role, "malformed source route");
    if (Why why = check_route(inner.substr(0, colon), utf8)) return syntax_error(role, why);
    inner.remove_prefix(colon + 1);
  }
  if (role == Role::recipient && iequals(inner, "postmaster")) return Mailbox{std::string(inner), {}};
  return split_mailbox(inner, role, utf8);
}

}  // namespace

std::string Mailbox::address() const {
  if (domain.empty()) return local;
  return core::concat({local, "@", domain});
}

Result<Mailbox> parse_reverse_path(std::string_view path, bool utf8) {
  return parse_path(path, Role::sender, utf8);
}

Result<Mailbox> parse_forward_path(std::string_view path, bool utf8) {
  return parse_path(path, Role::recipient, utf8);
}

Result<Mailbox> parse_mailbox(std::string_view text, bool utf8) {
  if (has_non_ascii(text)) {
    if (!utf8) return non_ascii_refused(Role::sender);
    if (!is_utf8(text)) return syntax_error(Role::sender, "malformed UTF-8");
  }
  return split_mailbox(text, Role::sender, utf8);
}

bool is_domain(std::string_view text, bool utf8) {
  if (has_non_ascii(text) && (!utf8 || !is_utf8(text))) return false;
  return check_domain(text, utf8) == nullptr;
}

bool is_address_literal(std::string_view text) { return check_address_literal(text) == nullptr; }

bool is_utf8(std::string_view text) {
  auto s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = s[i];
    std::size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                    : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((s[i + k] & 0xc0) != 0x80) return false;
    // The second byte's range rules out overlong forms, surrogates and
    // code points past U+10FFFF.
    if (c == 0xe0 && s[i + 1] < 0xa0) return false;
    if (c == 0xed && s[i + 1] > 0x9f) return false;
    if (c == 0xf0 && s[i + 1] < 0x90) return false;
    if (c == 0xf4 && s[i + 1] > 0x8f) return false;
    i += len;
  }
  return true;
}

}  // namespace imta::core::smtp
