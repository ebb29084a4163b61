// SMTP commands as a closed set of types, and the parser from one command
// line to one of them (RFC 5321 §4.1 plus the extensions imta speaks:
// SIZE RFC 1870, 8BITMIME RFC 6152, DSN RFC 3461, AUTH RFC 4954, SMTPUTF8
// RFC 6531, CHUNKING RFC 3030, ETRN RFC 1985).
//
// parse_command() is pure: it checks syntax only. What depends on the
// session (was the extension advertised, is the command allowed now, is the
// size within our limit, is the AUTH mechanism offered) is the session's
// check. So BODY=BINARYMIME parses, and the session refuses it because we do
// not advertise BINARYMIME; SMTPUTF8 parses and the session refuses it when
// it was not advertised.
//
// Leniency (what people and real clients send), each deliberate:
// - verbs and parameter keywords in any case;
// - blanks (space or tab, one or more) between verb and argument, before
//   and after the colon of MAIL FROM:/RCPT TO:, between parameters, and at
//   the end of the line;
// - MAIL FROM:user@example.org without angle brackets (see address.hpp);
// - NOOP and HELP with any argument; HELO/EHLO with any printable argument
//   (whether it must be a valid domain is the session's policy; is_domain()
//   and is_address_literal() in address.hpp help).
// Everything else is refused with the reply the client should see.
//
// Replies for refusals (exact text in command.cpp; tests pin them):
//   500 5.5.2  unknown verb, empty line, control character in the line
//   501 5.5.4  wrong arguments (missing, extra, malformed parameter value,
//              duplicate parameter)
//              (BDAT sizes have at most 19 digits, so they fit 64 bits)
//   501 5.5.2  AUTH initial response that is not base64 (RFC 4954 §4)
//   501 5.1.7 / 5.1.3, 553 5.6.7   bad sender / recipient (address.hpp)
//   555 5.5.4  MAIL/RCPT parameter we do not know (RFC 5321 §4.1.1.11)
//   501 5.5.4  the other parameter refusals (parameters.hpp)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/smtp/address.hpp"
#include "core/smtp/parameters.hpp"
#include "core/smtp/result.hpp"

namespace imta::core::smtp {

struct Helo { std::string domain; bool operator==(const Helo&) const = default; };
struct Ehlo { std::string domain; bool operator==(const Ehlo&) const = default; };
struct Mail {
  Mailbox from;  ///< is_null() for MAIL FROM:<>
  MailParams params;
  bool operator==(const Mail&) const = default;
};
struct Rcpt {
  Mailbox to;  ///< domain empty for RCPT TO:<Postmaster>
  RcptParams params;
  bool operator==(const Rcpt&) const = default;
};
struct Data { bool operator==(const Data&) const = default; };
/// BDAT (RFC 3030): `size` octets follow the command line at once.
struct Bdat {
  std::uint64_t size = 0;
  bool last = false;
  bool operator==(const Bdat&) const = default;
};
struct Rset { bool operator==(const Rset&) const = default; };
struct Noop { bool operator==(const Noop&) const = default; };
struct Quit { bool operator==(const Quit&) const = default; };
struct Help { std::string topic; bool operator==(const Help&) const = default; };
struct Vrfy { std::string argument; bool operator==(const Vrfy&) const = default; };
struct Expn { std::string argument; bool operator==(const Expn&) const = default; };
struct Starttls { bool operator==(const Starttls&) const = default; };
/// AUTH (RFC 4954). `mechanism` is upper-cased; `initial_response` is the
/// base64 text as sent ("=" means an empty response); nullopt when absent.
struct Auth {
  std::string mechanism;
  std::optional<std::string> initial_response;
  bool operator==(const Auth&) const = default;
};
/// ETRN (RFC 1985): a domain, "@domain" or "#queue", as sent.
struct Etrn { std::string node; bool operator==(const Etrn&) const = default; };

using Command = std::variant<Helo, Ehlo, Mail, Rcpt, Data, Bdat, Rset, Noop, Quit, Help, Vrfy,
                            Expn, Starttls, Auth, Etrn>;

/// What the parser needs to know about the session.
struct CommandContext {
  /// The current transaction's MAIL carried SMTPUTF8: RCPT addresses may be
  /// UTF-8. (MAIL itself looks at its own parameters.)
  bool utf8_transaction = false;
};

/// Parses one command line, given without its CRLF (LineReader strips it).
Result<Command> parse_command(std::string_view line, const CommandContext& context = {});

/// The verb as it should appear in logs ("MAIL", "RCPT", ...), for a parsed
/// command.
std::string_view verb_name(const Command& command);

}  // namespace imta::core::smtp
