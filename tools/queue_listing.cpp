// Reading the queue for listings; see queue_listing.hpp.
#include "tools/queue_listing.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "config/channel_keywords.hpp"
#include "core/json.hpp"
#include "core/log/log_time.hpp"
#include "core/text.hpp"

namespace imta::tools::qm {

namespace {

std::int64_t clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t seconds_of(std::int64_t ms) { return ms / 1000; }

}  // namespace

QueueManager::QueueManager(core::Instance instance, config::Snapshot snapshot)
    : instance_(std::move(instance)), snapshot_(std::move(snapshot)), now_ms_(clock_ms()) {
  queue::StoreOptions options;
  options.root = instance_.queue_dir();
  options.sync = queue::SyncMode::group;
  options.subdirs = [this](std::string_view channel) { return config::channel_subdirs(snapshot_.imta_cnf, channel); };
  store_ = std::make_unique<queue::Store>(std::move(options));
}

const queue::RetrySchedule& QueueManager::schedule(const std::string& channel) const {
  auto it = schedules_.find(channel);
  if (it == schedules_.end())
    it = schedules_.emplace(channel, queue::retry_schedule(snapshot_.imta_cnf, channel)).first;
  return it->second;
}

bool QueueManager::known_channel(std::string_view channel) const {
  if (snapshot_.imta_cnf.find_channel(channel) != nullptr) return true;
  std::error_code ec;
  return config::valid_channel_name(channel) &&
         std::filesystem::is_directory(instance_.queue_dir() / std::string(channel), ec);
}

std::unique_ptr<QueueManager> open_listing(const core::Instance& instance) {
  auto snap = config::load_image(instance.image_path());
  std::error_code ec;
  auto root = std::filesystem::absolute(instance.root(), ec);
  core::Instance absolute(ec ? instance.root() : root.lexically_normal());
  return std::make_unique<QueueManager>(std::move(absolute), std::move(snap));
}

std::optional<Message> load_message(const QueueManager& qm, const queue::QueueEntry& entry,
                                    LoadFailure* failure, std::string* error) {
  auto file = qm.store().read(entry);
  if (file.status == queue::ParseStatus::ok) return Message{entry, std::move(file)};
  std::error_code ec;
  const bool gone = !std::filesystem::exists(entry.path, ec);
  if (failure) *failure = gone ? LoadFailure::vanished : LoadFailure::unreadable;
  if (error) *error = file.error;
  return std::nullopt;
}

bool scan_messages(const QueueManager& qm, const std::string& channel, std::string_view who,
                   const std::function<bool(const queue::QueueEntry&)>& wanted,
                   const std::function<void(Message&&)>& visit) {
  bool all_read = true;
  queue::ScanOptions scan;
  scan.channel = channel;
  scan.cleanup = false;
  qm.store().scan(scan, [&](const queue::QueueEntry& entry) {
    if (wanted && !wanted(entry)) return;
    LoadFailure why{};
    std::string error;
    auto m = load_message(qm, entry, &why, &error);
    if (!m) {
      if (why == LoadFailure::unreadable) {
        std::cerr << who << ": " << display_name(entry) << ": cannot be read: " << error << "\n";
        all_read = false;
      }
      return;  // vanished: delivered or renamed since the scan saw it
    }
    visit(std::move(*m));
  });
  return all_read;
}

std::string display_name(const queue::QueueEntry& entry) { return entry.channel + "/" + entry.name.str(); }

std::string sender_text(const core::Envelope& e) { return e.from.empty() ? "<>" : e.from; }

std::string last_error(const core::Recipient& r, const std::vector<queue::HistoryRecord>& history) {
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (it->outcome != queue::Outcome::deferred && it->outcome != queue::Outcome::bounced) continue;
    if (it->recipient.empty() || core::iequals(it->recipient, r.active) || core::iequals(it->recipient, r.original))
      return it->diagnostic;
  }
  return {};
}

std::optional<std::int64_t> next_retry(const QueueManager& qm, const queue::QueueEntry& entry) {
  if (entry.name.held) return std::nullopt;
  const std::int64_t last = entry.last_attempt_ms > 0 ? entry.last_attempt_ms : entry.arrival_ms;
  return queue::next_retry_ms(entry.name.attempts, last, qm.schedule(entry.channel));
}

std::string directory_json(const QueueManager& qm, const Message& m) {
  const auto& e = m.entry;
  const auto& env = m.file.envelope;
  core::JsonWriter w;
  w.begin_object()
      .field("file", e.name.str())
      .field("channel", e.channel)
      .field("id", e.name.id)
      .field("path", e.path.string())
      .field("arrival_time", seconds_of(e.arrival_ms))
      .field("size", env.size)
      .field("sender", env.from)
      .field("message_id", env.message_id)
      .key("recipients")
      .begin_array();
  for (const auto& r : env.recipients) {
    w.begin_object().field("address", r.active).field("original", r.original);
    if (auto err = last_error(r, m.file.history); !err.empty())
      w.field("last_error", err);
    else
      w.key("last_error").null();
    w.end_object();
  }
  w.end_array().field("attempts", e.name.attempts);
  if (e.last_attempt_ms > 0)
    w.field("last_attempt_time", seconds_of(e.last_attempt_ms));
  else
    w.key("last_attempt_time").null();
  if (auto next = next_retry(qm, e))
    w.field("next_retry_time", seconds_of(*next));
  else
    w.key("next_retry_time").null();
  w.field("held", e.name.held).end_object();
  return w.str();
}

std::string local_time(std::int64_t unix_ms) {
  const auto when = std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms));
  return core::log::format_log_time(core::log::local_log_time(when)).substr(0, 20);
}

std::string duration_text(std::int64_t ms) {
  if (ms < 0) ms = 0;
  const std::int64_t s = ms / 1000;
  char buf[48];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  else
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  return buf;
}

}  // namespace imta::tools::qm
