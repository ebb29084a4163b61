// The Received: header the SMTP server puts on top of every message it
// accepts (RFC 5321 §4.4, RFC 5322 §3.6.7), with the protocol names of
// RFC 3848 (ESMTPS, ESMTPA, ESMTPSA) and RFC 6531 (UTF8SMTP...). Pure.
//
//   Received: from client.example.org ([192.0.2.1])
//           by mail.example.net (imta) with ESMTPSA id 0QX5T3ZK...
//           (TLSv1.3 TLS_AES_256_GCM_SHA384)
//           for <user@example.net>;
//           Sat, 21 Nov 2026 10:31:05 +0100
//
// No DNS lookups are made: the client's name in the TCP-info part is its
// address literal. A HELO argument that is not a domain or an address
// literal is not put in the `from` clause (where it would break the
// header's syntax) but quoted in a comment.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imta::channels::tcp {

struct ReceivedInfo {
  std::string helo;         ///< the HELO/EHLO argument as sent (may be empty)
  std::string client_ip;    ///< "192.0.2.1" or "2001:db8::1"
  std::string by_host;      ///< this host's name
  bool esmtp = false;       ///< EHLO was used
  bool tls = false;
  bool authenticated = false;
  bool utf8 = false;        ///< the transaction used SMTPUTF8
  std::string tls_info;     ///< e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"
  std::string id;           ///< queue id
  std::string for_address;  ///< the one recipient, when there is exactly one
  std::int64_t unix_time = 0;
  int utc_offset_minutes = 0;  ///< of the local time zone at unix_time
};

/// "SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA", or the UTF8SMTP forms.
std::string with_protocol(const ReceivedInfo& info);

/// An RFC 5322 date-time: "Sat, 21 Nov 2026 10:31:05 +0100".
std::string rfc5322_date(std::int64_t unix_time, int utc_offset_minutes);
/// The same for now, in the local time zone.
std::string rfc5322_date_now();

/// The whole header, folded, ending in CRLF.
std::string received_header(const ReceivedInfo& info);

}  // namespace imta::channels::tcp
