#include "core/log/log_time.hpp"

#include <algorithm>
#include <array>
#include <ctime>

#include "core/text.hpp"

namespace imta::core::log {
namespace {

constexpr std::array<std::string_view, 12> kMonths = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
    constexpr std::array<int, 12> days = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[static_cast<std::size_t>(month - 1)];
}

// Exactly `width` ASCII digits at `pos`; no sign, no blanks.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t width) {
    if (pos + width > s.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = pos; i < pos + width; ++i) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

LogTime from_tm(const std::tm& tm, std::chrono::system_clock::time_point when) {
    // floor, not truncation toward zero, so instants before 1970 keep the right
    // hundredths (the seconds already came from the same floored value).
    auto since_epoch = when.time_since_epoch();
    auto whole = std::chrono::floor<std::chrono::seconds>(since_epoch);
    auto centis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - whole).count() / 10;
    LogTime t;
    t.year = tm.tm_year + 1900;
    t.month = tm.tm_mon + 1;
    t.day = tm.tm_mday;
    t.hour = tm.tm_hour;
    t.minute = tm.tm_min;
    t.second = tm.tm_sec;
    t.centisecond = static_cast<int>(centis);
    return t;
}

std::time_t whole_seconds(std::chrono::system_clock::time_point when) {
    return static_cast<std::time_t>(
        std::chrono::floor<std::chrono::seconds>(when.time_since_epoch()).count());
}

}  // namespace

std::string format_log_time(const LogTime& t) {
    const int month = std::clamp(t.month, 1, 12);
    std::string out = "dd-Mon-yyyy hh:mm:ss.cc";
    core::put_digits(&out[0], std::clamp(t.day, 1, 31), 2);
    const std::string_view name = kMonths[static_cast<std::size_t>(month - 1)];
    out.replace(3, 3, name.substr(0, 3));
    core::put_digits(&out[7], std::clamp(t.year, 0, 9999), 4);
    core::put_digits(&out[12], std::clamp(t.hour, 0, 23), 2);
    core::put_digits(&out[15], std::clamp(t.minute, 0, 59), 2);
    core::put_digits(&out[18], std::clamp(t.second, 0, 60), 2);
    core::put_digits(&out[21], std::clamp(t.centisecond, 0, 99), 2);
    return out;
}

std::optional<LogTime> parse_log_time(std::string_view s) {
    // dd-Mon-yyyy hh:mm:ss[.cc]
    if (s.size() != 20 && s.size() != 23) return std::nullopt;
    if (s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' || s[17] != ':')
        return std::nullopt;
    LogTime t;
    const auto month_name = s.substr(3, 3);
    const auto it = std::find_if(kMonths.begin(), kMonths.end(),
                                 [&](std::string_view m) { return iequals(m, month_name); });
    if (it == kMonths.end()) return std::nullopt;
    t.month = static_cast<int>(it - kMonths.begin()) + 1;
    const auto day = digits(s, 0, 2), year = digits(s, 7, 4), hour = digits(s, 12, 2),
               minute = digits(s, 15, 2), second = digits(s, 18, 2);
    if (!day || !year || !hour || !minute || !second) return std::nullopt;
    t.day = *day;
    t.year = *year;
    t.hour = *hour;
    t.minute = *minute;
    t.second = *second;
    if (s.size() == 23) {
        const auto centi = digits(s, 21, 2);
        if (s[20] != '.' || !centi) return std::nullopt;
        t.centisecond = *centi;
    }
    if (t.day < 1 || t.day > days_in_month(t.year, t.month) || t.hour > 23 || t.minute > 59 ||
        t.second > 60)
        return std::nullopt;
    return t;
}

LogTime local_log_time(std::chrono::system_clock::time_point when) {
    const std::time_t secs = whole_seconds(when);
    std::tm tm{};
    localtime_r(&secs, &tm);
    return from_tm(tm, when);
}

LogTime utc_log_time(std::chrono::system_clock::time_point when) {
    const std::time_t secs = whole_seconds(when);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return from_tm(tm, when);
}

}  // namespace imta::core::log
