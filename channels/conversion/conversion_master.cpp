#include "channels/conversion/conversion_master.hpp"

#include <pwd.h>
#include <unistd.h>

#include <map>

#include "config/conversion_routing.hpp"
#include "core/text.hpp"
#include "queue/submit.hpp"

namespace imta::channels::conversion {

namespace {

using queue::RecipientOutcome;
using queue::RecipientStatus;

constexpr int exit_reject = 65;   // EX_DATAERR
constexpr int exit_retry = 75;    // EX_TEMPFAIL
constexpr int exit_discard = 98;
constexpr int exit_hold = 99;

RecipientOutcome outcome(RecipientStatus status, std::string dsn_status, std::string text) {
  RecipientOutcome o;
  o.status = status;
  o.dsn_status = std::move(dsn_status);
  if (!text.empty()) o.diagnostic_code = "x-unix; " + text;
  o.log_diagnostics = std::move(text);
  return o;
}

/// One destination channel's share of the file and what became of it.
struct Group {
  std::string destination;
  std::vector<std::size_t> recipients;  ///< indexes into the envelope's recipients
  const config::ConversionEntry* entry = nullptr;
  Verdict verdict = Verdict::proceed;
  std::string message;  ///< the converted message (CRLF) when proceeding
  std::string text;     ///< what happened, for diagnostics
};

class ConversionMaster final : public queue::Master {
 public:
  ConversionMaster(std::string channel, const queue::MasterServices& services)
      : channel_(std::move(channel)), services_(services) {}

  queue::DeliveryReport deliver(const queue::Claim& claim) override {
    const config::Snapshot& s = *services_.snapshot;
    const auto& env = claim.file().envelope;
    queue::DeliveryReport report;
    report.recipients.resize(env.recipients.size());

    // Where each recipient was going before the CONVERSIONS mapping sent it here.
    std::vector<Group> groups;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
      const auto& active = env.recipients[i].active;
      auto route = queue::rewrite_recipient(s, active, env.source_channel);
      if (!route) {
        report.recipients[i] = outcome(RecipientStatus::bounced, "5.1.2", "Illegal host/domain name found: " + active);
        continue;
      }
      if (core::iequals(route->channel, config::conversion_channel_name)) {
        report.recipients[i] = outcome(RecipientStatus::bounced, "5.3.5",
                                       active + " routes to the conversion channel itself: no destination after it");
        continue;
      }
      auto g = std::find_if(groups.begin(), groups.end(),
                            [&](const Group& x) { return core::iequals(x.destination, route->channel); });
      if (g == groups.end()) {
        groups.push_back({route->channel, {}, nullptr, Verdict::proceed, {}, {}});
        g = groups.end() - 1;
      }
      g->recipients.push_back(i);
    }
    if (groups.empty()) return report;

    // Every command first: a hold or a failure must not follow a partial send.
    const std::string message = claim.message();
    std::string input;
    for (auto& g : groups) {
      g.entry = s.conversions.find(env.source_channel, g.destination);
      if (!g.entry) {
        trace("conversion: no conversions entry for " + env.source_channel + " -> " + g.destination +
              ": passed on unchanged");
        g.message = message;
        continue;
      }
      if (input.empty()) input = core::to_lf(message);
      run(claim, g, input);
      if (g.verdict == Verdict::hold) {
        trace("conversion: " + g.text + ": holding the message");
        report.hold = true;
        return report;
      }
    }

    for (auto& g : groups) {
      switch (g.verdict) {
        case Verdict::proceed: pass_on(claim, g, report); break;
        case Verdict::reject:
          for (auto i : g.recipients) report.recipients[i] = outcome(RecipientStatus::bounced, "5.6.0", g.text);
          break;
        case Verdict::discard:
          for (auto i : g.recipients) report.recipients[i] = outcome(RecipientStatus::removed, "", g.text);
          break;
        case Verdict::retry:
        case Verdict::hold:
          for (auto i : g.recipients) report.recipients[i] = outcome(RecipientStatus::deferred, "4.3.0", g.text);
          break;
      }
    }
    return report;
  }

 private:
  void trace(const std::string& line) const {
    if (services_.trace) services_.trace(line);
  }

  /// Runs the group's command; sets verdict, text and (proceeding) message.
  void run(const queue::Claim& claim, Group& g, const std::string& input) const {
    const auto& env = claim.file().envelope;
    const auto& entry = *g.entry;
    const std::string name = "conversion " + entry.where.str();
    std::string user_error;
    auto run_as = choose_run_as(entry.user, &user_error);
    if (!user_error.empty()) {
      g.verdict = Verdict::retry;
      g.text = name + ": " + user_error;
      return;
    }
    std::string recipients;
    for (auto i : g.recipients) recipients += (recipients.empty() ? "" : " ") + env.recipients[i].active;
    RunAs who;
    if (run_as) {
      who = *run_as;
    } else {
      const passwd* pw = ::getpwuid(::geteuid());
      who.name = pw ? pw->pw_name : std::to_string(::geteuid());
      who.home = pw && pw->pw_dir ? pw->pw_dir : "/";
    }
    ChildSpec spec;
    spec.argv = entry.command;
    spec.input = input;
    spec.timeout = std::chrono::seconds(entry.timeout_s);
    spec.run_as = run_as;
    spec.stopping = services_.stopping;
    spec.max_output = (std::size_t(256) << 20) + 2 * input.size();
    spec.env = {
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "HOME=" + who.home,
        "USER=" + who.name,
        "LOGNAME=" + who.name,
        "IMTA_SENDER=" + env.from,
        "IMTA_RECIPIENTS=" + recipients,
        "IMTA_IN_CHANNEL=" + env.source_channel,
        "IMTA_OUT_CHANNEL=" + g.destination,
        "IMTA_QUEUE_ID=" + claim.entry().name.id,
        "IMTA_MESSAGE_ID=" + env.message_id,
    };
    trace("conversion: running " + entry.command.front() + " (" + entry.where.str() + ") for " + env.source_channel +
          " -> " + g.destination);
    ChildResult r;
    try {
      r = run_child(spec);
    } catch (const std::exception& e) {
      g.verdict = Verdict::retry;
      g.text = name + ": " + e.what();
      return;
    }
    g.verdict = verdict_of(r);
    g.text = name + " " + describe(r, spec);
    std::string said = first_line(r.errors);
    if (!said.empty()) g.text += ": " + said;
    if (g.verdict == Verdict::proceed) {
      if (r.output.empty()) {
        g.verdict = Verdict::retry;
        g.text = name + " exited with status 0 but wrote no message";
        return;
      }
      g.message = core::to_crlf(r.output);
    }
    if (g.verdict != Verdict::proceed) trace("conversion: " + g.text);
  }

  /// Enqueues the group's message to its destination; the recipients are
  /// delivered (here) when that worked.
  void pass_on(const queue::Claim& claim, const Group& g, queue::DeliveryReport& report) const {
    const auto& env = claim.file().envelope;
    queue::Submission sub;
    sub.envelope = env;
    sub.envelope.recipients.clear();
    sub.envelope.source_channel = std::string(config::conversion_channel_name);
    sub.envelope.message_id.clear();  // from the converted header
    sub.envelope.size = 0;
    sub.force_channel = g.destination;
    sub.message = g.message;
    for (auto i : g.recipients) {
      const auto& r = env.recipients[i];
      sub.recipients.push_back({r.active, r.original, r.notify, r.orcpt});
    }
    queue::SubmitResult result;
    if (!services_.submitter) {
      result.error = std::make_error_code(std::errc::operation_not_supported);
    } else {
      try {
        result = services_.submitter->submit(std::move(sub));
      } catch (const std::exception& e) {
        result.error = std::make_error_code(std::errc::io_error);
        trace(std::string("conversion: enqueue failed: ") + e.what());
      }
    }
    for (auto i : g.recipients) {
      if (result.error) {
        report.recipients[i] = outcome(RecipientStatus::deferred, "4.3.0",
                                       "enqueue to " + g.destination + " failed: " + result.error.message());
        continue;
      }
      const auto& active = env.recipients[i].active;
      auto refused = std::find_if(result.refused.begin(), result.refused.end(), [&](const std::string& line) {
        return line.size() > active.size() && core::iequals(std::string_view(line).substr(0, active.size()), active) &&
               line[active.size()] == ':';
      });
      if (refused != result.refused.end())
        report.recipients[i] = outcome(RecipientStatus::bounced, "5.1.2", *refused);
      else
        report.recipients[i] = outcome(RecipientStatus::delivered, "", "");
    }
  }

  std::string channel_;
  queue::MasterServices services_;
};

}  // namespace

Verdict verdict_of(const ChildResult& r) {
  if (r.end != ChildResult::End::exited) return Verdict::retry;
  switch (r.exit_code) {
    case 0: return Verdict::proceed;
    case exit_reject: return Verdict::reject;
    case exit_retry: return Verdict::retry;
    case exit_discard: return Verdict::discard;
    case exit_hold: return Verdict::hold;
    default: return Verdict::retry;
  }
}

std::unique_ptr<queue::Master> make_master(std::string_view channel, const queue::MasterServices& services) {
  return std::make_unique<ConversionMaster>(std::string(channel), services);
}

}  // namespace imta::channels::conversion
