// The nightly return job, log roll, daily_cleanup and tracking pruning; see
// nightly_job.hpp.
#include "queue/nightly_job.hpp"

#include <chrono>
#include <filesystem>

#include "core/log/async_log.hpp"
#include "core/log/daily_cleanup.hpp"
#include "core/log/log_roll.hpp"
#include "core/log/tracking.hpp"
#include "queue/master.hpp"
#include "queue/return_job.hpp"
#include "queue/submit.hpp"

namespace imta::queue {

namespace {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

NightlyJob::NightlyJob(Inputs inputs) : in_(std::move(inputs)), thread_([this] { loop(); }) {}

NightlyJob::~NightlyJob() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void NightlyJob::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Asked again after every wake-up: a reload may move RETURN_TIME.
    const auto next = next_return_run_ms(*in_.snapshot(), unix_ms());
    const auto wait = std::chrono::milliseconds(std::max<std::int64_t>(0, next - unix_ms()));
    // Wake at least every minute to notice a new RETURN_TIME or a changed clock.
    if (wake_.wait_for(lock, std::min<std::chrono::milliseconds>(wait, std::chrono::minutes(1)),
                       [this] { return stopping_.load(); }))
      break;
    if (unix_ms() < next) continue;
    lock.unlock();
    run_once();
    lock.lock();
  }
}

void NightlyJob::run_once() {
  auto say = [this](const std::string& line) {
    if (in_.log_line) in_.log_line("return job: " + line);
  };
  const auto snapshot = in_.snapshot();
  Submitter submitter(snapshot, *in_.store, in_.log, in_.notifier);
  MasterServices services;
  services.instance = &in_.instance;
  services.snapshot = snapshot;
  services.store = in_.store;
  services.submitter = &submitter;
  services.log = in_.log;
  services.now_ms = unix_ms;
  services.stopping = &stopping_;
  services.trace = [&say](std::string_view line) { say(std::string(line)); };
  const auto summary = run_return_job(services, ReturnJobOptions{}, [&say](const ReturnAction& action) {
    say(describe(action, false));
  });
  say(std::to_string(summary.warned) + " warned, " + std::to_string(summary.returned) + " returned, " +
      std::to_string(summary.skipped) + " skipped, " + std::to_string(summary.failed) + " failed");
  if (stopping_) return;
  // Our own records first, so they land in the log being rolled.
  if (in_.log) in_.log->flush();
  const auto roll = core::log::roll_logs(in_.instance.log_dir());
  for (const auto& line : roll.done) say(line);
  for (const auto& line : roll.errors) say("log roll: " + line);
  core::log::DailyCleanupOptions cleanup;
  cleanup.root = in_.instance.root();
  cleanup.timeout = std::chrono::seconds(snapshot->options.integer("DAILY_CLEANUP_TIMEOUT"));
  const auto hook = core::log::run_daily_cleanup(cleanup);
  if (hook.status != core::log::DailyCleanupResult::Status::absent) say(hook.summary);
  const auto tracking = in_.instance.db_dir() / std::string(core::log::kTrackingDbName);
  if (std::filesystem::exists(tracking)) {
    try {
      const auto pruned =
          core::log::prune_tracking(tracking, static_cast<int>(snapshot->options.integer("LOG_TRACKING_DAYS")));
      if (pruned > 0) say("tracking: " + std::to_string(pruned) + " old rows pruned");
    } catch (const std::exception& e) {
      say(std::string("tracking: ") + e.what());
    }
  }
}

}  // namespace imta::queue
