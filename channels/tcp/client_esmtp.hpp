// The SMTP client's side of ESMTP: what a server offers (its EHLO reply), what
// a message needs (8-bit data, UTF-8 addresses or headers, its size), the
// MAIL and RCPT commands that pass the sender's DSN request on, and whether
// the message may be sent to that server at all. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channels/tcp/smtp_auth.hpp"  // base64_encode
#include "core/envelope.hpp"
#include "core/smtp/reply.hpp"

namespace imta::channels::tcp {

/// The extensions of an EHLO reply (RFC 5321 §4.1.1.1: one keyword and its
/// parameters per line after the first).
struct ServerExtensions {
  bool esmtp = false;  ///< EHLO was answered 250 (false after a HELO fallback)
  bool pipelining = false;
  bool size = false;            ///< SIZE advertised
  std::uint64_t size_limit = 0; ///< SIZE's argument; 0 = no fixed limit
  bool eightbitmime = false;
  bool dsn = false;
  bool smtputf8 = false;
  bool starttls = false;
  bool enhanced_status_codes = false;
  bool chunking = false;
  std::vector<std::string> auth;  ///< AUTH mechanisms, upper case
  bool offers_auth(std::string_view mechanism) const;
};

/// Reads the extensions from a 250 EHLO reply (`reply.text`, '\n'-separated
/// lines; the first is the greeting line and is skipped). Unknown keywords
/// are ignored; a malformed SIZE argument counts as no fixed limit.
ServerExtensions parse_ehlo(const core::smtp::Reply& reply);

/// What the message asks of the server.
struct MessageNeeds {
  bool eight_bit = false;  ///< a byte >= 0x80 anywhere in the message
  bool smtputf8 = false;   ///< a non-ASCII envelope address: SMTPUTF8 is required
  /// A non-ASCII byte in the header section: SMTPUTF8 is passed on when the
  /// server offers it; otherwise such a message goes as 8-bit data, as mail
  /// with raw UTF-8 subjects always has (bouncing it would help nobody).
  bool utf8_headers = false;
  std::uint64_t size = 0;  ///< bytes as stored (CRLF, not dot-stuffed)
};

/// Looks at the envelope addresses (sender and `recipients`, active
/// addresses) and the message bytes.
MessageNeeds message_needs(const core::Envelope& envelope, const std::vector<const core::Recipient*>& recipients,
                           std::string_view message);

/// Why a message cannot go to a server that offers `ext` (a permanent
/// failure of every recipient), or nullopt when it can. The reply is the one
/// a DSN shows: 552 5.3.4 (too big for SIZE), 554 5.6.3 (8-bit data, no
/// 8BITMIME), 553 5.6.7 (UTF-8 needed, no SMTPUTF8).
std::optional<core::smtp::Reply> refuse_for(const MessageNeeds& needs, const ServerExtensions& ext);

/// `MAIL FROM:<sender> SIZE=... BODY=8BITMIME SMTPUTF8 RET=... ENVID=...`,
/// without CRLF: each parameter only when the server offers its extension
/// (and the message or the envelope calls for it).
std::string mail_command(const core::Envelope& envelope, const MessageNeeds& needs, const ServerExtensions& ext);

/// `RCPT TO:<active> NOTIFY=... ORCPT=rfc822;xtext`, without CRLF; the DSN
/// parameters only when the server offers DSN.
std::string rcpt_command(const core::Recipient& recipient, const ServerExtensions& ext);

/// The NOTIFY= value for the flags ("SUCCESS,FAILURE", "NEVER"); "" for 0.
std::string notify_value(unsigned notify);

/// AUTH PLAIN's initial response: base64("\0user\0password") (RFC 4616).
std::string auth_plain_response(std::string_view user, std::string_view password);

}  // namespace imta::channels::tcp
