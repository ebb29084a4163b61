// What the job controller and outcome tests share: a temporary instance
// (config/, queue/, log/) with a small imta.cnf, the real queue store and
// mail.log writer, a clock the test steps, and scripted masters whose
// answers and timing the test decides.
#pragma once

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/snapshot.hpp"
#include "config/log_options.hpp"
#include "core/log/async_log.hpp"
#include "queue/job_controller.hpp"
#include "queue/job_daemon.hpp"
#include "queue/master.hpp"
#include "queue/outcome.hpp"
#include "queue/store.hpp"
#include "queue/submit.hpp"

namespace imta::queue::testing {

namespace fs = std::filesystem;

/// The imta.cnf of the tests: `l` first (the parser insists), a process
/// channel for notices, and channels whose scheduling keywords the tests
/// exercise. Every channel logs.
inline const char* kImtaCnf = R"(example.test              $U%example.test@mail.example.test
mail.example.test         $U%mail.example.test@mail.example.test
process-daemon            $U%process-daemon@process-daemon
fast.test                 $U%$H@fast-daemon
slow.test                 $U%$H@slow-daemon
retry.test                $U%$H@retry-daemon
alpha.test                $U%$H@alpha-daemon
beta.test                 $U%$H@beta-daemon
none.test                 $U%$H@nomaster-daemon
quiet.test                $U%$H@quiet-daemon
deep.test                 $U%$H@deep-daemon
.                         $U%$H@tcp_local-daemon

defaults logging copysendpost

l maxjobs 2
mail.example.test example.test

process maxjobs 2
process-daemon

tcp_local smtp backoff "pt5m" "pt10m" maxjobs 1
tcp_local-daemon

fast maxjobs 2 threaddepth 1
fast-daemon

slow periodic
slow-daemon

retry backoff "pt5m" "pt10m"
retry-daemon

alpha maxjobs 5 threaddepth 1 pool SHARED
alpha-daemon

beta maxjobs 5 threaddepth 1 pool SHARED
beta-daemon

nomaster
nomaster-daemon

quiet nologging
quiet-daemon

deep periodic subdirs 8
deep-daemon
)";

inline const char* kJobControllerCnf = R"([POOL=DEFAULT]
JOB_LIMIT=10
[POOL=SHARED]
JOB_LIMIT=3
)";

inline const char* kOptionDat = "LOG_FILENAME=1\nLOG_MESSAGE_ID=1\n";

/// A master whose outcome for each recipient is decided by the test, and
/// which can be made to wait (to see how many run at once).
struct Script {
  std::mutex mutex;
  std::condition_variable changed;
  /// Outcome per recipient address; missing = delivered.
  std::function<RecipientOutcome(const core::Recipient&, const Claim&)> outcome;
  /// Thrown by deliver() when set.
  std::string throw_text;
  bool gate_closed = false;
  int running = 0, most_running = 0;
  std::vector<std::string> tried;  ///< "channel/file" per deliver()
  int idles = 0;

  void close_gate() {
    std::lock_guard lock(mutex);
    gate_closed = true;
  }
  /// Opens the gate when it goes, also when a REQUIRE fails first: no
  /// delivery stays stuck behind it while the rig is torn down.
  struct Reopen {
    Script& s;
    ~Reopen() { s.open_gate(); }
  };
  /// Closes the gate until the returned guard goes.
  [[nodiscard]] Reopen closed_gate() {
    close_gate();
    return Reopen{*this};
  }
  void open_gate() {
    {
      std::lock_guard lock(mutex);
      gate_closed = false;
    }
    changed.notify_all();
  }
  /// Waits (up to a generous limit) until `n` deliveries run at once.
  bool wait_running(int n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(20), [&] { return running >= n; });
  }
  std::vector<std::string> tried_files() {
    std::lock_guard lock(mutex);
    return tried;
  }
  int idle_calls() {
    std::lock_guard lock(mutex);
    return idles;
  }
};

class ScriptedMaster : public Master {
 public:
  explicit ScriptedMaster(Script& s) : s_(s) {}
  DeliveryReport deliver(const Claim& claim) override {
    {
      std::unique_lock lock(s_.mutex);
      s_.tried.push_back(claim.entry().channel + "/" + claim.entry().name.str());
      ++s_.running;
      s_.most_running = std::max(s_.most_running, s_.running);
      s_.changed.notify_all();
      s_.changed.wait(lock, [&] { return !s_.gate_closed; });
    }
    struct Leave {
      Script& s;
      ~Leave() {
        std::lock_guard lock(s.mutex);
        --s.running;
        s.changed.notify_all();
      }
    } leave{s_};
    if (!s_.throw_text.empty()) throw std::runtime_error(s_.throw_text);
    DeliveryReport report;
    for (const auto& r : claim.file().envelope.recipients) {
      RecipientOutcome o;
      o.status = RecipientStatus::delivered;
      o.log_diagnostics = "smtp;250 2.0.0 Ok";
      if (s_.outcome) o = s_.outcome(r, claim);
      report.recipients.push_back(o);
    }
    return report;
  }
  void idle() override {
    std::lock_guard lock(s_.mutex);
    ++s_.idles;
  }

 private:
  Script& s_;
};

inline std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Rig {
  fs::path root;
  std::shared_ptr<const config::Snapshot> snapshot;
  std::unique_ptr<Store> store;
  std::unique_ptr<core::log::AsyncMailLog> log;
  std::unique_ptr<Submitter> submitter;
  /// The test's clock: starts at the real time (files' modification times
  /// are real), stepped by the test.
  std::atomic<std::int64_t> clock{wall_ms()};
  Script script;
  std::unique_ptr<JobController> controller;
  std::vector<std::string> events;  ///< the controller's log lines
  std::mutex events_mutex;

  explicit Rig(std::string imta_cnf = kImtaCnf, std::string job_controller_cnf = kJobControllerCnf) {
    std::string tmpl = (fs::temp_directory_path() / "imta-jobs-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    root = tmpl;
    for (const char* d : {"config", "queue", "log", "run", "db"}) fs::create_directories(root / d);
    std::ofstream(root / "config" / "imta.cnf") << imta_cnf;
    std::ofstream(root / "config" / "job_controller.cnf") << job_controller_cnf;
    std::ofstream(root / "config" / "option.dat") << kOptionDat;
    config::Diagnostics diags;
    auto snap = config::load_configuration(root / "config", diags);
    for (const auto& i : diags.items()) {
      INFO(i.str());
      REQUIRE(i.severity != config::Severity::error);
    }
    snapshot = std::make_shared<const config::Snapshot>(std::move(snap));
    StoreOptions so;
    so.root = root / "queue";
    auto snap_for_store = snapshot;
    so.subdirs = [snap_for_store](std::string_view ch) { return config::channel_subdirs(snap_for_store->imta_cnf, ch); };
    store = std::make_unique<Store>(std::move(so));
    log = std::make_unique<core::log::AsyncMailLog>(config::mail_log_file_options(core::Instance(root), *snapshot),
                                                    std::chrono::milliseconds(10));
    submitter = std::make_unique<Submitter>(snapshot, *store, log.get(), nullptr);
  }
  ~Rig() {
    controller.reset();
    submitter.reset();
    log.reset();
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  /// The controller, with scripted masters for every channel but `nomaster`.
  JobController& start(std::chrono::milliseconds linger = std::chrono::milliseconds(0)) {
    JobControllerOptions o;
    o.instance_root = root;
    o.store = store.get();
    o.log = log.get();
    o.factory = [this](std::string_view channel, const MasterServices&) -> std::unique_ptr<Master> {
      if (channel == "nomaster") return nullptr;
      return std::make_unique<ScriptedMaster>(script);
    };
    o.now_ms = [this] { return clock.load(); };
    o.log_line = [this](std::string_view line) {
      std::lock_guard lock(events_mutex);
      events.emplace_back(line);
    };
    o.linger = linger;
    controller = std::make_unique<JobController>(std::move(o), snapshot);
    return *controller;
  }

  void step(std::chrono::seconds s) { clock += std::chrono::duration_cast<std::chrono::milliseconds>(s).count(); }

  /// Enqueues a message to `channel` through the store; returns its file.
  QueuePath enqueue(const std::string& channel, const std::vector<std::string>& recipients,
                    const std::string& from = "adam@example.test", unsigned notify = 0) {
    Copy copy;
    copy.channel = channel;
    copy.envelope.from = from;
    copy.envelope.source_channel = "tcp_local";
    copy.envelope.received_ms = clock.load();
    copy.envelope.message_id = "<test." + std::to_string(++messages_) + "@example.test>";
    for (const auto& r : recipients) copy.envelope.recipients.push_back({r, r, notify, "rfc822;" + r});
    std::error_code ec;
    auto txn = store->begin({copy}, ec);
    REQUIRE(txn);
    std::string body = "From: " + from + "\r\nTo: " + recipients.front() + "\r\nMessage-ID: " +
                       copy.envelope.message_id + "\r\nSubject: test\r\n\r\nHello.\r\n";
    REQUIRE(!txn->write(body));
    std::vector<QueuePath> done;
    REQUIRE(!txn->commit(&done));
    REQUIRE(done.size() == 1);
    return done.front();
  }

  /// The queue file names of `channel` (held ones end in .HELD).
  std::vector<std::string> files(const std::string& channel) const {
    std::vector<std::string> out;
    std::error_code ec;
    if (!fs::exists(root / "queue" / channel, ec)) return out;
    for (const auto& e : fs::recursive_directory_iterator(root / "queue" / channel))
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  /// Waits (up to 4 s) until `channel` has no queue file left; whether it has none.
  bool wait_empty(const std::string& channel) const {
    for (int i = 0; i < 400 && !files(channel).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return files(channel).empty();
  }

  /// mail.log_current, after everything queued is written.
  std::vector<std::string> log_lines() {
    log->flush();
    std::vector<std::string> out;
    std::ifstream in(root / "log" / "mail.log_current");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  /// The log lines matching `pattern` (std::regex, searched).
  std::vector<std::string> log_matching(const std::string& pattern) {
    std::regex rx(pattern);
    std::vector<std::string> out;
    for (auto& l : log_lines())
      if (std::regex_search(l, rx)) out.push_back(l);
    return out;
  }

 private:
  int messages_ = 0;
};

}  // namespace imta::queue::testing
