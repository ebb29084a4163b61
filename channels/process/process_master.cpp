// The process channel's master: turns a queued notice (core::Notice in the
// envelope, the original message as the bytes) into an RFC 3464 report and
// submits it with an empty envelope sender to its recipients, routed
// normally (E records `process l`, seed example 21-4). A file without a
// notice (mail addressed to the channel) is routed on unchanged.
//
// A report is never bounced: a recipient it cannot be routed to is removed
// (K record) and the notification dropped; a queue failure defers the file.
#include "channels/process/process_master.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

#include "channels/process/dsn_report.hpp"
#include "channels/process/notice_templates.hpp"
#include "core/text.hpp"
#include "queue/notice.hpp"
#include "queue/submit.hpp"

namespace imta::channels::process {

namespace {

using queue::DeliveryReport;
using queue::RecipientOutcome;
using queue::RecipientStatus;

/// The local time zone's offset from UTC at `unix_ms`, in minutes.
int utc_offset_minutes(std::int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  if (!::localtime_r(&t, &tm)) return 0;
  return static_cast<int>(tm.tm_gmtoff / 60);
}

/// `personal <address>`, the personal name quoted when it needs to be.
std::string mailbox(std::string_view personal, std::string_view address) {
  if (personal.empty()) return "<" + std::string(address) + ">";
  bool plain = true;
  for (char c : personal)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == '-' || c == '.' || c == '_'))
      plain = false;
  std::string name;
  if (plain) {
    name = std::string(personal);
  } else {
    name = "\"";
    for (char c : personal) {
      if (c == '"' || c == '\\') name += '\\';
      if (c != '\r' && c != '\n') name += c;
    }
    name += "\"";
  }
  return name + " <" + std::string(address) + ">";
}

class ProcessMaster final : public queue::Master {
 public:
  explicit ProcessMaster(const queue::MasterServices& services) : services_(services) {}

  DeliveryReport deliver(const queue::Claim& claim) override {
    const auto& env = claim.file().envelope;
    DeliveryReport report;
    report.recipients.resize(env.recipients.size());
    // The E records this master writes show the message leaving the
    // channel; no D records (seed examples 21-4 and 21-5).
    report.log_dequeue = false;
    if (!services_.submitter || !services_.snapshot) {
      for (auto& o : report.recipients) defer(o, "the process channel runs without a submitter");
      return report;
    }
    const std::string message = claim.message();
    if (env.notice.kind == core::NoticeKind::none) {
      route_on(claim, env, message, report);
    } else {
      notify(claim, env, message, report);
    }
    return report;
  }

 private:
  std::int64_t now() const {
    if (services_.now_ms) return services_.now_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  void trace(const std::string& line) const {
    if (services_.trace) services_.trace(line);
  }

  static void defer(RecipientOutcome& o, std::string why) {
    o.status = RecipientStatus::deferred;
    o.dsn_status = "4.3.0";
    o.log_diagnostics = std::move(why);
  }

  /// Recipients `indexes` of the file, split into those the rewrite rules
  /// can route (returned) and those they cannot (`unroutable` with why).
  std::vector<std::size_t> routable(const core::Envelope& env, const std::vector<std::size_t>& indexes,
                                    std::vector<std::pair<std::size_t, std::string>>& unroutable) const {
    std::vector<std::size_t> out;
    for (auto i : indexes) {
      auto r = queue::route_address(*services_.snapshot, env.recipients[i].active, "process");
      if (r.ok) {
        out.push_back(i);
      } else {
        unroutable.emplace_back(i, r.error);
      }
    }
    return out;
  }

  /// Submits `message` for recipients `indexes` with envelope `base`; sets
  /// their outcomes (delivered, or deferred when the queue failed).
  void submit(const core::Envelope& env, const std::vector<std::size_t>& indexes, core::Envelope base,
              std::string message, DeliveryReport& report) {
    if (indexes.empty()) return;
    queue::Submission sub;
    sub.envelope = std::move(base);
    sub.envelope.source_channel = "process";
    sub.envelope.recipients.clear();
    sub.envelope.notice = {};
    for (auto i : indexes) {
      const auto& r = env.recipients[i];
      sub.recipients.push_back({r.active, r.original.empty() ? r.active : r.original, r.notify, r.orcpt});
    }
    sub.message = std::move(message);
    auto result = services_.submitter->submit(std::move(sub));
    for (auto i : indexes) {
      auto& o = report.recipients[i];
      if (result.error) {
        defer(o, "cannot enqueue: " + result.error.message());
      } else {
        o.status = RecipientStatus::delivered;
        o.dsn_status = "2.0.0";
        o.log_diagnostics = "enqueued as " + result.id;
      }
    }
  }

  // ---- a file without a notice: on to where its recipients belong ----------

  void route_on(const queue::Claim& claim, const core::Envelope& env, const std::string& message,
                DeliveryReport& report) {
    std::vector<std::size_t> all(env.recipients.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    std::vector<std::pair<std::size_t, std::string>> bad;
    auto good = routable(env, all, bad);
    for (auto& [i, why] : bad) {
      auto& o = report.recipients[i];
      o.status = RecipientStatus::bounced;
      o.dsn_status = "5.1.2";
      o.diagnostic_code = "X-imta; " + why;
      o.log_diagnostics = why;
    }
    submit(env, good, env, message, report);
    trace(claim.entry().name.id + ": routed on for " + std::to_string(good.size()) + " recipient(s)");
  }

  // ---- a notice: the report, to the sender and/or the postmaster -------------

  void notify(const queue::Claim& claim, const core::Envelope& env, const std::string& original,
              DeliveryReport& report) {
    const config::Snapshot& snap = *services_.snapshot;
    const core::Notice& notice = env.notice;
    const std::int64_t now_ms = now();
    const int offset = utc_offset_minutes(now_ms);
    const std::string host = queue::local_host_name(snap);
    const std::string postmaster = queue::postmaster_address(snap);
    const std::uint64_t block = static_cast<std::uint64_t>(std::max<std::int64_t>(snap.options.integer("BLOCK_SIZE"), 1));
    const std::uint64_t limit = static_cast<std::uint64_t>(
                                    std::max<std::int64_t>(snap.options.integer("CONTENT_RETURN_BLOCK_LIMIT"), 0)) *
                                block;
    const std::filesystem::path config_dir = services_.instance ? services_.instance->config_dir()
                                                                : std::filesystem::path();
    const std::string text = load_template(config_dir, notice.kind);
    const std::string message_id = env.message_id.empty() ? queue::new_message_id(snap) : env.message_id;

    // The sender's version, and the postmaster's when postheadonly makes it
    // differ; each goes out as one message to its recipients.
    std::vector<std::size_t> main_copy, postmaster_copy;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
      bool is_pm = !notice.postmaster.empty() && notice.postmaster_headers_only &&
                   core::iequals(env.recipients[i].active, notice.postmaster);
      (is_pm ? postmaster_copy : main_copy).push_back(i);
    }
    auto main_choice = choose_return(notice, false, original.size(), limit);
    if (main_choice.returned == Returned::headers && !main_choice.truncated) {
      // Headers already: the postmaster's copy is the same message.
      main_copy.insert(main_copy.end(), postmaster_copy.begin(), postmaster_copy.end());
      postmaster_copy.clear();
    }

    const std::string to = notice.original_from.empty() ? postmaster : notice.original_from;
    int round = 0;
    for (auto* group : {&main_copy, &postmaster_copy}) {
      ++round;
      if (group->empty()) continue;
      auto choice = choose_return(notice, group == &postmaster_copy, original.size(), limit);
      auto values = template_values(notice, original, host, postmaster, choice, offset);
      auto tmpl = parse_template(text);
      tmpl.subject = substitute(tmpl.subject, values);
      tmpl.body = substitute(tmpl.body, values);

      ReportInput in;
      in.notice = &notice;
      in.original = original;
      in.reporting_mta = host;
      in.from = mailbox(snap.options.text("RETURN_PERSONAL"), postmaster);
      in.to = to;
      in.message_id = message_id;
      in.date_ms = now_ms;
      in.utc_offset_minutes = offset;
      in.returned = choice;
      in.text = std::move(tmpl);
      in.boundary = make_boundary(claim.entry().name.id + "_" + std::to_string(round), original);
      std::string message = build_report(in);

      std::vector<std::pair<std::size_t, std::string>> bad;
      auto good = routable(env, *group, bad);
      for (auto& [i, why] : bad) {
        // Never bounced: a notification nobody can receive is dropped.
        auto& o = report.recipients[i];
        o.status = RecipientStatus::removed;
        o.dsn_status = "5.1.2";
        o.log_diagnostics = "notification dropped: " + why;
        trace(claim.entry().name.id + ": notification for " + env.recipients[i].active + " dropped: " + why);
      }
      core::Envelope out;
      out.from.clear();  // <>
      // The notice's own arrival (when it was queued to process), kept on
      // as the conversion channel keeps a message's: every record of the
      // notice then has the same tracking key (core/log/tracking.hpp), and
      // its age for the return job counts from when the MTA made it.
      out.received_ms = env.received_ms > 0 ? env.received_ms : now_ms;
      out.message_id = message_id;
      submit(env, good, std::move(out), std::move(message), report);
    }
    trace(claim.entry().name.id + ": " + std::string(template_file_name(notice.kind)) + " notice about " +
          notice.original_id + " sent to " + to);
  }

  const queue::MasterServices& services_;
};

}  // namespace

std::unique_ptr<queue::Master> make_master(std::string_view, const queue::MasterServices& services) {
  return std::make_unique<ProcessMaster>(services);
}

}  // namespace imta::channels::process
