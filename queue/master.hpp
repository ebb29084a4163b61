// The channel master interface: what every delivering channel (tcp_* SMTP
// client, l, process, conversion, pipe, bitbucket, hold) implements, and what
// it may use. A master is given one claimed queue file at a time and says,
// per recipient, what happened; it never renames, rewrites or removes queue
// files and never writes D/Q/R/Z/K records itself: queue/ acts on the report
// (see queue/outcome.hpp). A master lives as long as its job, so it may keep
// state between files (the SMTP client keeps connections to a host open).
//
// Masters run on job threads of the job controller, or in the foreground
// under `imta run CHANNEL`, with the same code. deliver() blocks its thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "core/log/mail_log.hpp"
#include "queue/store.hpp"

namespace imta::core::log {
class AsyncMailLog;
}

namespace imta::queue {

class Submitter;

/// What happened to one recipient of a file.
enum class RecipientStatus : std::uint8_t {
  deferred,   ///< temporary failure or not attempted: retry later (Q, or Z when others finished)
  delivered,  ///< delivered or handed to the next hop (D)
  relayed,    ///< handed to a next hop that does not do DSN (D; a "relayed" success DSN if asked)
  bounced,    ///< permanent failure (a failure DSN via process, then R; K with NOTIFY=NEVER)
  removed,    ///< removed without notice (K)
};

struct RecipientOutcome {
  RecipientStatus status = RecipientStatus::deferred;
  /// RFC 3463 status for the DSN ("5.1.1"); empty = 2.0.0 / 4.0.0 / 5.0.0 by status.
  std::string dsn_status;
  /// DSN Diagnostic-Code, e.g. "smtp; 550 5.1.1 no such user"; may be empty.
  std::string diagnostic_code;
  /// DSN Remote-MTA, e.g. "dns; mx.example.org"; may be empty.
  std::string remote_mta;
  /// The mail.log diagnostics field (LOG_DIAGNOSTICS), e.g.
  /// "dns;mx.example.org (TCP|127.0.0.1|40000|127.0.0.2|25) (mx ESMTP) smtp;250 2.0.0 Ok"
  /// or "TCP active open: Failed connect() Error: connection refused".
  std::string log_diagnostics;
  /// The mail.log connection field (LOG_CONNECTION bit 1), for SMTP deliveries
  /// "host dns;host (TCP|local-ip|local-port|remote-ip|remote-port)".
  std::string connection_info;
};

/// A master's answer for one file.
struct DeliveryReport {
  /// One per recipient of the claimed file's envelope, in the same order.
  std::vector<RecipientOutcome> recipients;
  /// Code modifiers of the D records (E: ESMTP was used, S: TLS, ...).
  core::log::Modifiers modifiers;
  /// False when the dequeue is already shown by the E records the master
  /// wrote when it passed the message on (the process channel, as in the
  /// seed's examples 21-4 and 21-5); no D records are written then.
  bool log_dequeue = true;
  /// The whole file should be held (renamed .HELD) instead (hold channel,
  /// conversion exit code "hold"). Recipient outcomes are ignored.
  bool hold = false;
};

/// What a master may use. Owned by the job controller (or `imta run`),
/// outlives every master.
struct MasterServices {
  const core::Instance* instance = nullptr;
  /// The configuration in force when the job started (a reload applies to
  /// the next job).
  std::shared_ptr<const config::Snapshot> snapshot;
  Store* store = nullptr;
  /// Enqueues new messages (notifications, conversion output, re-routed
  /// aliases), logging their E records and notifying the job controller.
  Submitter* submitter = nullptr;
  /// mail.log (O and C records of outbound connections, ...).
  core::log::AsyncMailLog* log = nullptr;
  /// The clock (Unix ms); injected so tests can step time.
  std::function<std::int64_t()> now_ms;
  /// Set when the daemon stops: finish the current file quickly.
  const std::atomic<bool>* stopping = nullptr;
  /// One line for the daemon's own log / `imta run`'s output ("what it does").
  std::function<void(std::string_view)> trace;
};

class Master {
 public:
  virtual ~Master() = default;
  /// Delivers one claimed file. Must fill one outcome per recipient; an
  /// exception counts as a temporary failure of every recipient.
  virtual DeliveryReport deliver(const Claim& claim) = 0;
  /// The job has nothing to do for now: release what is held open (idle
  /// connections). Called before the master is destroyed, too.
  virtual void idle() {}
};

/// Makes the master of `channel` for one job; nullptr when the channel has no
/// master (its files then stay queued and `imta run` says so). Given by the
/// program (imtad, imta) that links the channels, so queue/ need not.
using MasterFactory =
    std::function<std::unique_ptr<Master>(std::string_view channel, const MasterServices& services)>;

}  // namespace imta::queue
