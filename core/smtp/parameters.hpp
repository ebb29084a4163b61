// ESMTP parameters of MAIL and RCPT (RFC 5321 §4.1.2 Mail-parameters /
// Rcpt-parameters) parsed into typed structs: SIZE (RFC 1870), BODY
// (RFC 6152, RFC 3030), RET/ENVID/NOTIFY/ORCPT (RFC 3461), SMTPUTF8
// (RFC 6531) and AUTH (RFC 4954 §5).
//
// Keywords are case-insensitive. Refusals:
//   555 5.5.4  a keyword we do not know (RFC 5321 §4.1.1.11)
//   501 5.5.4  malformed parameter, duplicate keyword, value missing where
//              one is needed or present where none is allowed, bad value
// Checks of syntax only: whether the extension was advertised, and whether
// a SIZE is acceptable, is the session's business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/envelope.hpp"
#include "core/smtp/result.hpp"

namespace imta::core::smtp {

/// BODY= of MAIL (RFC 6152, RFC 3030).
enum class Body : std::uint8_t { unspecified, seven_bit, eight_bit_mime, binary_mime };

/// ESMTP parameters of MAIL; absent ones keep their defaults.
struct MailParams {
  /// SIZE= (RFC 1870), the client's estimate; a value beyond 2^64-1 reads
  /// as 2^64-1 (it is simply too big, not a syntax error).
  std::optional<std::uint64_t> size;
  Body body = Body::unspecified;
  Ret ret = Ret::unspecified;        ///< RET= (RFC 3461)
  std::optional<std::string> envid;  ///< ENVID=, xtext-decoded (printable ASCII)
  bool smtputf8 = false;             ///< SMTPUTF8 (RFC 6531)
  std::optional<std::string> auth;   ///< AUTH=, xtext-decoded: "<>" or a mailbox (RFC 4954 §5)
  bool operator==(const MailParams&) const = default;
};

/// ORCPT= of RCPT (RFC 3461 §4.2), e.g. "rfc822;user@example.org".
struct Orcpt {
  std::string type;     ///< address type as sent, e.g. "rfc822" or "utf-8"
  std::string address;  ///< xtext-decoded address
  bool operator==(const Orcpt&) const = default;
};

/// ESMTP parameters of RCPT.
struct RcptParams {
  unsigned notify = 0;         ///< NotifyFlags (envelope.hpp); 0 when NOTIFY= is absent
  std::optional<Orcpt> orcpt;  ///< ORCPT=
  bool operator==(const RcptParams&) const = default;
};

/// RFC 3461 length limits on the values as sent (xtext-encoded).
inline constexpr std::size_t max_envid = 100;
inline constexpr std::size_t max_orcpt = 500;

/// The parameters after MAIL FROM's path: blank-separated `KEYWORD[=value]`.
Result<MailParams> parse_mail_params(std::string_view text);

/// The parameters after RCPT TO's path. `utf8`: the transaction's MAIL
/// carried SMTPUTF8 (values may then hold UTF-8, RFC 6531 §3.3).
Result<RcptParams> parse_rcpt_params(std::string_view text, bool utf8);

}  // namespace imta::core::smtp
