// Acting on a master's report; see outcome.hpp for the order of things.
#include "queue/outcome.hpp"

#include <chrono>

#include "config/log_options.hpp"
#include "core/log/async_log.hpp"
#include "core/text.hpp"
#include "queue/log_record.hpp"
#include "queue/notice.hpp"
#include "queue/submit.hpp"

namespace imta::queue {

namespace {

using core::log::LogRecord;
using core::log::RecordCode;

/// What the log and the history say about an outcome.
std::string diagnostic_of(const RecipientOutcome& o) {
  return !o.log_diagnostics.empty() ? o.log_diagnostics : o.diagnostic_code;
}

/// NOTIFY=NEVER asks for no notice; with FAILURE set as well NEVER is ignored.
bool notify_never(const core::Recipient& r) {
  return (r.notify & core::notify_never) != 0 && (r.notify & core::notify_failure) == 0;
}

class Outcomes {
 public:
  Outcomes(const MasterServices& services, Claim& claim)
      : services_(services),
        claim_(claim),
        channel_(claim.entry().channel),
        tried_path_(claim.entry().path.string()),
        envelope_(claim.file().envelope),
        now_(services.now_ms ? services.now_ms()
                             : std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count()),
        logs_(services.log != nullptr && services.snapshot != nullptr &&
              config::channel_logs(services.snapshot->imta_cnf, channel_)) {}

  OutcomeSummary apply(const DeliveryReport& report) {
    if (report.hold) return hold(report);
    outcomes_ = report.recipients;
    if (outcomes_.size() < envelope_.recipients.size()) {
      RecipientOutcome missing;
      missing.log_diagnostics = "the channel's master reported no outcome for this recipient";
      outcomes_.resize(envelope_.recipients.size(), missing);
    }
    outcomes_.resize(envelope_.recipients.size());
    bounces();
    deliveries(report);
    removals();
    finish();
    flush_records();
    return summary_;
  }

 private:
  // --- 1. bounced recipients: the notice first, then R (K for NOTIFY=NEVER)
  void bounces() {
    std::vector<std::size_t> told;
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
      if (outcomes_[i].status != RecipientStatus::bounced) continue;
      if (notify_never(envelope_.recipients[i])) {
        record(i, RecordCode::Removed);
        finished(i, Outcome::bounced);
        ++summary_.removed;
      } else {
        told.push_back(i);
      }
    }
    if (told.empty()) return;
    std::string error = send_notice(core::NoticeKind::failure, told);
    for (std::size_t i : told) {
      if (!error.empty()) {
        // Without its notice a bounce would be silent: try again later.
        auto& o = outcomes_[i];
        o.log_diagnostics = "cannot enqueue the failure notice (" + error + "); was: " + diagnostic_of(o);
        o.status = RecipientStatus::deferred;
        continue;
      }
      record(i, RecordCode::Return);
      finished(i, Outcome::bounced);
      ++summary_.bounced;
    }
  }

  // --- 2. delivered and relayed: D records, success notices
  void deliveries(const DeliveryReport& report) {
    std::vector<std::size_t> receipts;
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
      auto s = outcomes_[i].status;
      if (s != RecipientStatus::delivered && s != RecipientStatus::relayed) continue;
      if (report.log_dequeue) record(i, RecordCode::Dequeue, report.modifiers);
      finished(i, Outcome::delivered);
      ++summary_.delivered;
      if (envelope_.recipients[i].notify & core::notify_success) receipts.push_back(i);
    }
    if (receipts.empty()) return;
    flush_records();  // D before the notice's E records
    if (std::string error = send_notice(core::NoticeKind::success, receipts); !error.empty())
      trace("success notice for " + file_name() + " not sent: " + error);
  }

  // --- 3. removed without notice
  void removals() {
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
      if (outcomes_[i].status != RecipientStatus::removed) continue;
      record(i, RecordCode::Removed);
      finished(i, Outcome::note);
      ++summary_.removed;
    }
  }

  // --- 4. what is left: retry the file, a new file for the rest, or remove it
  void finish() {
    std::vector<core::Recipient> remaining;
    std::vector<HistoryRecord> deferred;
    for (std::size_t i = 0; i < outcomes_.size(); ++i) {
      if (outcomes_[i].status != RecipientStatus::deferred) continue;
      remaining.push_back(envelope_.recipients[i]);
      deferred.push_back({now_, Outcome::deferred, envelope_.recipients[i].active, diagnostic_of(outcomes_[i])});
    }
    summary_.deferred = static_cast<unsigned>(remaining.size());
    Store& store = *services_.store;
    if (remaining.empty()) {
      if (auto r = store.complete(claim_); !r.ok) return fail(r.error);
      summary_.file_removed = true;
      return;
    }
    const bool some_finished = remaining.size() < envelope_.recipients.size();
    for (std::size_t i = 0; i < outcomes_.size(); ++i)
      if (outcomes_[i].status == RecipientStatus::deferred)
        record(i, some_finished ? RecordCode::PartialRequeue : RecordCode::Requeue);
    if (some_finished) {
      history_.insert(history_.end(), deferred.begin(), deferred.end());
      if (auto r = store.partial(claim_, remaining, history_); !r.ok) return fail(r.error);
      if (auto r = store.retry(claim_, {}); !r.ok) return fail(r.error);
    } else {
      if (auto r = store.retry(claim_, deferred); !r.ok) return fail(r.error);
    }
    summary_.next_name = claim_.entry().name.str();
  }

  OutcomeSummary hold(const DeliveryReport& report) {
    std::string why;
    for (const auto& o : report.recipients)
      if (!diagnostic_of(o).empty()) {
        why = diagnostic_of(o);
        break;
      }
    Store& store = *services_.store;
    std::string note = "held by channel " + channel_ + (why.empty() ? "" : ": " + why);
    if (auto r = store.note(claim_, {{now_, Outcome::held, "", note}}); !r.ok) {
      summary_.error = r.error;
      return summary_;
    }
    // Store::hold takes the file's lock itself: let go of the claim first.
    // Someone may claim the file in between; then the hold fails and the
    // next attempt holds it.
    QueueEntry entry = claim_.entry();
    const std::string name = file_name();
    { Claim released = std::move(claim_); }
    if (auto r = store.hold(entry); !r.ok) {
      summary_.error = "cannot hold " + entry.path.string() + ": " + r.error;
      return summary_;
    }
    summary_.held = true;
    trace(name + " " + note);
    return summary_;
  }

  // --- helpers
  /// Enqueues the notice for `indexes`; "" when sent or when nobody is to be
  /// told (that is logged), else the error.
  std::string send_notice(core::NoticeKind kind, const std::vector<std::size_t>& indexes) {
    if (!services_.snapshot) return "no configuration";
    std::vector<NoticeItem> items;
    for (std::size_t i : indexes) items.push_back({&envelope_.recipients[i], &outcomes_[i]});
    auto submission = notice_submission(*services_.snapshot, channel_, claim_.entry().name.id, envelope_,
                                        claim_.message(), kind, items, now_);
    if (!submission) {
      trace("no " + std::string(kind == core::NoticeKind::success ? "success" : "failure") + " notice for " +
            file_name() + ": nobody to tell (empty envelope sender, no postmaster copy)");
      return {};
    }
    if (services_.submitter == nullptr) return "no submitter";
    auto result = services_.submitter->submit(std::move(*submission));
    if (result.error) return result.error.message();
    return {};
  }

  void record(std::size_t i, RecordCode code, const core::log::Modifiers& modifiers = {}) {
    if (!logs_) return;
    const auto& r = envelope_.recipients[i];
    const auto& o = outcomes_[i];
    // The file under the name it had when tried (ZZ... on the first Q).
    LogRecord rec = recipient_record(code, channel_, envelope_, r, tried_path_);
    rec.modifiers = modifiers;
    rec.connection_info = o.connection_info;
    if (auto d = diagnostic_of(o); !d.empty()) rec.diagnostics = {std::move(d)};
    records_.push_back(std::move(rec));
  }

  void finished(std::size_t i, Outcome outcome) {
    history_.push_back({now_, outcome, envelope_.recipients[i].active, diagnostic_of(outcomes_[i])});
  }

  void flush_records() {
    if (logs_ && !records_.empty()) services_.log->write(std::move(records_));
    records_.clear();
  }

  void fail(const std::string& error) { summary_.error = error; }

  std::string file_name() const { return channel_ + "/" + claim_.entry().name.str(); }

  void trace(const std::string& line) const {
    if (services_.trace) services_.trace(line);
  }

  const MasterServices& services_;
  Claim& claim_;
  const std::string channel_;
  const std::string tried_path_;
  const core::Envelope envelope_;
  const std::int64_t now_;
  const bool logs_;
  std::vector<RecipientOutcome> outcomes_;
  std::vector<LogRecord> records_;
  std::vector<HistoryRecord> history_;  // of finished recipients, for a partial's new file
  OutcomeSummary summary_;
};

}  // namespace

OutcomeSummary apply_outcome(const MasterServices& services, Claim& claim, const DeliveryReport& report) {
  return Outcomes(services, claim).apply(report);
}

}  // namespace imta::queue
