// What imta-loadgen counts and how it prints it: latency percentiles, the
// send and sink totals, and their text and JSON summaries. No Asio here.
//
// Latencies are kept as every sample (8 bytes each: a million messages cost
// 8 MB) and percentiles are exact over them, which is simpler to trust than a
// histogram at the sizes a benchmark run has.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace imta::tools::loadgen {

struct Percentiles {
  std::size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  ///< milliseconds; 0 without samples
};

/// The nearest-rank percentile `p` (0 < p <= 100) of `sorted` (ascending):
/// the smallest sample such that at least p% of all samples are not larger.
double nearest_rank(const std::vector<double>& sorted, double p);

class LatencySamples {
 public:
  void add(double milliseconds) { samples_.push_back(milliseconds); }
  void merge(const LatencySamples& other);
  std::size_t count() const { return samples_.size(); }
  Percentiles percentiles() const;

 private:
  std::vector<double> samples_;
};

/// One message seen at one point (its final 250 at the sender, its arrival
/// at the sink), for --record: wall-clock time, so two programs' records can
/// be joined.
struct Arrival {
  std::string message_id;
  std::int64_t unix_us = 0;  ///< microseconds since the Unix epoch
};

/// Now, for an Arrival.
std::int64_t unix_microseconds_now();

/// Writes one line per arrival, "<message-id> <seconds>.<microseconds>", to
/// `path` (replaced). Returns an error text, empty when written.
std::string write_arrivals(const std::string& path, const std::vector<Arrival>& arrivals);

/// Outcome counts of a send run. Every message the run was asked for ends in
/// exactly one of accepted, refused_4xx, refused_5xx or errors.
struct SendTotals {
  std::uint64_t messages = 0;            ///< asked for (--messages)
  std::uint64_t accepted = 0;            ///< final reply 2xx
  std::uint64_t refused_4xx = 0;         ///< a 4xx at greeting, MAIL, every RCPT, DATA or the end
  std::uint64_t refused_5xx = 0;         ///< the same with 5xx
  std::uint64_t errors = 0;              ///< lost to connection trouble: connect, timeout, TLS, garbage
  std::uint64_t recipients_accepted = 0;
  std::uint64_t recipients_refused = 0;
  std::uint64_t connections = 0;         ///< TCP connections opened
  std::uint64_t bytes = 0;               ///< message bytes of accepted messages
  double elapsed_seconds = 0;
  LatencySamples latency;                ///< end of data to final reply
  std::vector<Arrival> arrivals;         ///< accepted messages (--record only)

  /// Adds another thread's counts (not `messages` or `elapsed_seconds`).
  void merge(const SendTotals& other);
};

/// What the sink received.
struct SinkTotals {
  std::uint64_t messages = 0;     ///< answered 2xx at the end of data
  std::uint64_t refused = 0;      ///< answered otherwise (--data-reply-code)
  std::uint64_t recipients = 0;   ///< recipients of accepted messages
  std::uint64_t bytes = 0;        ///< bytes of accepted messages, after unstuffing
  std::uint64_t connections = 0;
  double elapsed_seconds = 0;     ///< from listening to stopping
  double active_seconds = 0;      ///< from the first connection to the last message
};

/// `count` per second over `seconds` (0 when no time passed).
double per_second(std::uint64_t count, double seconds);

/// The human summaries, one "name value" line each; see imta-loadgen(1).
std::string format_send_summary(const SendTotals& totals);
std::string format_sink_summary(const SinkTotals& totals);
/// The same as one JSON object on one line.
std::string format_send_json(const SendTotals& totals);
std::string format_sink_json(const SinkTotals& totals);

/// The sink's once-a-second line: rates over the last `interval_seconds`
/// (deltas given) and the running message total.
std::string format_rate_line(std::uint64_t messages, std::uint64_t recipients, std::uint64_t bytes,
                             double interval_seconds, std::uint64_t total_messages,
                             std::uint64_t open_connections);

}  // namespace imta::tools::loadgen
