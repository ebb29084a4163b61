// Counting and printing for imta-loadgen. See stats.hpp.
#include "tools/loadgen/stats.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace imta::tools::loadgen {

namespace {

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string line(const char* name, const std::string& value) {
  char label[32];
  std::snprintf(label, sizeof label, "%-14s", name);
  return label + value + "\n";
}

std::string number(std::uint64_t n) { return std::to_string(n); }

}  // namespace

double nearest_rank(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void LatencySamples::merge(const LatencySamples& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
}

Percentiles LatencySamples::percentiles() const {
  std::vector<double> sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  Percentiles result;
  result.count = sorted.size();
  if (sorted.empty()) return result;
  result.p50 = nearest_rank(sorted, 50);
  result.p90 = nearest_rank(sorted, 90);
  result.p99 = nearest_rank(sorted, 99);
  result.max = sorted.back();
  return result;
}

void SendTotals::merge(const SendTotals& other) {
  accepted += other.accepted;
  refused_4xx += other.refused_4xx;
  refused_5xx += other.refused_5xx;
  errors += other.errors;
  recipients_accepted += other.recipients_accepted;
  recipients_refused += other.recipients_refused;
  connections += other.connections;
  bytes += other.bytes;
  latency.merge(other.latency);
  arrivals.insert(arrivals.end(), other.arrivals.begin(), other.arrivals.end());
}

double per_second(std::uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0;
}

std::string format_send_summary(const SendTotals& t) {
  Percentiles p = t.latency.percentiles();
  std::string out;
  out += line("messages", number(t.messages));
  out += line("accepted", number(t.accepted));
  out += line("refused", number(t.refused_4xx + t.refused_5xx) + " (4xx " + number(t.refused_4xx) +
                             ", 5xx " + number(t.refused_5xx) + ")");
  out += line("errors", number(t.errors));
  out += line("recipients", number(t.recipients_accepted) + " accepted, " +
                                number(t.recipients_refused) + " refused");
  out += line("connections", number(t.connections));
  out += line("bytes", number(t.bytes));
  out += line("elapsed", fixed(t.elapsed_seconds, 3) + " s");
  out += line("rate", fixed(per_second(t.accepted, t.elapsed_seconds), 1) + " messages/s");
  out += line("latency", "p50 " + fixed(p.p50, 3) + " ms, p90 " + fixed(p.p90, 3) + " ms, p99 " +
                             fixed(p.p99, 3) + " ms, max " + fixed(p.max, 3) + " ms (" +
                             number(p.count) + " samples)");
  return out;
}

std::string format_send_json(const SendTotals& t) {
  Percentiles p = t.latency.percentiles();
  std::string out = "{";
  out += "\"messages\":" + number(t.messages);
  out += ",\"accepted\":" + number(t.accepted);
  out += ",\"refused_4xx\":" + number(t.refused_4xx);
  out += ",\"refused_5xx\":" + number(t.refused_5xx);
  out += ",\"errors\":" + number(t.errors);
  out += ",\"recipients_accepted\":" + number(t.recipients_accepted);
  out += ",\"recipients_refused\":" + number(t.recipients_refused);
  out += ",\"connections\":" + number(t.connections);
  out += ",\"bytes\":" + number(t.bytes);
  out += ",\"elapsed_s\":" + fixed(t.elapsed_seconds, 6);
  out += ",\"messages_per_s\":" + fixed(per_second(t.accepted, t.elapsed_seconds), 3);
  out += ",\"latency_ms\":{\"samples\":" + number(p.count) + ",\"p50\":" + fixed(p.p50, 3) +
         ",\"p90\":" + fixed(p.p90, 3) + ",\"p99\":" + fixed(p.p99, 3) + ",\"max\":" + fixed(p.max, 3) + "}";
  out += "}\n";
  return out;
}

std::string format_sink_summary(const SinkTotals& t) {
  std::string out;
  out += line("messages", number(t.messages));
  out += line("refused", number(t.refused));
  out += line("recipients", number(t.recipients));
  out += line("bytes", number(t.bytes));
  out += line("connections", number(t.connections));
  out += line("elapsed", fixed(t.elapsed_seconds, 3) + " s");
  out += line("active", fixed(t.active_seconds, 3) + " s");
  out += line("rate", fixed(per_second(t.messages, t.active_seconds), 1) + " messages/s");
  return out;
}

std::string format_sink_json(const SinkTotals& t) {
  std::string out = "{";
  out += "\"messages\":" + number(t.messages);
  out += ",\"refused\":" + number(t.refused);
  out += ",\"recipients\":" + number(t.recipients);
  out += ",\"bytes\":" + number(t.bytes);
  out += ",\"connections\":" + number(t.connections);
  out += ",\"elapsed_s\":" + fixed(t.elapsed_seconds, 6);
  out += ",\"active_s\":" + fixed(t.active_seconds, 6);
  out += ",\"messages_per_s\":" + fixed(per_second(t.messages, t.active_seconds), 3);
  out += "}\n";
  return out;
}

std::string format_rate_line(std::uint64_t messages, std::uint64_t recipients, std::uint64_t bytes,
                             double interval_seconds, std::uint64_t total_messages,
                             std::uint64_t open_connections) {
  return "sink: " + fixed(per_second(messages, interval_seconds), 1) + " messages/s, " +
         fixed(per_second(recipients, interval_seconds), 1) + " recipients/s, " +
         fixed(per_second(bytes, interval_seconds) / 1e6, 2) + " MB/s, " + number(total_messages) +
         " messages, " + number(open_connections) + " connections open\n";
}

std::int64_t unix_microseconds_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string write_arrivals(const std::string& path, const std::vector<Arrival>& arrivals) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return "cannot write " + path + ": " + std::strerror(errno);
  for (const auto& a : arrivals)
    std::fprintf(f, "%s %lld.%06lld\n", a.message_id.empty() ? "-" : a.message_id.c_str(),
                 static_cast<long long>(a.unix_us / 1000000), static_cast<long long>(a.unix_us % 1000000));
  const bool ok = std::ferror(f) == 0;
  if (std::fclose(f) != 0 || !ok) return "cannot write " + path + ": " + std::strerror(errno);
  return {};
}

}  // namespace imta::tools::loadgen
