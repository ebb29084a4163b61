// The local channel: Maildir delivery; see local_master.hpp.
#include "channels/local/local_master.hpp"

#include <cerrno>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "channels/local/mailbox_path.hpp"
#include "channels/local/maildir.hpp"
#include "core/text.hpp"
#include "core/users_db.hpp"
#include "queue/submit.hpp"

namespace imta::channels::local {

namespace {

using queue::DeliveryReport;
using queue::RecipientOutcome;
using queue::RecipientStatus;

RecipientOutcome delivered() {
  RecipientOutcome o;
  o.status = RecipientStatus::delivered;
  return o;
}

RecipientOutcome failed(RecipientStatus status, std::string dsn_status, const std::string& text) {
  RecipientOutcome o;
  o.status = status;
  o.dsn_status = std::move(dsn_status);
  o.diagnostic_code = "x-local; " + text;
  o.log_diagnostics = text;
  return o;
}

RecipientOutcome deferred(std::string status, const std::string& text) {
  return failed(RecipientStatus::deferred, std::move(status), text);
}

RecipientOutcome bounced(std::string status, const std::string& text) {
  return failed(RecipientStatus::bounced, std::move(status), text);
}

/// RFC 3463 status for a failed Maildir write.
std::string status_of_errno(int error) {
  switch (error) {
    case ENOSPC: return "4.3.1";  // mail system full
    case EDQUOT: return "4.2.2";  // mailbox full (file system quota)
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOTDIR: return "4.2.0";  // something about the mailbox
    default: return "4.3.0";
  }
}

/// Where a recipient's message goes: addresses to deliver here, and routes
/// elsewhere when the address is now an alias pointing out.
struct Plan {
  std::vector<std::string> local;
  std::vector<queue::Route> outside;
  std::optional<RecipientOutcome> failure;
};

class LocalMaster final : public queue::Master {
 public:
  LocalMaster(std::string_view channel, const queue::MasterServices& services)
      : channel_(channel), services_(services) {
    const auto& snap = *services_.snapshot;
    if (auto o = snap.channel_options.find(channel_); o != snap.channel_options.end())
      template_ = o->second.text("MAILDIR_TEMPLATE");
    local_domains_ = queue::local_domains(snap);
    default_domain_ = snap.local_domain.empty() ? queue::local_host_name(snap) : snap.local_domain;
  }

  DeliveryReport deliver(const queue::Claim& claim) override {
    const auto& env = claim.file().envelope;
    DeliveryReport report;
    report.recipients.reserve(env.recipients.size());
    mailboxes_.clear();
    message_.reset();
    for (const auto& rcpt : env.recipients) report.recipients.push_back(deliver_one(claim, rcpt));
    message_.reset();
    return report;
  }

  void idle() override { users_.reset(); }

 private:
  void trace(const std::string& line) const {
    if (services_.trace) services_.trace(channel_ + ": " + line);
  }

  const std::string& message(const queue::Claim& claim) {
    if (!message_) message_ = claim.message();
    return *message_;
  }

  /// The users database, opened on first use (and again after a failure).
  core::UsersDb* users(std::string& error) {
    if (users_) return users_.get();
    try {
      // Created when missing, as the SMTP server does: no users yet means
      // every recipient is unknown, not that the database is unavailable.
      users_ = std::make_unique<core::UsersDb>(core::UsersDb::open(
          core::users_db_path(*services_.instance), {.create = true, .busy_timeout_ms = 5000}));
    } catch (const std::exception& e) {
      error = e.what();
    }
    return users_.get();
  }

  Plan plan(const core::Recipient& rcpt) const {
    Plan p;
    auto routed = queue::route_address(*services_.snapshot, rcpt.active, channel_);
    auto here = [&](const queue::Route& r) { return core::iequals(r.channel, channel_); };
    bool names_itself = false;
    for (const auto& r : routed.routes)
      if (here(r) && core::iequals(r.active, rcpt.active)) names_itself = true;
    if (!routed.ok) {
      auto members = queue::expand_local(*services_.snapshot, rcpt.active);
      if (!(members.size() == 1 && core::iequals(members.front(), rcpt.active))) {
        // Now an alias with a member that routes nowhere: the SMTP server
        // would refuse it the same way.
        p.failure = bounced("5.1.2", routed.error);
        return p;
      }
    }
    if (!routed.ok || names_itself || routed.routes.empty()) {
      // Not an alias (or one that names itself: its other members were
      // queued when it was expanded on arrival). An address that no longer
      // routes at all is still tried as a user: it was accepted for here.
      p.local.push_back(rcpt.active);
      return p;
    }
    for (const auto& r : routed.routes) {
      if (here(r)) p.local.push_back(r.active);
      else p.outside.push_back(r);
    }
    return p;
  }

  RecipientOutcome deliver_one(const queue::Claim& claim, const core::Recipient& rcpt) {
    Plan p = plan(rcpt);
    if (p.failure) return *p.failure;

    // Every local address must be a user's, before anything is delivered.
    std::vector<std::pair<std::string, MailboxOwner>> targets;  // address, owner
    for (const auto& address : p.local) {
      std::string error;
      auto* db = users(error);
      if (!db) return deferred("4.3.0", "user database unavailable: " + error);
      auto match = db->find_recipient(address, local_domains_);
      switch (match.status) {
        case core::RecipientStatus::found: break;
        case core::RecipientStatus::unknown:
          if (core::iequals(address, rcpt.active)) return bounced("5.1.1", "no such user: " + address);
          return bounced("5.1.1", "no such user: " + address + " (in the expansion of " + rcpt.active + ")");
        case core::RecipientStatus::unavailable:
          users_.reset();
          return deferred("4.3.0", "user database unavailable: " + match.error);
      }
      targets.emplace_back(address, mailbox_owner(match.user, default_domain_));
    }

    for (const auto& [address, owner] : targets) {
      std::string error;
      auto path = maildir_path(template_, services_.instance->root(), owner, &error);
      if (!path) return deferred("4.3.5", error);
      auto key = path->string();
      if (auto seen = mailboxes_.find(key); seen != mailboxes_.end()) {
        if (seen->second.status != RecipientStatus::delivered) return seen->second;
        continue;  // this file already put the message there
      }
      std::string delivered_to = address.find('@') == std::string::npos ? address + "@" + owner.domain : address;
      auto written = deliver_to_maildir(*path, maildir_bytes(claim.file().envelope.from, delivered_to, message(claim)));
      if (!written.ok) {
        auto outcome = deferred(status_of_errno(written.error), written.text);
        mailboxes_.emplace(key, outcome);
        trace("deferred " + address + ": " + written.text);
        return outcome;
      }
      mailboxes_.emplace(key, delivered());
      trace("delivered " + address + " to " + written.file.string());
    }

    if (!p.outside.empty()) return reroute(claim, rcpt, p.outside);
    return delivered();
  }

  /// An alias that now points elsewhere: enqueue the message again for its
  /// members there, as a new message of this channel.
  RecipientOutcome reroute(const queue::Claim& claim, const core::Recipient& rcpt,
                           const std::vector<queue::Route>& routes) {
    if (!services_.submitter) return deferred("4.3.0", "cannot re-route " + rcpt.active + ": no submitter");
    queue::Submission s;
    s.envelope = claim.file().envelope;
    s.envelope.recipients.clear();
    s.envelope.notice = {};
    s.envelope.source_channel = channel_;
    for (const auto& r : routes) s.recipients.push_back({r.active, rcpt.original, rcpt.notify, rcpt.orcpt});
    s.message = message(claim);
    auto result = services_.submitter->submit(std::move(s));
    if (result.error == queue::SubmitError::no_routable_recipient) {
      std::string why = result.refused.empty() ? std::string("no route") : result.refused.front();
      return bounced("5.1.2", "alias " + rcpt.active + " cannot be routed: " + why);
    }
    if (result.error) return deferred("4.3.0", "cannot re-enqueue " + rcpt.active + ": " + result.error.message());
    for (const auto& r : result.refused) trace("alias " + rcpt.active + ": not routed: " + r);
    trace("re-routed " + rcpt.active + " as " + result.id);
    return delivered();
  }

  std::string channel_;
  queue::MasterServices services_;
  std::string template_{default_maildir_template};
  std::vector<std::string> local_domains_;
  std::string default_domain_;
  std::unique_ptr<core::UsersDb> users_;
  /// Per file: what happened at each Maildir (one copy per mailbox).
  std::map<std::string, RecipientOutcome> mailboxes_;
  std::optional<std::string> message_;
};

}  // namespace

std::unique_ptr<queue::Master> make_master(std::string_view channel, const queue::MasterServices& services) {
  if (!services.instance || !services.snapshot) return nullptr;
  return std::make_unique<LocalMaster>(channel, services);
}

}  // namespace imta::channels::local
