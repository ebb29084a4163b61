// The retry schedule: when a message that failed is tried again, from the
// channel's backoff keywords or Sun's default table, at times the test chooses.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "config/imta_cnf.hpp"
#include "config/source_lines.hpp"
#include "queue/backoff.hpp"

using namespace imta::queue;
using imta::config::Diagnostics;
using std::chrono::seconds;

namespace {

imta::config::ImtaCnf parse(std::string_view text) {
  Diagnostics diags;
  auto lines = imta::config::split_source(text, "imta.cnf", imta::config::ReadOptions{}, diags);
  auto cnf = imta::config::parse_imta_cnf(lines, diags);
  REQUIRE(diags.ok());
  return cnf;
}

std::vector<long> minutes_of(const RetrySchedule& s, unsigned upto) {
  std::vector<long> out;
  for (unsigned a = 1; a <= upto; ++a) out.push_back(static_cast<long>(s.interval(a).count() / 60));
  return out;
}

constexpr std::int64_t minute_ms = 60'000;

}  // namespace

TEST_CASE("without a backoff keyword the normal default table applies, the last repeating", "[backoff]") {
  auto cnf = parse("a.example $U@a-daemon\n\nl\nlocal.test\n\ntcp_local smtp\ntcp_local-daemon\n");
  auto s = retry_schedule(cnf, "tcp_local");
  CHECK_FALSE(s.from_keyword);
  CHECK(minutes_of(s, 10) == std::vector<long>{60, 120, 120, 240, 240, 240, 480, 480, 480, 480});
}

TEST_CASE("the other priorities have their own default tables", "[backoff]") {
  CHECK(minutes_of(default_schedule(Priority::urgent), 8) ==
        std::vector<long>{30, 60, 60, 120, 120, 120, 240, 240});
  CHECK(minutes_of(default_schedule(Priority::nonurgent), 8) ==
        std::vector<long>{120, 240, 240, 480, 480, 480, 960, 960});
}

TEST_CASE("the backoff keyword gives the intervals, the last repeating", "[backoff]") {
  auto cnf = parse("a.example $U@a-daemon\n\nl\nlocal.test\n\n"
                   "tcp_local smtp backoff \"pt5m\" \"PT15M\" \"pt1h30m\"\ntcp_local-daemon\n");
  auto s = retry_schedule(cnf, "tcp_local");
  CHECK(s.from_keyword);
  CHECK(minutes_of(s, 5) == std::vector<long>{5, 15, 90, 90, 90});
  // The l channel has no keyword: default.
  CHECK_FALSE(retry_schedule(cnf, "l").from_keyword);
}

TEST_CASE("normalbackoff wins over backoff for normal messages", "[backoff]") {
  auto cnf = parse("a.example $U@a-daemon\n\nl\nlocal.test\n\n"
                   "tcp_local smtp backoff \"pt5m\" normalbackoff \"pt2m\" \"pt3m\" "
                   "urgentbackoff \"pt1m\"\ntcp_local-daemon\n");
  CHECK(minutes_of(retry_schedule(cnf, "tcp_local"), 3) == std::vector<long>{2, 3, 3});
  CHECK(minutes_of(retry_schedule(cnf, "tcp_local", Priority::urgent), 2) == std::vector<long>{1, 1});
  CHECK(minutes_of(retry_schedule(cnf, "tcp_local", Priority::nonurgent), 2) == std::vector<long>{5, 5});
}

TEST_CASE("a backoff in defaults applies to the channels after it", "[backoff]") {
  auto cnf = parse("a.example $U@a-daemon\n\ndefaults backoff \"pt10m\"\n\nl\nlocal.test\n\n"
                   "tcp_local smtp\ntcp_local-daemon\n");
  CHECK(minutes_of(retry_schedule(cnf, "tcp_local"), 2) == std::vector<long>{10, 10});
}

TEST_CASE("an unknown channel gets the default table", "[backoff]") {
  auto cnf = parse("a.example $U@a-daemon\n\nl\nlocal.test\n");
  CHECK(minutes_of(retry_schedule(cnf, "nosuch"), 1) == std::vector<long>{60});
}

TEST_CASE("next retry is the last attempt plus the interval for the attempt count", "[backoff]") {
  const auto s = default_schedule();
  const std::int64_t t = 1'800'000'000'000;  // some instant, Unix ms
  CHECK(next_retry_ms(1, t, s) == t + 60 * minute_ms);
  CHECK(next_retry_ms(2, t, s) == t + 120 * minute_ms);
  CHECK(next_retry_ms(7, t, s) == t + 480 * minute_ms);
  CHECK(next_retry_ms(1000, t, s) == t + 480 * minute_ms);
}

TEST_CASE("a message never tried is due at once", "[backoff]") {
  const auto s = default_schedule();
  const std::int64_t arrival = 1'800'000'000'000;
  CHECK(next_retry_ms(0, arrival, s) == arrival);
  CHECK(retry_due(0, arrival, s, arrival));
}

TEST_CASE("due is decided by the clock the caller passes", "[backoff]") {
  RetrySchedule s;
  s.intervals = {seconds(300)};
  const std::int64_t last = 1'000'000;
  CHECK_FALSE(retry_due(3, last, s, last + 299'999));
  CHECK(retry_due(3, last, s, last + 300'000));
  CHECK(retry_due(3, last, s, last + 10 * 300'000));
}
