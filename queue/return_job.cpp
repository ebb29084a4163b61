// The return job; see return_job.hpp.
#include "queue/return_job.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>
#include <unordered_map>

#include "config/log_options.hpp"
#include "core/log/async_log.hpp"
#include "core/text.hpp"
#include "queue/log_record.hpp"
#include "queue/notice.hpp"
#include "queue/outcome.hpp"
#include "queue/submit.hpp"

namespace imta::queue {

namespace {

using core::log::LogRecord;
using core::log::RecordCode;

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;
constexpr std::string_view kWarnedPrefix = "delay warning ";

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// The keyword's values when they are usable (cnbuild checked them; an image
/// from elsewhere must still not give an empty or unordered list).
std::optional<std::vector<std::int64_t>> keyword_values(const config::Channel* channel, std::string_view name) {
  if (channel == nullptr) return std::nullopt;
  const auto* kw = channel->keyword(name);
  if (kw == nullptr) return std::nullopt;
  std::vector<std::int64_t> values;
  for (const auto& arg : kw->args) {
    auto n = core::parse_integer(arg);
    if (!n || *n <= 0 || (!values.empty() && *n <= values.back())) return std::nullopt;
    values.push_back(*n);
  }
  if (values.empty()) return std::nullopt;
  return values;
}

/// NOTIFY=NEVER asks for no notice; with FAILURE set as well NEVER is ignored.
bool notify_never(const core::Recipient& r) {
  return (r.notify & core::notify_never) != 0 && (r.notify & core::notify_failure) == 0;
}

/// NOTIFY not given counts as FAILURE,DELAY.
bool wants_delay(const core::Recipient& r) {
  if (notify_never(r)) return false;
  return r.notify == 0 || (r.notify & core::notify_delay) != 0;
}

/// The last error recorded for `r` (for it or for the whole file), "" if none.
std::string last_error(const core::Recipient& r, const std::vector<HistoryRecord>& history) {
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (it->outcome != Outcome::deferred && it->outcome != Outcome::bounced) continue;
    if (!it->recipient.empty() && !core::iequals(it->recipient, r.active)) continue;
    if (!it->diagnostic.empty()) return it->diagnostic;
  }
  return {};
}

bool is_digits(std::string_view s, std::size_t min, std::size_t max) {
  return s.size() >= min && s.size() <= max &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// An RFC 3463 status "c.s.d" among the words of `text` with class `cls`, if any.
std::string enhanced_status(std::string_view text, char cls) {
  for (const auto& w : core::split_words(text)) {
    if (w.size() < 5 || w[0] != cls || w[1] != '.') continue;
    auto dot = w.find('.', 2);
    if (dot == std::string::npos) continue;
    if (is_digits(std::string_view(w).substr(2, dot - 2), 1, 3) &&
        is_digits(std::string_view(w).substr(dot + 1), 1, 3))
      return w;
  }
  return {};
}

/// The DSN fields of a recipient that waited too long, from its last error
/// as the masters log it: "dns;mx.example.org (TCP|...) (banner) smtp;451
/// 4.7.1 try later" gives Remote-MTA "dns; mx.example.org" and
/// Diagnostic-Code "smtp; 451 4.7.1 try later"; anything else is quoted as
/// an X-imta diagnostic.
RecipientOutcome expired_outcome(const core::Recipient& r, const std::vector<HistoryRecord>& history,
                                 RecipientStatus status, std::string_view default_status, std::string_view why) {
  RecipientOutcome o;
  o.status = status;
  const std::string last = last_error(r, history);
  const auto smtp = last.find("smtp;");
  if (smtp != std::string::npos) {
    std::string reply(core::trim(std::string_view(last).substr(smtp + 5)));
    o.diagnostic_code = "smtp; " + reply;
    if (status == RecipientStatus::deferred) o.dsn_status = enhanced_status(reply, '4');
  } else if (!last.empty()) {
    o.diagnostic_code = "X-imta; " + last;
  }
  if (last.starts_with("dns;")) {
    auto end = last.find(' ');
    o.remote_mta = "dns; " + last.substr(4, end == std::string::npos ? std::string::npos : end - 4);
  }
  if (o.dsn_status.empty()) o.dsn_status = std::string(default_status);
  // A return says why even when no attempt left an error (a periodic
  // channel, a master that never ran); a warning then has no Diagnostic-Code.
  if (o.diagnostic_code.empty() && status == RecipientStatus::bounced) o.diagnostic_code = "X-imta; " + std::string(why);
  o.log_diagnostics = std::string(why) + (last.empty() ? "" : "; last error: " + last);
  return o;
}

/// "9d02h" style (whole hours below a day: "5h", minutes below an hour).
std::string age_text(std::int64_t ms) {
  if (ms < 0) ms = 0;
  const long long m = ms / 60'000;
  char buf[48];
  if (m < 60)
    std::snprintf(buf, sizeof buf, "%lldm", m);
  else if (m < 24 * 60)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", m / 60, m % 60);
  else
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", m / (24 * 60), m % (24 * 60) / 60);
  return buf;
}

/// The message's header section (up to and with its empty line), read from
/// the claimed file a piece at a time: a warning returns no more than that
/// unless the sender asked for RET=FULL.
std::string read_header_section(const Claim& claim) {
  const std::uint64_t size = claim.file().envelope.size;
  const auto offset = static_cast<off_t>(claim.file().message_offset);
  std::string bytes;
  char buf[16384];
  while (bytes.size() < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof buf, size - bytes.size()));
    const ssize_t n = ::pread(claim.fd(), buf, want, offset + static_cast<off_t>(bytes.size()));
    if (n <= 0) break;
    const std::size_t scan_from = bytes.size() >= 3 ? bytes.size() - 3 : 0;
    bytes.append(buf, static_cast<std::size_t>(n));
    if (auto end = bytes.find("\r\n\r\n", scan_from); end != std::string::npos) {
      bytes.resize(end + 4);
      break;
    }
  }
  return bytes;
}

class ReturnPass {
 public:
  ReturnPass(const MasterServices& services, const ReturnJobOptions& options,
             const std::function<void(const ReturnAction&)>& on_action)
      : services_(services), options_(options), on_action_(on_action) {
    now_ = options.now_ms != 0 ? options.now_ms : services.now_ms ? services.now_ms() : system_now_ms();
    // apply_outcome and the history records see the job's time, not the clock's.
    timed_ = services;
    const std::int64_t now = now_;
    timed_.now_ms = [now] { return now; };
  }

  ReturnJobSummary run() {
    ScanOptions scan;
    scan.channel = options_.channel;
    scan.include_held = false;  // side-lined by an administrator: theirs to decide
    scan.cleanup = false;       // the job controller's scans clean up; a dry run changes nothing
    services_.store->scan(scan, [&](const QueueEntry& entry) { visit(entry); });
    return summary_;
  }

 private:
  const NoticeAges& ages_of(const std::string& channel) {
    auto it = ages_.find(channel);
    if (it == ages_.end()) it = ages_.emplace(channel, notice_ages(*services_.snapshot, channel)).first;
    return it->second;
  }

  void visit(const QueueEntry& entry) {
    // The daemon stops: leave the rest to the next run (the scan only lists).
    if (services_.stopping != nullptr && services_.stopping->load()) return;
    const NoticeAges& ages = ages_of(entry.channel);
    // Files too young for anything are not opened. (A file whose name
    // carries no time is opened and judged by its envelope.)
    if (entry.arrival_ms > 0 && now_ - entry.arrival_ms < ages.ms.front()) return;
    // A file renamed while this pass runs (a failed return is retried under
    // its next name) may be listed again: act once per message and channel.
    if (!done_.insert(entry.channel + "/" + entry.name.id).second) return;
    ++summary_.examined;
    if (options_.dry_run) return preview(entry, ages);

    ClaimError why{};
    auto claim = services_.store->claim(entry, &why);
    if (!claim) {
      if (why == ClaimError::gone) return;  // delivered meanwhile
      ReturnAction a = action(ReturnAction::skipped, entry, ages, 0);
      a.detail = std::string(claim_error_text(why));
      if (why != ClaimError::busy) a.kind = ReturnAction::failed;
      else a.detail += ", next run";
      return report(a);
    }
    const auto& file = claim->file();
    const std::int64_t age = now_ - arrival(entry, file.envelope);
    const DueNotice due = due_notice(ages, age, warned_step(file.history));
    if (due.kind == DueNotice::warn) warn(*claim, ages, age, due.step);
    if (due.kind == DueNotice::give_back) give_back(*claim, ages, age);
  }

  static std::int64_t arrival(const QueueEntry& entry, const core::Envelope& envelope) {
    if (entry.arrival_ms > 0) return entry.arrival_ms;
    if (envelope.received_ms > 0) return envelope.received_ms;
    return entry.last_attempt_ms;  // nothing better: the file's modification time
  }

  void preview(const QueueEntry& entry, const NoticeAges& ages) {
    ParsedFile file = services_.store->read(entry);
    if (file.status != ParseStatus::ok) {
      if (file.error == "no such message") return;  // delivered meanwhile
      ReturnAction a = action(ReturnAction::failed, entry, ages, 0);
      a.detail = "unreadable: " + file.error;
      return report(a);
    }
    const std::int64_t age = now_ - arrival(entry, file.envelope);
    const DueNotice due = due_notice(ages, age, warned_step(file.history));
    if (due.kind == DueNotice::nothing) return;
    ReturnAction a = action(due.kind == DueNotice::warn ? ReturnAction::warned : ReturnAction::returned, entry, ages,
                            due.step);
    a.age_ms = age;
    for (const auto& r : file.envelope.recipients) {
      if (due.kind == DueNotice::warn) {
        if (wants_delay(r)) ++a.recipients;
      } else if (notify_never(r)) {
        ++a.removed;
      } else {
        ++a.recipients;
      }
    }
    a.nobody_told = due.kind == DueNotice::warn && a.recipients == 0;
    report(a);
  }

  // --- an intermediate age: one delay warning --------------------------------
  void warn(Claim& claim, const NoticeAges& ages, std::int64_t age, unsigned step) {
    const auto& env = claim.file().envelope;
    const std::string why = "delayed " + age_text(age) + " (warning " + std::to_string(step) + " of " +
                            std::to_string(ages.values.size() - 1) + ", notices " + ages.text() + ")";
    std::vector<std::size_t> warned;
    std::vector<RecipientOutcome> outcomes(env.recipients.size());
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
      outcomes[i] = expired_outcome(env.recipients[i], claim.file().history, RecipientStatus::deferred, "4.0.0", why);
      if (wants_delay(env.recipients[i])) warned.push_back(i);
    }
    ReturnAction a = action(ReturnAction::warned, claim.entry(), ages, step);
    a.age_ms = age;

    bool sent = false;
    if (!warned.empty()) {
      std::vector<NoticeItem> items;
      for (std::size_t i : warned) items.push_back({&env.recipients[i], &outcomes[i]});
      std::string message = env.ret == core::Ret::full ? claim.message() : read_header_section(claim);
      auto submission = notice_submission(*services_.snapshot, claim.entry().channel, claim.entry().name.id, env,
                                          std::move(message), core::NoticeKind::delay, items, now_);
      if (submission) {
        // Last-Attempt-Date: the last real attempt (none yet: left out), not the warning's time.
        for (auto& nr : submission->envelope.notice.recipients) nr.last_attempt_ms = claim.entry().last_attempt_ms;
        if (services_.submitter == nullptr) return fail(a, "no submitter to enqueue the delay warning");
        auto result = services_.submitter->submit(std::move(*submission));
        if (result.error)
          return fail(a, "cannot enqueue the delay warning (" + result.error.message() + "); next run tries again");
        sent = true;
      }
    }
    if (sent) {
      std::vector<LogRecord> records;
      for (std::size_t i : warned) records.push_back(record(claim, RecordCode::Warned, env.recipients[i], why));
      write(claim.entry().channel, std::move(records));
      a.recipients = static_cast<unsigned>(warned.size());
    } else {
      a.nobody_told = true;  // NOTIFY without DELAY, or an empty sender and no postmaster copy
    }
    // Remembered even when nobody was told, so the step is not weighed again.
    const std::string note =
        warned_note(step, "of " + std::to_string(ages.values.size() - 1) +
                              (sent ? " sent" : " not sent (nobody to tell)") + ", queued " + age_text(age) +
                              " (notices " + ages.text() + ")");
    if (auto r = services_.store->note(claim, {{now_, Outcome::warned, "", note}}); !r.ok)
      return fail(a, "warning sent but not remembered in the file (" + r.error + "): it may be sent again");
    ++summary_.warned;
    report(a);
  }

  // --- the last age: return the message --------------------------------------
  void give_back(Claim& claim, const NoticeAges& ages, std::int64_t age) {
    const auto& env = claim.file().envelope;
    const std::string why = "delivery time expired: queued " + age_text(age) + " (notices " + ages.text() + ")";
    DeliveryReport report_in;
    for (const auto& r : env.recipients)
      report_in.recipients.push_back(
          expired_outcome(r, claim.file().history, RecipientStatus::bounced, "4.4.7", why));
    ReturnAction a = action(ReturnAction::returned, claim.entry(), ages, static_cast<unsigned>(ages.values.size()));
    a.age_ms = age;
    auto summary = apply_outcome(timed_, claim, report_in);
    if (!summary.error.empty()) return fail(a, summary.error);
    if (summary.deferred > 0)
      return fail(a, "the failure notice could not be enqueued; the message stays queued for the next run");
    a.recipients = summary.bounced;
    a.removed = summary.removed;
    ++summary_.returned;
    report(a);
  }

  // --- helpers
  ReturnAction action(ReturnAction::Kind kind, const QueueEntry& entry, const NoticeAges& ages, unsigned step) const {
    ReturnAction a;
    a.kind = kind;
    a.entry = entry;
    a.step = step;
    a.steps = static_cast<unsigned>(ages.values.size());
    a.age_ms = entry.arrival_ms > 0 ? now_ - entry.arrival_ms : 0;
    return a;
  }

  void fail(ReturnAction& a, std::string detail) {
    a.kind = ReturnAction::failed;
    a.detail = std::move(detail);
    report(a);
  }

  void report(const ReturnAction& a) {
    switch (a.kind) {
      case ReturnAction::warned: break;  // counted by warn(); a dry run counts here
      case ReturnAction::returned: break;
      case ReturnAction::skipped: ++summary_.skipped; break;
      case ReturnAction::failed: ++summary_.failed; break;
    }
    if (options_.dry_run && a.kind == ReturnAction::warned) ++summary_.warned;
    if (options_.dry_run && a.kind == ReturnAction::returned) ++summary_.returned;
    if (on_action_) on_action_(a);
  }

  LogRecord record(const Claim& claim, RecordCode code, const core::Recipient& r, const std::string& why) const {
    LogRecord rec =
        recipient_record(code, claim.entry().channel, claim.file().envelope, r, claim.entry().path.string());
    rec.queue_id = claim.entry().name.id;
    rec.diagnostics = {why};
    return rec;
  }

  void write(const std::string& channel, std::vector<LogRecord> records) {
    if (services_.log == nullptr || records.empty()) return;
    if (!config::channel_logs(services_.snapshot->imta_cnf, channel)) return;
    services_.log->write(std::move(records));
  }

  static std::string display(const QueueEntry& e) { return e.channel + "/" + e.name.str(); }

  void trace(const std::string& line) const {
    if (services_.trace) services_.trace(line);
  }

  const MasterServices& services_;
  const ReturnJobOptions& options_;
  const std::function<void(const ReturnAction&)>& on_action_;
  MasterServices timed_;
  std::int64_t now_ = 0;
  std::unordered_map<std::string, NoticeAges> ages_;
  std::set<std::string> done_;
  ReturnJobSummary summary_;
};

}  // namespace

std::string NoticeAges::text() const {
  std::string s;
  for (auto v : values) s += std::to_string(v) + " ";
  return s + (hours ? "hours" : "days");
}

NoticeAges notice_ages(const config::Snapshot& snapshot, std::string_view channel) {
  NoticeAges ages;
  ages.hours = snapshot.options.integer("RETURN_UNITS") == 1;
  auto from = [&](const config::Channel* ch, std::string_view prefix) {
    for (std::string_view name : {"normalnotices", "notices"}) {
      if (auto v = keyword_values(ch, name)) {
        ages.values = std::move(*v);
        ages.origin = std::string(prefix) + std::string(name);
        return true;
      }
    }
    return false;
  };
  const auto& cnf = snapshot.imta_cnf;
  if (!from(cnf.find_channel(channel), "") && !from(cnf.find_channel("l"), "l ")) {
    ages.values = {3, 6, 9, 12};
    ages.origin = "default";
  }
  for (auto v : ages.values) ages.ms.push_back(v * (ages.hours ? kHourMs : kDayMs));
  return ages;
}

DueNotice due_notice(const NoticeAges& ages, std::int64_t age_ms, unsigned warned) {
  if (ages.ms.empty()) return {};
  if (age_ms >= ages.ms.back()) return {DueNotice::give_back, static_cast<unsigned>(ages.ms.size())};
  unsigned reached = 0;
  for (std::size_t i = 0; i + 1 < ages.ms.size(); ++i)
    if (age_ms >= ages.ms[i]) reached = static_cast<unsigned>(i + 1);
  if (reached > warned) return {DueNotice::warn, reached};
  return {};
}

unsigned warned_step(const std::vector<HistoryRecord>& history) {
  unsigned step = 0;
  for (const auto& h : history) {
    if (h.outcome != Outcome::warned || !h.diagnostic.starts_with(kWarnedPrefix)) continue;
    std::string_view rest = std::string_view(h.diagnostic).substr(kWarnedPrefix.size());
    rest = rest.substr(0, rest.find_first_not_of("0123456789"));
    if (auto n = core::parse_integer(rest); n && *n > 0 && *n < 1000) step = std::max(step, static_cast<unsigned>(*n));
  }
  return step;
}

std::string warned_note(unsigned step, std::string_view what) {
  return std::string(kWarnedPrefix) + std::to_string(step) + " " + std::string(what);
}

ReturnJobSummary run_return_job(const MasterServices& services, const ReturnJobOptions& options,
                                const std::function<void(const ReturnAction&)>& on_action) {
  if (services.store == nullptr || services.snapshot == nullptr) return {};
  return ReturnPass(services, options, on_action).run();
}

std::int64_t next_return_run_ms(const config::Snapshot& snapshot, std::int64_t now_ms) {
  const int minutes = std::clamp(snapshot.job_controller.return_time, 0, 24 * 60 - 1);
  const bool hourly = snapshot.options.integer("RETURN_UNITS") == 1;
  const std::time_t now_s = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  ::localtime_r(&now_s, &tm);
  tm.tm_sec = 0;
  tm.tm_isdst = -1;
  if (hourly) {
    tm.tm_min = minutes % 60;
  } else {
    tm.tm_hour = minutes / 60;
    tm.tm_min = minutes % 60;
  }
  std::time_t candidate = ::mktime(&tm);
  // Step forward by calendar (mktime normalises, DST included) until after now.
  for (int guard = 0; guard < 4 && static_cast<std::int64_t>(candidate) * 1000 <= now_ms; ++guard) {
    ::localtime_r(&now_s, &tm);
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    if (hourly) {
      tm.tm_min = minutes % 60;
      tm.tm_hour += 1 + guard;
    } else {
      tm.tm_hour = minutes / 60;
      tm.tm_min = minutes % 60;
      tm.tm_mday += 1 + guard;
    }
    candidate = ::mktime(&tm);
  }
  return static_cast<std::int64_t>(candidate) * 1000;
}

std::string describe(const ReturnAction& a, bool dry_run) {
  const std::string file = a.entry.channel + "/" + a.entry.name.str();
  const std::string age = "age " + age_text(a.age_ms);
  auto count = [](unsigned n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
  };
  switch (a.kind) {
    case ReturnAction::warned: {
      std::string s = std::string(dry_run ? "would warn " : "warned ") + file + " " + age + ", warning " +
                      std::to_string(a.step) + " of " + std::to_string(a.steps > 0 ? a.steps - 1 : 0);
      if (a.nobody_told) return s + ", nobody to tell";
      return s + ", " + count(a.recipients, "recipient", "recipients");
    }
    case ReturnAction::returned: {
      std::string s = std::string(dry_run ? "would return " : "returned ") + file + " " + age + ", " +
                      count(a.recipients, "recipient", "recipients");
      if (a.removed > 0) s += ", " + count(a.removed, "removed", "removed") + " (NOTIFY=NEVER)";
      return s;
    }
    case ReturnAction::skipped: return "skipped " + file + " " + age + ": " + a.detail;
    case ReturnAction::failed: return "failed " + file + " " + age + ": " + a.detail;
  }
  return file;
}

}  // namespace imta::queue
