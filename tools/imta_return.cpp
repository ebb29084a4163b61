// imta return [--dry-run] [--at TIME]: the return job now, in the
// foreground (queue/return_job.hpp): delay warnings and returns of the
// messages that waited too long, one line per message acted on. --at judges
// the ages at another time ("nine days later" without waiting); --dry-run
// says what would be done and changes nothing.
//
// Not Sun's `imsimta return FILE`, which returns one message: that is
// `imta qm return ID` here.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>

#include "core/log/async_log.hpp"
#include "config/log_options.hpp"
#include "queue/job_daemon.hpp"
#include "queue/notify.hpp"
#include "queue/return_job.hpp"
#include "queue/submit.hpp"
#include "tools/command_line.hpp"
#include "tools/imta_qm.hpp"

namespace imta::tools {

namespace {

bool digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// --at: `now`, `+DURATION` (`+9d`, `+36h`, `+PT1H30M`: from now), or a
/// local date `YYYY-MM-DD` (midnight) with an optional time `THH:MM` (or a
/// blank instead of the T). Unix ms, or nullopt when it is none of those.
std::optional<std::int64_t> parse_at(std::string_view text, std::int64_t now_ms) {
  if (text == "now") return now_ms;
  if (text.starts_with("+")) {
    auto d = qm::parse_duration_ms(text.substr(1));
    if (!d) return std::nullopt;
    return now_ms + *d;
  }
  if (text.size() != 10 && text.size() != 16) return std::nullopt;
  if (text[4] != '-' || text[7] != '-') return std::nullopt;
  auto y = text.substr(0, 4), mo = text.substr(5, 2), d = text.substr(8, 2);
  std::string_view h = "00", mi = "00";
  if (text.size() == 16) {
    if ((text[10] != 'T' && text[10] != ' ') || text[13] != ':') return std::nullopt;
    h = text.substr(11, 2);
    mi = text.substr(14, 2);
  }
  if (!digits(y) || !digits(mo) || !digits(d) || !digits(h) || !digits(mi)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(std::string(y)) - 1900;
  tm.tm_mon = std::stoi(std::string(mo)) - 1;
  tm.tm_mday = std::stoi(std::string(d));
  tm.tm_hour = std::stoi(std::string(h));
  tm.tm_min = std::stoi(std::string(mi));
  tm.tm_isdst = -1;
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59)
    return std::nullopt;
  const int day = tm.tm_mday;
  const std::time_t t = ::mktime(&tm);
  if (t == static_cast<std::time_t>(-1) || tm.tm_mday != day) return std::nullopt;  // 2026-02-30
  return static_cast<std::int64_t>(t) * 1000;
}

}  // namespace

int run_return(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta return options");
  options.add_options()
      ("dry-run", "say what would be warned and returned; change nothing")
      ("at", po::value<std::string>(), "judge ages at TIME: YYYY-MM-DD[THH:MM] (local), +DURATION (+9d), now");
  po::positional_options_description positional;
  auto vm = parse_options(args, options, positional);
  const bool dry_run = vm.count("dry-run") > 0;
  const std::int64_t wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  std::int64_t now = wall;
  if (vm.count("at")) {
    const auto& text = vm["at"].as<std::string>();
    auto at = parse_at(text, wall);
    if (!at) throw UsageError("--at \"" + text + "\": expected YYYY-MM-DD, YYYY-MM-DDTHH:MM, +DURATION (e.g. +9d) or now");
    now = *at;
  }

  auto found = usable_instance(context);
  if (!found) return exit_failure;
  std::error_code ec;
  auto root = std::filesystem::absolute(found->root(), ec);
  const core::Instance instance(ec ? found->root() : root.lexically_normal());
  std::shared_ptr<const config::Snapshot> snapshot;
  try {
    snapshot = std::make_shared<const config::Snapshot>(config::load_image(instance.image_path()));
  } catch (const std::exception& e) {
    std::cerr << "imta return: " << e.what() << "\n";
    return exit_failure;
  }

  queue::StoreOptions store_options;
  store_options.root = instance.queue_dir();
  store_options.subdirs = [snapshot](std::string_view ch) { return config::channel_subdirs(snapshot->imta_cnf, ch); };
  queue::Store store(std::move(store_options));
  // A dry run opens no log and enqueues nothing.
  std::unique_ptr<core::log::AsyncMailLog> log;
  std::unique_ptr<queue::EnqueueNotifier> notifier;
  std::unique_ptr<queue::Submitter> submitter;
  if (!dry_run) {
    log = std::make_unique<core::log::AsyncMailLog>(config::mail_log_file_options(instance, *snapshot));
    notifier = std::make_unique<queue::EnqueueNotifier>(queue::notify_socket_path(instance.run_dir()));
    submitter = std::make_unique<queue::Submitter>(snapshot, store, log.get(), notifier.get());
  }

  queue::MasterServices services;
  services.instance = &instance;
  services.snapshot = snapshot;
  services.store = &store;
  services.submitter = submitter.get();
  services.log = log.get();
  services.now_ms = [now] { return now; };
  services.trace = [](std::string_view line) { std::cerr << "imta return: " << line << "\n"; };

  queue::ReturnJobOptions job;
  job.now_ms = now;
  job.dry_run = dry_run;
  auto summary = queue::run_return_job(services, job, [&](const queue::ReturnAction& a) {
    std::cout << queue::describe(a, dry_run) << std::endl;
  });
  if (log) log->flush();

  std::cout << (dry_run ? "would have: " : "") << summary.warned << " warned, " << summary.returned << " returned";
  if (summary.skipped > 0) std::cout << ", " << summary.skipped << " skipped";
  if (summary.failed > 0) std::cout << ", " << summary.failed << " failed";
  std::cout << " (ages at " << qm::local_time(now) << (dry_run ? "; dry run, nothing changed" : "") << ")\n";
  return summary.failed > 0 ? exit_failure : exit_ok;
}

}  // namespace imta::tools
