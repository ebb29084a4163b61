// The timestamp that opens every mail.log entry: `21-Nov-2026 10:31:05.42`.
//
// A log record carries its time already broken down (LogTime), so formatting is a
// pure function and tests never depend on the machine's time zone. The writer
// converts the clock reading once, with local_log_time() (what administrators read
// in mail.log, as in the Sun product) or utc_log_time().
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace imta::core::log {

/// A calendar time to the hundredth of a second, in whatever zone the caller chose.
struct LogTime {
    int year = 1970;
    int month = 1;        ///< 1..12
    int day = 1;          ///< 1..31
    int hour = 0;         ///< 0..23
    int minute = 0;       ///< 0..59
    int second = 0;       ///< 0..60 (60 only for a leap second)
    int centisecond = 0;  ///< 0..99, truncated, never rounded (rounding could show 60 s)

    friend bool operator==(const LogTime&, const LogTime&) = default;
};

/// `dd-Mon-yyyy hh:mm:ss.cc`, English month abbreviations whatever the locale.
/// Fields outside their range are clamped so a bad value can never produce a
/// line that log readers cannot parse.
std::string format_log_time(const LogTime& t);

/// Reads the form format_log_time() writes (month name case-insensitive, so the
/// `19-JAN-1998` spelling of old VMS-era logs is accepted; the `.cc` part may be
/// missing and then counts as .00). nullopt for anything else.
std::optional<LogTime> parse_log_time(std::string_view text);

/// The given instant in the process's local time zone (localtime_r).
LogTime local_log_time(std::chrono::system_clock::time_point when);
/// The given instant in UTC.
LogTime utc_log_time(std::chrono::system_clock::time_point when);

}  // namespace imta::core::log
