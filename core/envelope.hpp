// The envelope of one message copy: who sent it, to whom, how it arrived and
// what the sender asked for (DSN). Every part of the MTA passes this model;
// only queue/ knows how it is written to disk.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace imta::core {

/// DSN NOTIFY (RFC 3461) as bits; 0 means "not specified", which behaves as
/// FAILURE+DELAY. These values are also the NOTARY integer of mail.log
/// (LOG_NOTARY), documented in imta-queue(5).
enum NotifyFlags : unsigned {
  notify_success = 1,
  notify_failure = 2,
  notify_delay = 4,
  notify_never = 8,
};

/// DSN RET (RFC 3461).
enum class Ret : std::uint8_t { unspecified, full, hdrs };

struct Recipient {
  std::string active;    ///< the rewritten address this copy delivers to
  std::string original;  ///< the address as first given (before rewriting/aliases)
  unsigned notify = 0;   ///< NotifyFlags
  std::string orcpt;     ///< ORCPT as received, e.g. "rfc822;user@example.org"; may be empty
};

struct Envelope {
  std::string from;  ///< envelope sender; empty for <> (notifications)
  std::string envid;  ///< DSN ENVID, xtext-decoded; may be empty
  Ret ret = Ret::unspecified;
  std::string source_channel;  ///< channel that enqueued it (tcp_local, l, process, ...)
  std::string client_ip;       ///< empty for local submissions
  std::string client_helo;
  std::string client_name;     ///< reverse DNS name, if known
  std::string auth_user;       ///< SMTP AUTH identity, empty if none
  std::string tls;             ///< e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"; empty without TLS
  std::int64_t received_ms = 0;  ///< arrival, Unix time in milliseconds
  std::uint64_t size = 0;        ///< message bytes (set by the queue when the copy is committed)
  std::string message_id;        ///< Message-ID header value with <>, if any
  std::vector<Recipient> recipients;
};

}  // namespace imta::core
