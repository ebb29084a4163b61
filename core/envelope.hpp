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

/// What a notification (a DSN the `process` channel turns into a report)
/// says, carried in the envelope of the copy enqueued to `process`; the
/// message bytes of that copy are the original message (RET decides how much
/// of it the report includes). See channels/process and imta-queue(5).
enum class NoticeKind : std::uint8_t { none, failure, delay, success };

/// One recipient the notice reports on (RFC 3464 per-recipient fields).
struct NoticeRecipient {
  std::string final_recipient;     ///< the active address, e.g. "user@example.org"
  std::string original_recipient;  ///< ORCPT "rfc822;user@example.org", may be empty
  std::string action;              ///< failed, delayed, delivered, relayed, expanded
  std::string status;              ///< RFC 3463, e.g. "5.1.1"
  std::string remote_mta;          ///< e.g. "dns; mx.example.org", may be empty
  std::string diagnostic;          ///< e.g. "smtp; 550 5.1.1 no such user", may be empty
  std::int64_t last_attempt_ms = 0;
};

struct Notice {
  NoticeKind kind = NoticeKind::none;
  std::string original_id;          ///< queue id of the message reported on
  std::string original_message_id;  ///< its Message-ID (with <>)
  std::string original_from;        ///< its envelope sender
  std::string original_envid;       ///< its DSN ENVID
  Ret original_ret = Ret::unspecified;
  std::string reporting_channel;    ///< channel that failed/delivered (tcp_local, l, ...)
  std::int64_t arrival_ms = 0;      ///< when the original arrived
  std::vector<NoticeRecipient> recipients;
  /// The recipient of this copy that is the postmaster's copy (its address
  /// as enqueued; empty when none), and whether that copy returns only the
  /// original's header (postheadonly).
  std::string postmaster;
  bool postmaster_headers_only = false;
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
  /// Set only on copies to the `process` channel that ask for a DSN.
  Notice notice;
};

}  // namespace imta::core
