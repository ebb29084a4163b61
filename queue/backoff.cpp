#include "queue/backoff.hpp"

#include <array>
#include <optional>

#include "config/channel_keywords.hpp"
#include "config/imta_cnf.hpp"

namespace imta::queue {

namespace {

using std::chrono::minutes;
using std::chrono::seconds;

RetrySchedule minutes_table(std::array<int, 7> table) {
  RetrySchedule s;
  for (int m : table) s.intervals.push_back(std::chrono::duration_cast<seconds>(minutes(m)));
  return s;
}

std::string_view priority_keyword(Priority p) {
  switch (p) {
    case Priority::urgent: return "urgentbackoff";
    case Priority::nonurgent: return "nonurgentbackoff";
    case Priority::normal: break;
  }
  return "normalbackoff";
}

// The keyword's durations; cnbuild already checked them, but an image from a
// newer or hand-made configuration must not make the schedule empty.
std::optional<RetrySchedule> from_keyword(const config::Channel& channel, std::string_view name) {
  const auto* kw = channel.keyword(name);
  if (kw == nullptr) return std::nullopt;
  RetrySchedule s;
  s.from_keyword = true;
  for (const auto& arg : kw->args)
    if (auto secs = config::parse_iso8601_duration(arg); secs && *secs > 0)
      s.intervals.emplace_back(*secs);
  if (s.intervals.empty()) return std::nullopt;
  return s;
}

}  // namespace

seconds RetrySchedule::interval(unsigned attempts) const {
  if (intervals.empty()) return default_schedule().interval(attempts);
  const std::size_t i = attempts == 0 ? 0 : attempts - 1;
  return i < intervals.size() ? intervals[i] : intervals.back();
}

RetrySchedule default_schedule(Priority priority) {
  switch (priority) {
    case Priority::urgent: return minutes_table({30, 60, 60, 120, 120, 120, 240});
    case Priority::nonurgent: return minutes_table({120, 240, 240, 480, 480, 480, 960});
    case Priority::normal: break;
  }
  return minutes_table({60, 120, 120, 240, 240, 240, 480});
}

RetrySchedule retry_schedule(const config::Channel& channel, Priority priority) {
  if (auto s = from_keyword(channel, priority_keyword(priority))) return *s;
  if (auto s = from_keyword(channel, "backoff")) return *s;
  return default_schedule(priority);
}

RetrySchedule retry_schedule(const config::ImtaCnf& cnf, std::string_view channel,
                             Priority priority) {
  const auto* ch = cnf.find_channel(channel);
  return ch ? retry_schedule(*ch, priority) : default_schedule(priority);
}

std::int64_t next_retry_ms(unsigned attempts, std::int64_t last_attempt_ms,
                           const RetrySchedule& schedule) {
  if (attempts == 0) return last_attempt_ms;
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(schedule.interval(attempts));
  return last_attempt_ms + wait.count();
}

}  // namespace imta::queue
