// The delivery status notification the process channel sends: an RFC 3464
// multipart/report (report-type=delivery-status) built from a core::Notice
// and the original message. Pure: no files, no clock (times are given),
// no configuration lookups (the caller resolves them); tests parse the
// result directly.
//
//   multipart/report; report-type=delivery-status
//     1. text/plain            the readable part, from a template
//                              (config/locale/return_*.txt, see imta-notices(5))
//     2. message/delivery-status
//                              Reporting-MTA, Original-Envelope-Id, Arrival-Date,
//                              then per recipient Final-Recipient,
//                              Original-Recipient, Action, Status, Remote-MTA,
//                              Diagnostic-Code, Last-Attempt-Date
//     3. message/rfc822        the original (RET=FULL; failures by default)
//        or text/rfc822-headers  its header only (RET=HDRS; success and
//                              delay notices by default; postmaster copies
//                              under postheadonly; originals bigger than
//                              CONTENT_RETURN_BLOCK_LIMIT)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/envelope.hpp"

namespace imta::channels::process {

/// How much of the original a report returns.
enum class Returned : std::uint8_t { full, headers };

/// What the report returns: by RET and kind, cut to the header by the
/// postmaster's postheadonly copy or by the size limit (`limit_bytes`, 0 =
/// none). `truncated` says the limit cut it.
struct ReturnChoice {
  Returned returned = Returned::full;
  bool truncated = false;
};
ReturnChoice choose_return(const core::Notice& notice, bool headers_only_copy, std::uint64_t message_size,
                           std::uint64_t limit_bytes);

/// The header section of a message (up to and including the blank line's
/// CRLF; the whole message when it has no body).
std::string_view header_section(std::string_view message);

/// A template split into its Subject (a first line "Subject: ...", optional)
/// and its body; substitutions are "${NAME}" (see imta-notices(5)); an
/// unknown name is left as it is.
struct ReportTemplate {
  std::string subject;
  std::string body;
};
ReportTemplate parse_template(std::string_view text);
std::string substitute(std::string_view text, const std::map<std::string, std::string>& values);

struct ReportInput {
  const core::Notice* notice = nullptr;
  std::string_view original;        ///< the original message (CRLF)
  std::string reporting_mta;        ///< this host's official name
  std::string from;                 ///< the From: field value, e.g. "Internet Mail Delivery <postmaster@host>"
  std::string to;                   ///< the To: address
  std::string message_id;           ///< with <>
  std::int64_t date_ms = 0;         ///< Date: of the report
  int utc_offset_minutes = 0;       ///< for every date the report writes
  ReturnChoice returned;
  ReportTemplate text;              ///< the template, substituted already
  std::string boundary;             ///< must not occur in the original
};

/// The whole report, CRLF line ends, ready to enqueue.
std::string build_report(const ReportInput& input);

/// A boundary that does not occur in `original`, from `seed` (unique per call).
std::string make_boundary(std::string_view seed, std::string_view original);

/// "Fri, 21 Nov 2026 10:31:05 +0100".
std::string rfc5322_date(std::int64_t unix_ms, int utc_offset_minutes);

/// The values templates may use for `notice` (see imta-notices(5)).
std::map<std::string, std::string> template_values(const core::Notice& notice, std::string_view original,
                                                   std::string_view reporting_mta, std::string_view postmaster,
                                                   const ReturnChoice& returned, int utc_offset_minutes);

}  // namespace imta::channels::process
