// Enqueue throughput of the queue store: messages per second for 1 KB and
// 100 KB messages with 1, 8 and 64 writer threads, for group commit (with
// its syncfs and fdatasync barriers) and the per-file baseline, in the same
// run; then how fast a scan walks 100,000 queue files. Prints figures,
// asserts nothing.
//
// Usage: bench_enqueue [DIR] [--seconds=N] [--files=N] [--threads=N]...
//   DIR: where to make the temporary queue (default /tmp); it must be on the
//   file system whose speed you want to know. Everything is removed at the end.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "queue/message_file.hpp"
#include "queue/store.hpp"

namespace fs = std::filesystem;
using namespace imta::queue;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

imta::core::Envelope bench_envelope() {
  imta::core::Envelope e;
  e.from = "sender@example.org";
  e.source_channel = "tcp_local";
  e.client_ip = "192.0.2.1";
  e.received_ms = 1795000000000;
  e.recipients = {{"rcpt@example.net", "rcpt@example.net", 0, ""}};
  return e;
}

std::string bench_message(std::size_t size) {
  std::string m = "Subject: benchmark\r\n\r\n";
  while (m.size() < size) m += "0123456789012345678901234567890123456789012345678901234567890123456789012\r\n";
  m.resize(size);
  return m;
}

/// Writes back whatever the previous cell left dirty (removing its files),
/// so that each cell starts from a quiet file system.
void settle(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::syncfs(fd);
    ::close(fd);
  }
}

struct Run {
  double per_second = 0;
  bool failed = false;
};

/// `threads` writers enqueue `message` for `seconds`, each writing it in
/// 8 KiB pieces as an SMTP server would.
Run measure(const fs::path& root, SyncMode mode, GroupBarrier barrier, const std::string& message, int threads,
            double seconds) {
  fs::remove_all(root);
  fs::create_directories(root);
  settle(root);
  StoreOptions options;
  options.root = root;
  options.sync = mode;
  options.group_barrier = barrier;
  Store store(options);
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::atomic<std::uint64_t> done{0};
  const auto envelope = bench_envelope();
  std::vector<std::thread> writers;
  const auto t0 = Clock::now();
  for (int i = 0; i < threads; ++i) {
    writers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::error_code error;
        auto t = store.begin({{"tcp_local", envelope}}, error);
        if (!t) {
          failed = true;
          return;
        }
        for (std::size_t at = 0; at < message.size(); at += 8192)
          t->write(std::string_view(message).substr(at, 8192));
        if (t->commit()) {
          failed = true;
          return;
        }
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : writers) t.join();
  Run run;
  run.per_second = static_cast<double>(done.load()) / seconds_since(t0);
  run.failed = failed.load();
  return run;
}

/// Fills one channel with `count` complete queue files quickly (no syncs:
/// this measures the scan, not the enqueue).
void fill(const fs::path& root, std::size_t count) {
  fs::create_directories(root / "tcp_local");
  auto envelope = bench_envelope();
  const std::string message = bench_message(2000);
  envelope.size = message.size();
  const std::string bytes = encode_header(envelope) + message + std::string(end_marker);
  for (std::size_t i = 0; i < count; ++i) {
    auto path = root / "tcp_local" / QueueFileName{0, new_queue_id(), false}.str();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
      std::fprintf(stderr, "cannot write %s: %s\n", path.c_str(), std::strerror(errno));
      std::exit(1);
    }
    ::close(fd);
  }
}

void scan_figures(const fs::path& root, std::size_t count) {
  fs::remove_all(root);
  auto t0 = Clock::now();
  fill(root, count);
  std::printf("\nscan of %zu files in one channel folder (created in %.1f s)\n", count, seconds_since(t0));
  StoreOptions options;
  options.root = root;
  Store store(options);
  auto timed_scan = [&](const char* what, bool cleanup) {
    std::size_t seen = 0;
    ScanOptions scan;
    scan.cleanup = cleanup;
    auto start = Clock::now();
    store.scan(scan, [&](const QueueEntry&) { ++seen; });
    double s = seconds_since(start);
    std::printf("  %-52s %8.3f s  %10.0f files/s  (%zu seen)\n", what, s, static_cast<double>(seen) / s, seen);
  };
  timed_scan("readdir + stat only (cleanup off)", false);
  timed_scan("first scan with cleanup (reads header + end marker)", true);
  timed_scan("next scan with cleanup (already verified: stat only)", true);
}

}  // namespace

int main(int argc, char** argv) {
  fs::path base = "/tmp";
  double seconds = 2.0;
  std::size_t files = 100000;
  std::vector<int> thread_counts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.starts_with("--seconds=")) seconds = std::stod(arg.substr(10));
    else if (arg.starts_with("--files=")) files = std::stoul(arg.substr(8));
    else if (arg.starts_with("--threads=")) thread_counts.push_back(std::stoi(arg.substr(10)));
    else if (!arg.starts_with("-")) base = arg;
    else {
      std::fprintf(stderr, "usage: %s [DIR] [--seconds=N] [--files=N] [--threads=N]...\n", argv[0]);
      return 2;
    }
  }
  std::string tmpl = (base / "imta-bench-enqueue-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) {
    std::fprintf(stderr, "cannot create a directory under %s: %s\n", base.c_str(), std::strerror(errno));
    return 1;
  }
  const fs::path dir = tmpl;
  const fs::path root = dir / "queue";

  struct Mode {
    const char* name;
    SyncMode sync;
    GroupBarrier barrier;
  };
  const Mode modes[] = {{"group (syncfs)", SyncMode::group, GroupBarrier::syncfs},
                        {"group (fdatasync)", SyncMode::group, GroupBarrier::fdatasync},
                        {"per file (baseline)", SyncMode::per_file, GroupBarrier::fdatasync}};
  const std::size_t sizes[] = {1024, 100 * 1024};
  if (thread_counts.empty()) thread_counts = {1, 8, 64};

  std::printf("enqueues per second, %.1f s per cell, queue under %s\n\n", seconds, dir.c_str());
  std::printf("%-8s %-22s", "size", "sync");
  for (int threads : thread_counts) std::printf(" %9d thr", threads);
  std::printf("\n");
  for (auto size : sizes) {
    const std::string message = bench_message(size);
    for (const auto& mode : modes) {
      std::printf("%-8s %-22s", size < 10000 ? "1 KB" : "100 KB", mode.name);
      std::fflush(stdout);
      for (int threads : thread_counts) {
        auto run = measure(root, mode.sync, mode.barrier, message, threads, seconds);
        std::printf(" %12.0f%s", run.per_second, run.failed ? "!" : "");
        std::fflush(stdout);
      }
      std::printf("\n");
    }
  }
  if (files > 0) scan_figures(root, files);
  fs::remove_all(dir);
  return 0;
}
