// ESMTP parameters of MAIL and RCPT; see parameters.hpp.
#include "core/smtp/parameters.hpp"

#include <array>
#include <limits>

#include "core/smtp/address.hpp"
#include "core/smtp/xtext.hpp"
#include "core/text.hpp"

namespace imta::core::smtp {
namespace {

using Refusal = std::optional<Reply>;

Reply bad_argument(std::string text) { return {501, "5.5.4", std::move(text)}; }

// One known keyword: whether it takes a value, and how to store it.
template <class Params>
struct Rule {
  std::string_view keyword;
  bool takes_value;
  Refusal (*apply)(std::string_view value, Params& params, bool utf8);
};

bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool is_esmtp_keyword(std::string_view s) {
  if (s.empty() || !is_alnum(s.front())) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '-') return false;
  return true;
}

// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 under SMTPUTF8
bool is_esmtp_value(std::string_view s, bool utf8) {
  if (s.empty()) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    bool ok = (c >= 33 && c <= 126 && c != '=') || (c >= 0x80 && utf8);
    if (!ok) return false;
  }
  return !utf8 || is_utf8(s);
}

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Decoded text for logs and DSNs: no control characters.
bool is_printable(std::string_view s, bool allow_8bit) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || (c >= 0x80 && !allow_8bit)) return false;
  }
  return true;
}

std::string_view next_word(std::string_view& rest) {
  while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
  std::size_t end = 0;
  while (end < rest.size() && !is_blank(rest[end])) ++end;
  std::string_view word = rest.substr(0, end);
  rest.remove_prefix(end);
  return word;
}

bool mentions_smtputf8(std::string_view text) {
  for (std::string_view word = next_word(text); !word.empty(); word = next_word(text))
    if (iequals(word, "SMTPUTF8")) return true;
  return false;
}

// --- MAIL ------------------------------------------------------------------

Refusal set_size(std::string_view v, MailParams& p, bool) {
  if (!is_digits(v) || v.size() > 20) return bad_argument("Bad SIZE value (digits expected)");
  std::uint64_t n = 0;
  constexpr auto max = std::numeric_limits<std::uint64_t>::max();
  for (char c : v) {
    unsigned digit = static_cast<unsigned>(c - '0');
    n = (n > (max - digit) / 10) ? max : n * 10 + digit;
  }
  p.size = n;
  return std::nullopt;
}

Refusal set_body(std::string_view v, MailParams& p, bool) {
  if (iequals(v, "7BIT")) p.body = Body::seven_bit;
  else if (iequals(v, "8BITMIME")) p.body = Body::eight_bit_mime;
  else if (iequals(v, "BINARYMIME")) p.body = Body::binary_mime;
  else return bad_argument("Bad BODY value (7BIT, 8BITMIME or BINARYMIME expected)");
  return std::nullopt;
}

Refusal set_ret(std::string_view v, MailParams& p, bool) {
  if (iequals(v, "FULL")) p.ret = Ret::full;
  else if (iequals(v, "HDRS")) p.ret = Ret::hdrs;
  else return bad_argument("Bad RET value (FULL or HDRS expected)");
  return std::nullopt;
}

Refusal set_envid(std::string_view v, MailParams& p, bool) {
  auto decoded = xtext_decode(v);
  if (!decoded || v.size() > max_envid || !is_printable(*decoded, false))
    return bad_argument("Bad ENVID value (xtext of printable ASCII, at most 100 characters)");
  p.envid = std::move(*decoded);
  return std::nullopt;
}

Refusal set_smtputf8(std::string_view, MailParams& p, bool) {
  p.smtputf8 = true;
  return std::nullopt;
}

Refusal set_auth(std::string_view v, MailParams& p, bool utf8) {
  auto decoded = xtext_decode(v);
  bool ok = decoded && (*decoded == "<>" || parse_mailbox(*decoded, utf8).has_value());
  if (!ok) return bad_argument("Bad AUTH value (xtext of <> or a mailbox expected)");
  p.auth = std::move(*decoded);
  return std::nullopt;
}

constexpr std::array<Rule<MailParams>, 6> mail_rules{{
    {"SIZE", true, set_size},
    {"BODY", true, set_body},
    {"RET", true, set_ret},
    {"ENVID", true, set_envid},
    {"SMTPUTF8", false, set_smtputf8},
    {"AUTH", true, set_auth},
}};

// --- RCPT ------------------------------------------------------------------

Refusal set_notify(std::string_view v, RcptParams& p, bool) {
  static const Reply bad =
      bad_argument("Bad NOTIFY value (NEVER, or SUCCESS, FAILURE and DELAY separated by commas)");
  unsigned flags = 0;
  for (;;) {
    std::size_t comma = v.find(',');
    std::string_view word = v.substr(0, comma);
    if (iequals(word, "NEVER")) flags |= notify_never;
    else if (iequals(word, "SUCCESS")) flags |= notify_success;
    else if (iequals(word, "FAILURE")) flags |= notify_failure;
    else if (iequals(word, "DELAY")) flags |= notify_delay;
    else return bad;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  if ((flags & notify_never) && flags != notify_never) return bad;
  p.notify = flags;
  return std::nullopt;
}

// addr-type: an RFC 5322 atom; in practice "rfc822" or "utf-8".
bool is_addr_type(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

// Under SMTPUTF8 the value may carry raw UTF-8 (RFC 6533's unitext) between
// xtext runs; it passes through. RFC 6533's \x{..} escapes are plain xtext
// characters and are kept as sent.
std::optional<std::string> decode_orcpt_address(std::string_view v, bool utf8) {
  if (!utf8) return xtext_decode(v);
  std::string out;
  while (!v.empty()) {
    std::size_t ascii = 0;
    while (ascii < v.size() && static_cast<unsigned char>(v[ascii]) < 0x80) ++ascii;
    auto part = xtext_decode(v.substr(0, ascii));
    if (!part) return std::nullopt;
    out += *part;
    std::size_t end = ascii;
    while (end < v.size() && static_cast<unsigned char>(v[end]) >= 0x80) ++end;
    out.append(v.substr(ascii, end - ascii));
    v.remove_prefix(end);
  }
  return out;
}

Refusal set_orcpt(std::string_view v, RcptParams& p, bool utf8) {
  std::size_t semi = v.find(';');
  std::string_view type = v.substr(0, semi);
  std::optional<std::string> address;
  if (semi != std::string_view::npos) address = decode_orcpt_address(v.substr(semi + 1), utf8);
  bool ok = v.size() <= max_orcpt && is_addr_type(type) && address && !address->empty() &&
            is_printable(*address, utf8 || iequals(type, "utf-8"));
  if (!ok) return bad_argument("Bad ORCPT value (type;xtext, at most 500 characters expected)");
  p.orcpt = Orcpt{std::string(type), std::move(*address)};
  return std::nullopt;
}

constexpr std::array<Rule<RcptParams>, 2> rcpt_rules{{
    {"NOTIFY", true, set_notify},
    {"ORCPT", true, set_orcpt},
}};

// --- the common loop ------------------------------------------------------

template <class Params, std::size_t N>
Refusal apply_word(std::string_view word, const std::array<Rule<Params>, N>& rules,
                   unsigned& seen, Params& params, bool utf8) {
  std::size_t eq = word.find('=');
  std::string_view keyword = word.substr(0, eq);
  std::string_view value = eq == std::string_view::npos ? std::string_view{} : word.substr(eq + 1);
  if (!is_esmtp_keyword(keyword) || (eq != std::string_view::npos && !is_esmtp_value(value, utf8)))
    return bad_argument("Malformed parameter (KEYWORD or KEYWORD=value expected)");
  std::size_t i = 0;
  while (i < N && !iequals(rules[i].keyword, keyword)) ++i;
  if (i == N) {
    std::string shown = to_upper(keyword.substr(0, 40));
    return Reply{555, "5.5.4", "Unsupported parameter " + shown};
  }
  const Rule<Params>& rule = rules[i];
  std::string name(rule.keyword);
  if (seen & (1u << i)) return bad_argument("Duplicate parameter " + name);
  seen |= 1u << i;
  if (rule.takes_value && eq == std::string_view::npos)
    return bad_argument("Parameter " + name + " needs a value");
  if (!rule.takes_value && eq != std::string_view::npos)
    return bad_argument("Parameter " + name + " takes no value");
  return rule.apply(value, params, utf8);
}

template <class Params, std::size_t N>
Result<Params> parse_params(std::string_view text, const std::array<Rule<Params>, N>& rules,
                            bool utf8) {
  Params params;
  unsigned seen = 0;
  for (std::string_view word = next_word(text); !word.empty(); word = next_word(text))
    if (Refusal refusal = apply_word(word, rules, seen, params, utf8)) return *refusal;
  return params;
}

}  // namespace

Result<MailParams> parse_mail_params(std::string_view text) {
  return parse_params(text, mail_rules, mentions_smtputf8(text));
}

Result<RcptParams> parse_rcpt_params(std::string_view text, bool utf8) {
  return parse_params(text, rcpt_rules, utf8);
}

}  // namespace imta::core::smtp
