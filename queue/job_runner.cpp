// One step of a delivery job; see job_runner.hpp.
#include "queue/job_runner.hpp"

#include <exception>

namespace imta::queue {

namespace {

std::string_view status_name(RecipientStatus s) {
  switch (s) {
    case RecipientStatus::deferred: return "deferred";
    case RecipientStatus::delivered: return "delivered";
    case RecipientStatus::relayed: return "relayed";
    case RecipientStatus::bounced: return "bounced";
    case RecipientStatus::removed: return "removed";
  }
  return "?";
}

std::string display(const QueueEntry& e) { return e.channel + "/" + e.name.str(); }

}  // namespace

std::string_view result_name(FileAttempt::Result r) {
  switch (r) {
    case FileAttempt::Result::finished: return "finished";
    case FileAttempt::Result::deferred: return "deferred";
    case FileAttempt::Result::held: return "held";
    case FileAttempt::Result::busy: return "busy";
    case FileAttempt::Result::gone: return "gone";
    case FileAttempt::Result::unreadable: return "unreadable";
    case FileAttempt::Result::failed: return "failed";
  }
  return "?";
}

FileAttempt attempt_file(Master& master, const MasterServices& services, const QueueEntry& entry) {
  FileAttempt out;
  out.entry = entry;
  auto trace = [&](const std::string& line) {
    if (services.trace) services.trace(line);
  };
  ClaimError why{};
  auto claim = services.store->claim(entry, &why);
  if (!claim) {
    switch (why) {
      case ClaimError::busy: out.result = FileAttempt::Result::busy; break;
      case ClaimError::gone: out.result = FileAttempt::Result::gone; break;
      case ClaimError::incomplete:
      case ClaimError::corrupt: out.result = FileAttempt::Result::unreadable; break;
      case ClaimError::io: out.result = FileAttempt::Result::failed; break;
    }
    out.error = std::string(claim_error_text(why));
    trace(display(entry) + ": skipped: " + out.error);
    return out;
  }

  const auto& recipients = claim->file().envelope.recipients;
  DeliveryReport report;
  try {
    report = master.deliver(*claim);
  } catch (const std::exception& e) {
    report = {};
    RecipientOutcome o;
    o.log_diagnostics = std::string("delivery failed: ") + e.what();
    report.recipients.assign(recipients.size(), o);
  } catch (...) {
    report = {};
    RecipientOutcome o;
    o.log_diagnostics = "delivery failed: unknown error";
    report.recipients.assign(recipients.size(), o);
  }
  // Only with a trace (debug): these lines cost allocations per file.
  const bool tracing = static_cast<bool>(services.trace);
  const std::string tried = tracing ? display(claim->entry()) : std::string();
  // The lines first: apply_outcome may turn a bounce whose notice cannot be
  // enqueued into a deferral, which its summary then shows.
  if (tracing && !report.hold) {
    for (std::size_t i = 0; i < recipients.size(); ++i) {
      const RecipientOutcome* o = i < report.recipients.size() ? &report.recipients[i] : nullptr;
      std::string line = tried + " " + recipients[i].active + ": " +
                         std::string(o ? status_name(o->status) : "deferred (no outcome reported)");
      if (o && !o->log_diagnostics.empty()) line += ": " + o->log_diagnostics;
      else if (o && !o->diagnostic_code.empty()) line += ": " + o->diagnostic_code;
      trace(line);
    }
  }

  out.summary = apply_outcome(services, *claim, report);
  if (!out.summary.error.empty()) {
    out.result = FileAttempt::Result::failed;
    out.error = out.summary.error;
    if (tracing) trace(tried + ": " + out.error + " (the file stays; a later attempt acts again)");
    return out;
  }
  if (out.summary.held) {
    out.result = FileAttempt::Result::held;
    out.entry.name.held = true;
    return out;
  }
  if (out.summary.file_removed) {
    out.result = FileAttempt::Result::finished;
    if (tracing)
      trace(tried + ": done (" + std::to_string(out.summary.delivered) + " delivered, " +
            std::to_string(out.summary.bounced) + " bounced, " + std::to_string(out.summary.removed) + " removed)");
    return out;
  }
  out.result = FileAttempt::Result::deferred;
  out.entry = claim->entry();
  if (tracing) trace(tried + ": " + std::to_string(out.summary.deferred) + " deferred, now " + display(out.entry));
  return out;
}

}  // namespace imta::queue
