// Submitting a message from inside the MTA: routing its recipients through
// the rewrite rules and aliases, splitting it into one copy per destination
// channel (single / single_sys / addrsperfile), enqueuing it durably, writing
// the E records and telling the job controller. Used by the process channel
// (notifications), conversion (the converted message), l (an alias that
// points elsewhere), `imta qm return`, and later the sendmail front end. The
// SMTP server uses the routing and planning functions below too, with its own
// access checks around them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "config/snapshot.hpp"
#include "core/envelope.hpp"
#include "queue/store.hpp"

namespace imta::core::log {
class AsyncMailLog;
}

namespace imta::queue {

class EnqueueNotifier;

/// One final address of a recipient and the channel it is enqueued to.
struct Route {
  std::string channel;
  std::string active;
};

struct RouteResult {
  bool ok = false;
  std::string error;          ///< e.g. "Illegal host/domain name found"
  std::vector<Route> routes;  ///< one, or more when an alias expanded
};

/// Rewrites `address` as an envelope To address arriving from
/// `source_channel`; a recipient of a local channel is looked up in the
/// aliases and each member rewritten again. Duplicates removed.
RouteResult route_address(const config::Snapshot& snapshot, std::string_view address,
                          std::string_view source_channel);

/// The steps of route_address, for callers that check something in between
/// (the SMTP server applies ORIG_SEND_ACCESS after the first rewrite):
/// one pass of the rewrite rules (nullopt: illegal host/domain), ...
std::optional<Route> rewrite_recipient(const config::Snapshot& snapshot, std::string_view address,
                                       std::string_view source_channel);
/// ... and the final addresses an address of the local channel expands to
/// through the aliases; {active} itself when it is no alias.
std::vector<std::string> expand_local(const config::Snapshot& snapshot, const std::string& active);

/// True for channels whose recipients are local users (`l` and channels
/// with the same role), i.e. checked against the users database.
bool is_local_channel(const config::Snapshot& snapshot, std::string_view channel);

/// This host's name: the official host name of the local channel `l` (else
/// the instance's local domain, else "localhost").
std::string local_host_name(const config::Snapshot& snapshot);
/// The names mail for the local channel may carry after the `@`: the local
/// channel's host names and the instance's local domain.
std::vector<std::string> local_domains(const config::Snapshot& snapshot);

/// The queue files one message becomes: per destination channel one file, or
/// more when the channel says `single` (one per recipient), `single_sys` (one
/// per destination domain) or `addrsperfile N` (at most N per file).
/// `routes[i]` is recipient i; the result holds indexes into it.
struct PlannedCopy {
  std::string channel;
  std::vector<std::size_t> recipients;
};
std::vector<PlannedCopy> plan_copies(const config::Snapshot& snapshot, const std::vector<Route>& routes);

/// One recipient of a submission, before routing.
struct SubmitRecipient {
  std::string address;   ///< to route
  std::string original;  ///< for the log and DSN (defaults to address)
  unsigned notify = 0;
  std::string orcpt;
};

struct Submission {
  /// from, envid, ret, source_channel, notice, ... (recipients are ignored:
  /// they come from `recipients` after routing; size is set by the queue).
  /// message_id: the Message-ID of the E records; when empty, taken from
  /// the message's header. received_ms: 0 = now.
  core::Envelope envelope;
  std::vector<SubmitRecipient> recipients;
  std::string message;  ///< the whole message, CRLF line ends, not dot-stuffed
  /// Extra Message-IDs for the E records after the new one: a notification
  /// shows `<new>,<original>` (seed example 21-4).
  std::vector<std::string> related_message_ids;
  /// Route every recipient to this channel instead of through the rewrite
  /// rules (the failing channel enqueuing a notice to `process`).
  std::string force_channel;
};

/// SubmitResult::error when no recipient could be routed (permanent: every
/// one is in `refused`); any other error is the store's (temporary).
enum class SubmitError { no_routable_recipient = 1 };
const std::error_category& submit_category();
std::error_code make_error_code(SubmitError e);

struct SubmitResult {
  std::error_code error;            ///< enqueue failed: nothing was enqueued
  std::vector<QueuePath> files;     ///< what was committed
  std::vector<std::string> refused; ///< "address: reason" for recipients that could not be routed
  std::string id;                   ///< the new message's queue id
};

class Submitter {
 public:
  /// `log` and `notifier` may be null (no E records / no notification).
  Submitter(std::shared_ptr<const config::Snapshot> snapshot, Store& store, core::log::AsyncMailLog* log,
            EnqueueNotifier* notifier);
  /// Routes, enqueues (durably, blocking), logs E records and notifies.
  /// Recipients that cannot be routed are listed in `refused`; if none can,
  /// nothing is enqueued and `error` says why.
  SubmitResult submit(Submission submission);

 private:
  std::shared_ptr<const config::Snapshot> snapshot_;
  Store& store_;
  core::log::AsyncMailLog* log_;
  EnqueueNotifier* notifier_;
};

}  // namespace imta::queue

template <>
struct std::is_error_code_enum<imta::queue::SubmitError> : std::true_type {};
