// The text mailq(1) prints, in the shape of Postfix's mailq that monitoring
// plugins and scripts parse: a header row; per queued copy its queue ID with
// a mark (`*` being delivered, `!` held), size, arrival time and sender, then
// the recipients indented under the sender, each preceded by its last error
// in parentheses (at the start of the line, once for consecutive recipients
// with the same error); a blank line after each; a `-- N Kbytes in M
// Requests.` trailer; "Mail queue is empty" when there is nothing. Pure
// functions: the caller reads the queue (see mailq.cpp).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

namespace imta::tools::sendmail {

struct MailqRecipient {
  std::string address;
  std::string last_error;  ///< "" when it has none
};

/// One request: one queue file (a message's copy for one channel).
struct MailqEntry {
  std::string id;          ///< the queue ID (the unique part of the file name)
  char mark = ' ';         ///< '*' being delivered, '!' held, ' ' waiting
  std::uint64_t size = 0;  ///< message bytes
  std::string arrival;     ///< arrival_text() of its arrival time
  std::string sender;      ///< "" = the null sender, shown as MAILER-DAEMON
  std::vector<MailqRecipient> recipients;
  std::string detail;      ///< -v: one more indented line in brackets; "" = none
};

/// `Sat Nov 21 17:10:22` (asctime's form without the year) in the local time zone.
std::string arrival_text(std::time_t when);

/// The trailer line: `-- 3 Kbytes in 2 Requests.`, the bytes of all requests
/// together rounded up to whole Kbytes (1 Kbyte = 1024 bytes), "Request" for one.
std::string mailq_trailer(std::uint64_t bytes, std::size_t requests);

/// The whole listing of `entries`, in the order given.
std::string format_mailq(const std::vector<MailqEntry>& entries);

}  // namespace imta::tools::sendmail
