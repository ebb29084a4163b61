// Envelope addresses as SMTP carries them (RFC 5321 §4.1.2, with RFC 6531's
// UTF-8 when the transaction asked for SMTPUTF8): reverse and forward paths,
// mailboxes, domains and address literals.
//
// Pure functions over the bytes of one path. They refuse with the reply a
// client should get: 501 with 5.1.7 (sender) or 5.1.3 (recipient) for bad
// syntax, 553 5.6.7 for non-ASCII without SMTPUTF8 (RFC 6531 §3.7.4).
//
// Decisions, where the RFC leaves room or where real mail disagrees with it:
// - Case is preserved everywhere; comparing is the caller's business.
// - A quoted local part is kept as received, quotes and backslashes
//   included ("\"john smith\"@example.org"), so the address round-trips.
// - A source route (<@a,@b:user@c>) is checked for syntax, then dropped, as
//   RFC 5321 §3.3 and appendix C tell servers to do.
// - A path without angle brackets (MAIL FROM:user@example.org) is accepted:
//   Postfix and Sendmail accept it and people type it; a route is not
//   allowed in that form.
// - RCPT TO:<Postmaster> (any case, no domain) is accepted, as §4.1.1.3
//   requires.
// - Local parts may be up to 255 octets, not the 64 of §4.5.3.1.1: real
//   senders exceed 64 (VERP and SRS addresses, some large providers) and
//   §4.5.3.1 asks not to limit where we need not. Domains keep the DNS limits
//   (255 octets, labels of 63).
// - Domain labels may contain '_' (not in RFC 5321's grammar, but found in
//   real host names; Postfix accepts it too).
// - Address literals: IPv4 and IPv6 (tag case-insensitive); other tagged
//   literals are refused as unsupported.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/smtp/result.hpp"

namespace imta::core::smtp {

/// A mailbox from a path. Both parts empty: the null reverse path <>. An
/// empty domain with a local part: RCPT TO:<Postmaster>.
struct Mailbox {
  std::string local;   ///< as received; a quoted local part keeps its quotes
  std::string domain;  ///< as received; address literals keep brackets "[192.0.2.1]"

  bool is_null() const { return local.empty() && domain.empty(); }
  /// "local@domain", "Postmaster" for the bare postmaster, "" for <>.
  std::string address() const;

  bool operator==(const Mailbox&) const = default;
};

inline constexpr std::size_t max_local_part = 255;
inline constexpr std::size_t max_domain = 255;
inline constexpr std::size_t max_label = 63;

/// MAIL FROM's path: `<>`, `<mailbox>`, `<@route:mailbox>` or a bare mailbox.
/// `utf8`: the MAIL command carries SMTPUTF8.
Result<Mailbox> parse_reverse_path(std::string_view path, bool utf8);

/// RCPT TO's path: as above, but `<>` is refused and `<Postmaster>` accepted.
/// `utf8`: the transaction's MAIL command carried SMTPUTF8.
Result<Mailbox> parse_forward_path(std::string_view path, bool utf8);

/// A mailbox without brackets (`local@domain`), e.g. the decoded value of
/// MAIL's AUTH= parameter; refusals use the sender's codes.
Result<Mailbox> parse_mailbox(std::string_view text, bool utf8);

/// A domain name by RFC 5321's grammar (plus '_'), within the DNS limits;
/// with `utf8`, labels may hold UTF-8 (U-labels, not checked against IDNA).
bool is_domain(std::string_view text, bool utf8);

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
bool is_address_literal(std::string_view text);

/// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
/// U+10FFFF).
bool is_utf8(std::string_view text);

}  // namespace imta::core::smtp
