// Benchmark: the job controller's queue cache with a big queue. Writes N
// minimal valid queue files (default 1,000,000) straight into queue folders
// (header, message, end marker: what the store writes, without its syncs),
// then measures what the job controller does at start: the scan of the
// whole queue into its cache. Prints the start-up time, the process's
// resident memory per queued message and the cache's own count of bytes,
// then a rescan (what runs every SYNCH_TIME), then removes the files.
//
//   bench_job_cache [--files N] [--channels C] [--subdirs S] [--dir DIR] [--keep]
//
// The channels are not in the benchmark's imta.cnf, so no job starts: only
// the cache is measured. The page cache is warm (the files were just
// written); a cold start after a reboot reads the folders from disk first.
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "config/snapshot.hpp"
#include "queue/job_controller.hpp"
#include "queue/message_file.hpp"
#include "queue/queue_name.hpp"
#include "queue/store.hpp"

namespace fs = std::filesystem;
using namespace imta;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// Resident set size of this process, bytes (VmRSS).
std::size_t rss_bytes() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

std::string one_file(const std::string& channel, std::size_t n) {
  core::Envelope e;
  e.from = "sender" + std::to_string(n % 1000) + "@example.org";
  e.source_channel = "tcp_local";
  e.received_ms = 1'800'000'000'000;
  e.message_id = "<bench." + std::to_string(n) + "@example.org>";
  e.recipients.push_back({"rcpt" + std::to_string(n) + "@" + channel + ".example", "", 0, ""});
  static const std::string message =
      "From: sender@example.org\r\nTo: rcpt@example.net\r\nSubject: bench\r\n\r\n" + std::string(700, 'x') + "\r\n";
  e.size = message.size();
  return queue::encode_header(e) + message + std::string(queue::end_marker);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t files = 1'000'000, channels = 4, subdirs = 0;
  fs::path dir;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--files") files = std::stoull(value());
    else if (a == "--channels") channels = std::max<std::size_t>(1, std::stoull(value()));
    else if (a == "--subdirs") subdirs = std::stoull(value());
    else if (a == "--dir") dir = value();
    else if (a == "--keep") keep = true;
    else {
      std::cerr << "usage: bench_job_cache [--files N] [--channels C] [--subdirs S] [--dir DIR] [--keep]\n";
      return 2;
    }
  }
  if (dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "imta-bench-cache-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return 1;
    dir = tmpl;
  }
  const fs::path queue_root = dir / "queue";
  fs::create_directories(dir / "config");
  std::ofstream(dir / "config" / "imta.cnf") << "example.test $U%example.test@mail.example.test\n\nl\nmail.example.test\n";
  config::Diagnostics diags;
  auto snapshot = std::make_shared<const config::Snapshot>(config::load_configuration(dir / "config", diags));

  // --- write the files (two threads) -----------------------------------------------
  std::cout << "writing " << files << " queue files in " << channels << " channels"
            << (subdirs ? " with " + std::to_string(subdirs) + " subfolders each" : std::string()) << " under "
            << queue_root.string() << "\n";
  auto t0 = Clock::now();
  std::vector<fs::path> folders;
  for (std::size_t c = 0; c < channels; ++c) {
    fs::path ch = queue_root / ("bench" + std::to_string(c));
    if (subdirs == 0) {
      fs::create_directories(ch);
      folders.push_back(ch);
    }
    for (std::size_t s = 0; s < subdirs; ++s) {
      char name[32];
      std::snprintf(name, sizeof name, "%03zu", s);
      fs::create_directories(ch / name);
      folders.push_back(ch / name);
    }
  }
  auto writer = [&](std::size_t from, std::size_t step) {
    for (std::size_t n = from; n < files; n += step) {
      const fs::path& folder = folders[n % folders.size()];
      const std::string channel = folder.parent_path() == queue_root ? folder.filename().string()
                                                                      : folder.parent_path().filename().string();
      // Every tenth file has been tried a few times already.
      const std::string name = queue::retry_prefix(n % 10 == 0 ? 3 : 0) + queue::new_queue_id() + ".00";
      const std::string bytes = one_file(channel, n);
      int fd = ::open((folder / name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
        std::perror("write");
        std::exit(1);
      }
      ::close(fd);
    }
  };
  {
    std::thread other(writer, 1, 2);
    writer(0, 2);
    other.join();
  }
  const double write_s = seconds_since(t0);
  std::printf("written in %.1f s (%.0f files/s)\n", write_s, static_cast<double>(files) / write_s);

  // --- start the controller: the scan into its cache ----------------------------------
  queue::StoreOptions so;
  so.root = queue_root;
  queue::Store store(so);
  queue::JobControllerOptions jo;
  jo.instance_root = dir;
  jo.store = &store;
  jo.factory = [](std::string_view, const queue::MasterServices&) { return nullptr; };
  queue::JobController controller(jo, snapshot);
  ::malloc_trim(0);
  const std::size_t rss_before = rss_bytes();
  t0 = Clock::now();
  const std::size_t cached = controller.scan();
  const double scan_s = seconds_since(t0);
  ::malloc_trim(0);  // the scan's transient batches are not the cache
  const std::size_t rss_after = rss_bytes();
  const std::size_t cache_bytes = controller.memory_bytes();
  std::printf("start-up scan: %zu files cached in %.2f s (%.0f files/s)\n", cached, scan_s,
              static_cast<double>(cached) / scan_s);
  std::printf("resident memory: %.1f MiB before, %.1f MiB after: %.1f bytes per queued message\n",
              static_cast<double>(rss_before) / 1048576.0, static_cast<double>(rss_after) / 1048576.0,
              static_cast<double>(rss_after - rss_before) / static_cast<double>(std::max<std::size_t>(cached, 1)));
  std::printf("the cache's own structures: %.1f MiB: %.1f bytes per queued message\n",
              static_cast<double>(cache_bytes) / 1048576.0,
              static_cast<double>(cache_bytes) / static_cast<double>(std::max<std::size_t>(cached, 1)));
  t0 = Clock::now();
  controller.scan();
  std::printf("rescan (every SYNCH_TIME): %.2f s\n", seconds_since(t0));
  controller.stop();

  if (keep) {
    std::cout << "kept " << dir.string() << "\n";
  } else {
    t0 = Clock::now();
    std::error_code ec;
    fs::remove_all(dir, ec);
    std::printf("removed in %.1f s\n", seconds_since(t0));
  }
  return 0;
}
