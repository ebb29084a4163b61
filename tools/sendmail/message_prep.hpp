// What sendmail(8) does to a message read from standard input before it is
// queued, as pure functions: where the input ends (a lone "." unless -i),
// bare LF to CRLF, the header section split into fields, -t's recipients
// from To/Cc/Bcc (Bcc removed), and the fields added when missing (Date,
// Message-ID, From from the caller's name or -F) plus the Received: field
// that names the local user. No files, no clock: the caller passes the
// facts (time, ids, names) in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace imta::tools::sendmail {

/// The input up to (not including) a line that holds only "." (LF or CRLF
/// ended, or the last line), the way sendmail reads without -i. Everything
/// after that line is ignored.
std::string_view cut_at_lone_dot(std::string_view input);

/// Without a leading mbox "From " line (what `mail` programs and some
/// scripts put on top; it is not a header field and would end the header).
std::string_view skip_mbox_from_line(std::string_view input);

/// One header field, as it stands: the name and the whole field text
/// ("Name: value" with its folded lines and the final CRLF).
struct HeaderField {
  std::string name;
  std::string text;
};

/// A message split at the end of its header section. `fields` are the
/// leading lines that form header fields; the body is what follows the empty
/// line that ends them, or, when the input does not start with header
/// fields followed by an empty line, everything after the fields (a
/// separator is then written by join_message).
struct SplitMessage {
  std::vector<HeaderField> fields;
  std::string body;
};
/// `message` must have CRLF line ends (see core::to_crlf).
SplitMessage split_message(std::string_view message);
/// The message again: the fields, an empty line, the body.
std::string join_message(const SplitMessage& message);

/// True when the message has a field of that name (any case).
bool has_field(const SplitMessage& message, std::string_view name);
/// The value of a field (after the colon, unfolded, trimmed).
std::string field_value(const HeaderField& field);

/// The addresses of an RFC 5322 address list ("A <a@x>, b@y (Bee),
/// group: c@z;"): display names, comments and group names dropped, the
/// addr-spec of each mailbox kept as written. Empty elements are skipped.
std::vector<std::string> parse_address_list(std::string_view list);

/// -t: the recipients named by the header (To, Cc and Bcc; or, when the
/// message has any Resent-To/Cc/Bcc field, those: it is being resent), in
/// order, duplicates (any case) removed.
std::vector<std::string> header_recipients(const SplitMessage& message);
/// Removes Bcc and Resent-Bcc fields (after -t read them).
void remove_bcc(SplitMessage& message);

/// `address` with `domain` appended when it has no "@" (sendmail qualifies
/// bare user names with the local domain); "" and "<>" become "" (the null
/// sender); angle brackets around an address are removed.
std::string qualify(std::string_view address, std::string_view domain);

/// `Name <address>`, the name quoted when it holds characters that are not
/// allowed in an unquoted display name; just `address` for an empty name.
std::string mailbox_text(std::string_view name, std::string_view address);

/// The fields sendmail adds when the message lacks them (appended to the
/// header in this order: From, Date, Message-ID).
struct MissingFields {
  std::string from;        ///< mailbox_text(...) for From:
  std::string date;        ///< RFC 5322 date-time
  std::string message_id;  ///< "<...>"
};
void add_missing_fields(SplitMessage& message, const MissingFields& fields);

/// The Received: field of a local submission, CRLF ended:
///   Received: (from alice, uid 1000)
///           by mail.example.test (imta sendmail) id 0QX...
///           for <bob@example.test>;
///           Sat, 21 Nov 2026 10:31:05 +0000
/// `for_address` is given only for a single recipient (as the SMTP server).
struct LocalReceived {
  std::string user;
  std::int64_t uid = 0;
  std::string by_host;
  std::string id;
  std::string for_address;
  std::string date;
};
std::string local_received_field(const LocalReceived& r);

/// The X-Authentication-Warning: field sendmail writes when a user that is
/// not trusted asked for another envelope sender (which we then replace).
std::string authentication_warning_field(std::string_view host, std::string_view user,
                                         std::string_view asked_sender);

}  // namespace imta::tools::sendmail
