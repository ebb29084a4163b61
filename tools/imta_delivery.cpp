// imta submit | run | cache, and imta qm jobs: driving and watching delivery.
//
//   imta submit [CHANNEL]        ask the running job controller to run a channel now
//   imta run CHANNEL             deliver a channel's files in the foreground, no daemon
//   imta cache -view [CHANNEL]   what the job controller holds
//   imta cache -sync             make it rescan the queue now
//   imta qm jobs                 the jobs running under it
//
// `run` uses the same job step as the controller (queue/job_runner.hpp), so
// what works here works in the daemon. The others talk to the running
// controller through its sockets (queue/notify.hpp, queue/job_control.hpp).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "channels/masters.hpp"
#include "config/log_options.hpp"
#include "core/log/async_log.hpp"
#include "queue/job_control.hpp"
#include "queue/job_daemon.hpp"
#include "queue/job_runner.hpp"
#include "queue/notify.hpp"
#include "queue/submit.hpp"
#include "tools/command_line.hpp"
#include "tools/imta_qm.hpp"

namespace imta::tools {

namespace {

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) { interrupted = true; }

/// The instance with an absolute root (log entries then name files
/// unambiguously) and its compiled configuration; nullopt after saying why.
struct Loaded {
  core::Instance instance;
  std::shared_ptr<const config::Snapshot> snapshot;
};
std::optional<Loaded> load(const CommandContext& context, std::string_view command) {
  auto instance = usable_instance(context);
  if (!instance) return std::nullopt;
  std::error_code ec;
  auto root = std::filesystem::absolute(instance->root(), ec);
  core::Instance absolute(ec ? instance->root() : root.lexically_normal());
  try {
    return Loaded{absolute, std::make_shared<const config::Snapshot>(config::load_image(absolute.image_path()))};
  } catch (const std::exception& e) {
    std::cerr << "imta " << command << ": " << e.what() << "\n";
    return std::nullopt;
  }
}

std::string single_channel(const po::variables_map& vm, std::string_view command, bool required) {
  std::vector<std::string> words;
  if (vm.count("channel")) words = vm["channel"].as<std::vector<std::string>>();
  if (words.size() > 1) throw UsageError(std::string(command) + " takes one CHANNEL");
  if (words.empty() && required) throw UsageError(std::string(command) + " needs a CHANNEL");
  return words.empty() ? std::string() : words.front();
}

bool check_configured(const config::Snapshot& snapshot, const std::string& channel, std::string_view command) {
  if (channel.empty() || snapshot.imta_cnf.find_channel(channel)) return true;
  std::cerr << "imta " << command << ": no channel \"" << channel << "\" in imta.cnf\n";
  return false;
}

std::string when_text(std::int64_t due_ms, std::int64_t now_ms) {
  if (due_ms <= now_ms) return "now";
  return qm::local_time(due_ms) + " (in " + qm::duration_text(due_ms - now_ms) + ")";
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::int64_t number(const std::string& s) {
  try {
    return std::stoll(s);
  } catch (...) {
    return 0;
  }
}

}  // namespace

// ---- imta submit ---------------------------------------------------------------------------

int run_submit(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta submit options");
  options.add_options()("channel", po::value<std::vector<std::string>>(), "the channel");
  po::positional_options_description positional;
  positional.add("channel", -1);
  auto vm = parse_options(args, options, positional);
  const std::string channel = single_channel(vm, "submit", false);
  auto loaded = load(context, "submit");
  if (!loaded) return exit_failure;
  if (!check_configured(*loaded->snapshot, channel, "submit")) return exit_failure;
  queue::EnqueueNotifier notifier(queue::notify_socket_path(loaded->instance.run_dir()));
  if (!notifier.submit(channel)) {
    std::cerr << "imta submit: the job controller is not running (nothing listens on "
              << queue::notify_socket_path(loaded->instance.run_dir()).string() << "); start it with imta start, "
              << "or deliver in the foreground with imta run CHANNEL\n";
    return exit_failure;
  }
  std::cout << "asked the job controller to run " << (channel.empty() ? "every channel" : channel) << " now\n";
  return exit_ok;
}

// ---- imta run --------------------------------------------------------------------------------

int run_run(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta run options");
  options.add_options()("channel", po::value<std::vector<std::string>>(), "the channel");
  po::positional_options_description positional;
  positional.add("channel", -1);
  auto vm = parse_options(args, options, positional);
  const std::string channel = single_channel(vm, "run", true);
  auto loaded = load(context, "run");
  if (!loaded) return exit_failure;
  if (!check_configured(*loaded->snapshot, channel, "run")) return exit_failure;
  const auto& snapshot = loaded->snapshot;

  queue::StoreOptions store_options;
  store_options.root = loaded->instance.queue_dir();
  store_options.subdirs = [snapshot](std::string_view ch) { return config::channel_subdirs(snapshot->imta_cnf, ch); };
  queue::Store store(std::move(store_options));
  core::log::AsyncMailLog log(config::mail_log_file_options(loaded->instance, *snapshot));
  queue::EnqueueNotifier notifier(queue::notify_socket_path(loaded->instance.run_dir()));
  queue::Submitter submitter(snapshot, store, &log, &notifier);

  std::vector<queue::QueueEntry> files;
  queue::ScanOptions scan;
  scan.channel = channel;
  scan.include_held = false;
  scan.cleanup = false;
  store.scan(scan, [&](const queue::QueueEntry& e) { files.push_back(e); });
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    return a.arrival_ms != b.arrival_ms ? a.arrival_ms < b.arrival_ms : a.name.id < b.name.id;
  });

  queue::MasterServices services;
  services.instance = &loaded->instance;
  services.snapshot = snapshot;
  services.store = &store;
  services.submitter = &submitter;
  services.log = &log;
  services.now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  services.stopping = &interrupted;
  services.trace = [](std::string_view line) { std::cout << line << std::endl; };

  auto master = channels::master_factory()(channel, services);
  if (!master) {
    std::cerr << "imta run: channel " << channel << " has no master in this version; its " << files.size()
              << " files stay queued\n";
    return exit_failure;
  }
  if (files.empty()) {
    std::cout << "no files queued for channel " << channel << "\n";
    return exit_ok;
  }
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  std::map<queue::FileAttempt::Result, unsigned> counts;
  std::size_t tried = 0;
  for (const auto& entry : files) {
    if (interrupted) break;
    auto attempt = queue::attempt_file(*master, services, entry);
    ++counts[attempt.result];
    ++tried;
  }
  master->idle();
  master.reset();
  log.flush();

  using R = queue::FileAttempt::Result;
  std::cout << tried << " of " << files.size() << " files tried";
  for (auto r : {R::finished, R::deferred, R::held, R::busy, R::gone, R::unreadable, R::failed})
    if (counts[r] > 0) std::cout << ", " << counts[r] << " " << queue::result_name(r);
  std::cout << (interrupted ? " (interrupted)" : "") << "\n";
  const bool trouble = interrupted || counts[R::busy] || counts[R::unreadable] || counts[R::failed];
  return trouble ? exit_failure : exit_ok;
}

// ---- imta cache ------------------------------------------------------------------------------

int run_cache(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta cache options");
  options.add_options()("view", "list the files the job controller holds")(
      "sync", "make the job controller rescan the queue folders now")(
      "channel", po::value<std::vector<std::string>>(), "the channel");
  po::positional_options_description positional;
  positional.add("channel", -1);
  auto vm = parse_options(args, options, positional);
  const bool view = vm.count("view") > 0, sync = vm.count("sync") > 0;
  if (view == sync) throw UsageError("say -view [CHANNEL] or -sync");
  const std::string channel = single_channel(vm, "cache", false);
  if (sync && !channel.empty()) throw UsageError("-sync rescans every channel; it takes no CHANNEL");
  auto instance = usable_instance(context);
  if (!instance) return exit_failure;

  std::string error;
  auto answer = queue::ask_job_controller(instance->run_dir(), sync ? "sync" : "cache " + channel, &error);
  if (!answer) {
    std::cerr << "imta cache: " << error << "\n";
    return exit_failure;
  }
  auto lines = queue::answer_lines(*answer);
  const auto& head = lines.front();
  const std::int64_t now = head.size() > 1 ? number(head[1]) : 0;
  const std::string cached = head.size() > 2 ? head[2] : "?";
  if (sync) {
    std::cout << "the job controller rescanned the queue: " << cached << " files in its cache\n";
    return exit_ok;
  }
  struct Row {
    std::string channel, file;
    std::int64_t attempts, due;
    bool running;
  };
  std::vector<Row> rows;
  std::vector<std::vector<std::string>> channels;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto& f = lines[i];
    if (f[0] == "file" && f.size() == 6) rows.push_back({f[1], f[2], number(f[3]), number(f[4]), f[5] == "running"});
    else if (f[0] == "channel" && f.size() == 9) channels.push_back(f);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.channel != b.channel ? a.channel < b.channel : a.due < b.due;
  });
  if (!rows.empty()) {
    std::size_t width = 12;
    for (const auto& r : rows) width = std::max(width, r.channel.size() + 2);
    std::cout << pad("Channel", width) << pad("File", 28) << "Attempts  Next attempt\n";
    for (const auto& r : rows) {
      char attempts[16];
      std::snprintf(attempts, sizeof attempts, "%8lld  ", static_cast<long long>(r.attempts));
      std::cout << pad(r.channel, width) << pad(r.file, 28) << attempts
                << (r.running ? std::string("in delivery now") : when_text(r.due, now)) << "\n";
    }
    std::cout << "\n";
  }
  for (const auto& c : channels) {
    // channel <name> <files> <waiting> <due> <running> <jobs> immediate|periodic master|nomaster
    std::cout << c[1] << ": " << c[2] << " files (" << c[3] << " waiting, " << c[4] << " due, " << c[5]
              << " in delivery), " << c[6] << (c[6] == "1" ? " job" : " jobs") << ", " << c[7]
              << (c[8] == "nomaster" ? ", no master in this version: files stay queued" : "") << "\n";
  }
  if (rows.empty() && channels.empty())
    std::cout << (channel.empty() ? "the job controller's cache is empty\n"
                                  : "the job controller holds no files of channel " + channel + "\n");
  return exit_ok;
}

// ---- imta qm jobs ----------------------------------------------------------------------------

namespace qm {

int qm_jobs(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta qm jobs options");
  parse_options(args, options, {});
  auto instance = usable_instance(context);
  if (!instance) return exit_failure;
  std::string error;
  auto answer = queue::ask_job_controller(instance->run_dir(), "jobs", &error);
  if (!answer) {
    std::cerr << "imta qm jobs: " << error << "\n";
    return exit_failure;
  }
  auto lines = queue::answer_lines(*answer);
  const std::int64_t now = lines.front().size() > 1 ? number(lines.front()[1]) : 0;
  std::vector<std::vector<std::string>> jobs;
  for (std::size_t i = 1; i < lines.size(); ++i)
    if (lines[i][0] == "job" && lines[i].size() >= 7) jobs.push_back(lines[i]);
  if (jobs.empty()) {
    std::cout << "no jobs running\n";
    return exit_ok;
  }
  std::size_t width = 12;
  for (const auto& j : jobs) width = std::max(width, j[2].size() + 2);
  std::cout << pad("Job", 6) << pad("Channel", width) << pad("Pool", 12) << pad("Started", 32) << pad("Files", 7)
            << pad("Threads", 9) << "Delivering\n";
  for (const auto& j : jobs) {
    // job <id> <channel> <pool> <started-ms> <files-done> <files-in-delivery,... or -> <threads>
    const std::int64_t started = number(j[4]);
    std::string since = local_time(started) + " (" + duration_text(now - started) + ")";
    std::string delivering = j[6] == "-" ? "(between files)" : j[6];
    for (std::size_t comma = delivering.find(','); comma != std::string::npos; comma = delivering.find(',', comma + 2))
      delivering.replace(comma, 1, ", ");
    std::cout << pad(j[1], 6) << pad(j[2], width) << pad(j[3], 12) << pad(since, 32) << pad(j[5], 7)
              << pad(j.size() > 7 ? j[7] : "1", 9) << delivering << "\n";
  }
  return exit_ok;
}

}  // namespace qm

}  // namespace imta::tools
