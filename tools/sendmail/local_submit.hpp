// A local submission as the SMTP server would take it, without SMTP: the
// source channel is `l`, the sender passes FROM_ACCESS, each recipient the
// rewrite rules, ORIG_SEND_ACCESS / ORIG_MAIL_ACCESS, the aliases, SEND_ACCESS
// / MAIL_ACCESS and the users database (channels/tcp/smtp_policy.hpp's
// check_mail and route_recipient, so both paths decide alike); then the
// message is enqueued through the queue store directly (so it works while
// imtad is down), its E records written (J records for refusals) and the
// job controller told.
//
// The access probes see what a local submission has instead of a
// connection: an empty port-access probe ("||||") and, as the app-info, the
// protocol the policy functions write (SMTP) with the caller's login name
// where a HELO name would be ("SMTP/www-data"), so a table can single a
// user out, e.g.
//   ORIG_MAIL_ACCESS
//     ||||*|SMTP/www-data|MAIL|l|*|tcp_local|*   $NNot$ allowed
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "channels/tcp/server_resources.hpp"
#include "channels/tcp/smtp_data.hpp"
#include "channels/tcp/smtp_policy.hpp"
#include "core/instance.hpp"
#include "core/log/async_log.hpp"
#include "queue/notify.hpp"
#include "queue/store.hpp"

namespace imta::tools::sendmail {

using channels::tcp::AcceptedRecipient;
using channels::tcp::Reply;

/// The source channel of every local submission.
inline constexpr std::string_view kLocalChannel = "l";

/// What was decided for one recipient.
struct RecipientVerdict {
  std::string address;                ///< as given (qualified)
  std::optional<Reply> refusal;       ///< refused (permanently: 5xx, or for now: 4xx)
  std::vector<AcceptedRecipient> accepted;  ///< one per final address
};

/// What one submission needs open: the compiled configuration, the queue,
/// mail.log, the users database and the job controller's socket.
class LocalSubmitter {
 public:
  LocalSubmitter(const core::Instance& instance, std::shared_ptr<const config::Snapshot> snapshot, std::string user);
  ~LocalSubmitter();

  const config::Snapshot& snapshot() const { return *snapshot_; }

  /// FROM_ACCESS on the envelope sender ("" for <>): the sender to use
  /// (a mapping may rewrite it) or the refusal.
  channels::tcp::MailDecision check_sender(const std::string& from);
  /// Routes one recipient for the sender check_sender() accepted.
  RecipientVerdict route(const std::string& from, const std::string& address, unsigned notify);

  /// A J record for a refused sender or recipient (when `l` logs).
  void log_refusal(const std::string& from, const std::string& to, const Reply& reply);

  struct Enqueued {
    std::error_code error;  ///< nothing was enqueued
    std::string id;
    std::vector<queue::QueuePath> files;
  };
  /// Enqueues `message` (CRLF, not dot-stuffed) for `recipients`: the
  /// field `top(id)` returns (the Received: header) goes first. Blocks
  /// until the copies are durable; then E records and the notification.
  Enqueued enqueue(const channels::tcp::TransactionInfo& info, const std::vector<AcceptedRecipient>& recipients,
                   const std::function<std::string(const std::string& id)>& top, const std::string& message);

  /// Waits until mail.log has every record written so far.
  void flush_log();

 private:
  channels::tcp::SessionFacts facts() const;

  core::Instance instance_;
  std::shared_ptr<const config::Snapshot> snapshot_;
  std::string user_;
  channels::tcp::Diversion diversion_ = channels::tcp::Diversion::none;
  std::vector<std::string> local_domains_;
  channels::tcp::UsersPool users_;
  queue::EnqueueNotifier notifier_;
  std::unique_ptr<queue::Store> store_;
  core::log::AsyncMailLog log_;
};

}  // namespace imta::tools::sendmail
