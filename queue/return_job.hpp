// The return job: what happens to messages that wait too long. Run nightly
// by the job controller (RETURN_TIME of job_controller.cnf, every hour with
// RETURN_UNITS=1) and on demand by `imta return`.
//
// For every queued file (Store::scan, streaming) it compares the message's
// age with its channel's `notices` ages (normalnotices wins over notices:
// every message is normal priority so far; a channel without them takes the
// `l` channel's, else 3 6 9 12; the values are days, hours with option.dat's
// RETURN_UNITS=1):
//   - at an intermediate age it sends one delay warning: a notice of kind
//     delay enqueued to `process` (E records <channel> -> process, Action:
//     delayed in the report, a postmaster copy per warnpost / copywarnpost /
//     errwarnpost / nowarnpost), a W record per warned recipient, and a
//     "warned" history record in the file naming the step, so that no step is
//     ever warned twice. A job that did not run for a while sends one warning,
//     for the highest step reached, not one per step missed. Recipients whose
//     NOTIFY leaves out DELAY (or says NEVER) are not warned.
//   - at the last age it returns the message: every recipient bounced with
//     status 4.4.7 (delivery time expired) through queue::apply_outcome: the
//     failure notice to `process`, R records (K for NOTIFY=NEVER) and the file
//     removed.
//
// The age counts from the arrival time in the queue id: when the message
// entered this MTA's queue. It is known from the directory listing, so only
// files old enough for something are opened; it is kept across retries and
// partial deliveries (Store::partial keeps the id). Held files (.HELD) are
// left alone: an administrator side-lined them and decides (imta qm release,
// delete, return); a released file is judged by its arrival again, so one
// released after its last notices age is returned by the next run.
// A file being delivered (its lock is taken) is skipped this time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/snapshot.hpp"
#include "queue/master.hpp"
#include "queue/message_file.hpp"
#include "queue/store.hpp"

namespace imta::queue {

/// The notices ages that apply to one channel.
struct NoticeAges {
  std::vector<std::int64_t> values;  ///< as configured (days, or hours), ascending, never empty
  std::vector<std::int64_t> ms;      ///< the same in milliseconds
  bool hours = false;                ///< RETURN_UNITS=1
  /// Where they come from: "normalnotices", "notices", "l notices",
  /// "l normalnotices" or "default" (3 6 9 12).
  std::string origin;

  /// e.g. "1 2 4 7 days"
  std::string text() const;
};

/// The ages for `channel` (see the file comment). A channel unknown to
/// imta.cnf (a leftover queue folder) gets the `l` channel's or the default.
NoticeAges notice_ages(const config::Snapshot& snapshot, std::string_view channel);

/// What is due for a message now.
struct DueNotice {
  enum Kind : std::uint8_t { nothing, warn, give_back } kind = nothing;
  /// The notices age reached, 1-based (the last one for give_back).
  unsigned step = 0;
};

/// Pure: what is due for a message of `age_ms` whose warnings up to step
/// `warned` (0 = none) were sent already.
DueNotice due_notice(const NoticeAges& ages, std::int64_t age_ms, unsigned warned);

/// The highest step warned according to a file's history (0 = none).
unsigned warned_step(const std::vector<HistoryRecord>& history);

/// The history record's text for a warned step: starts "delay warning N"
/// (what warned_step() reads back).
std::string warned_note(unsigned step, std::string_view what);

struct ReturnJobOptions {
  /// The time to judge ages at (Unix ms); 0 = services.now_ms(), else the
  /// system clock. Also the time of the history records and notices.
  std::int64_t now_ms = 0;
  /// Decide and report, change nothing (no lock taken, no notice, no log).
  bool dry_run = false;
  /// Only this channel's queue (empty = every channel).
  std::string channel;
};

/// One thing the job did (or would do, dry_run) to one file.
struct ReturnAction {
  enum Kind : std::uint8_t {
    warned,    ///< delay warning sent (W records)
    returned,  ///< failure notice sent, file removed (R / K records)
    skipped,   ///< due, but being delivered (lock busy) or gone meanwhile: next run
    failed,    ///< due, but the notice or a queue operation failed (detail says)
  } kind = warned;
  QueueEntry entry;
  std::int64_t age_ms = 0;
  unsigned step = 0;          ///< the notices age reached (1-based)
  unsigned steps = 0;         ///< how many ages the channel has
  unsigned recipients = 0;    ///< warned: W records; returned: R records
  unsigned removed = 0;       ///< returned: K records (NOTIFY=NEVER)
  bool nobody_told = false;   ///< warned: nobody asked for a warning (step remembered, no notice)
  std::string detail;         ///< skipped / failed: why
};

struct ReturnJobSummary {
  std::size_t examined = 0;  ///< files opened (old enough for something)
  std::size_t warned = 0, returned = 0, skipped = 0, failed = 0;
};

/// Runs the return job once over the queue of `services.store` with
/// `services.snapshot`; notices through `services.submitter`, records to
/// `services.log` (channels with `logging`). Each action is reported to
/// `on_action` as it happens. Blocks while it works (one pass over the
/// queue directories; files are opened only when old enough); when
/// `services.stopping` is set it acts on no further file. Safe while
/// masters deliver: every file is claimed before it is changed.
ReturnJobSummary run_return_job(const MasterServices& services, const ReturnJobOptions& options,
                                const std::function<void(const ReturnAction&)>& on_action = {});

/// When the job controller runs the return job next after `now_ms` (Unix
/// ms): RETURN_TIME of job_controller.cnf in the local time zone, every day;
/// with RETURN_UNITS=1 every hour at RETURN_TIME's minutes.
std::int64_t next_return_run_ms(const config::Snapshot& snapshot, std::int64_t now_ms);

/// One line for logs and `imta return`: "warned tcp_local/ZY...00: ..."
/// (dry_run: "would warn ...").
std::string describe(const ReturnAction& action, bool dry_run);

}  // namespace imta::queue
