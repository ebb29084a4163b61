// The retry schedule of a channel: how long a message waits after a failed
// delivery attempt before the next one. Pure functions over the configuration
// and times the caller passes in (the job controller's clock, or `imta qm`'s
// "now"), so the schedule is testable without waiting and without a clock.
//
// The intervals come from the channel's `backoff` keyword (ISO 8601 durations,
// e.g. `backoff "pt5m" "pt15m" "pt1h"`); `normalbackoff` replaces it for
// normal-priority messages (and `urgentbackoff` / `nonurgentbackoff` for the
// other priorities). Without any, Sun's default table for the priority
// applies (minutes): urgent 30 60 60 120 120 120 240, normal 60 120 120 240
// 240 240 480, non-urgent 120 240 240 480 480 480 960. The last interval
// repeats for every further attempt, until the return job gives up on the
// message (the channel's `notices`).
//
// Every message is normal priority today (the envelope carries no priority
// yet), so callers pass Priority::normal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

namespace imta::config {
struct Channel;
struct ImtaCnf;
}  // namespace imta::config

namespace imta::queue {

enum class Priority : std::uint8_t { urgent, normal, nonurgent };

struct RetrySchedule {
  /// Interval after the 1st, 2nd, ... failed attempt; never empty; the last repeats.
  std::vector<std::chrono::seconds> intervals;
  bool from_keyword = false;  ///< false: Sun's default table

  /// The wait after `attempts` failed attempts (attempts >= 1; 0 is treated as 1).
  std::chrono::seconds interval(unsigned attempts) const;
};

/// Sun's default table for `priority`.
RetrySchedule default_schedule(Priority priority = Priority::normal);

/// The schedule of `channel` for messages of `priority` (see the file comment).
RetrySchedule retry_schedule(const config::Channel& channel, Priority priority = Priority::normal);

/// The same by channel name; an unknown channel gets the default table.
RetrySchedule retry_schedule(const config::ImtaCnf& cnf, std::string_view channel,
                             Priority priority = Priority::normal);

/// When a message that failed `attempts` times, the last time at
/// `last_attempt_ms` (Unix ms), is due again. A message never tried
/// (attempts == 0) is due at once: the result is `last_attempt_ms` itself
/// (pass its arrival time).
std::int64_t next_retry_ms(unsigned attempts, std::int64_t last_attempt_ms,
                           const RetrySchedule& schedule);

/// True when the message may be tried at `now_ms`.
inline bool retry_due(unsigned attempts, std::int64_t last_attempt_ms,
                      const RetrySchedule& schedule, std::int64_t now_ms) {
  return next_retry_ms(attempts, last_attempt_ms, schedule) <= now_ms;
}

}  // namespace imta::queue
