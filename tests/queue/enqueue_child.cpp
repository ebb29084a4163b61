// The victim of the crash-safety test (test_store.cpp, [crash]): enqueues
// messages from several threads until it is killed, and prints the id of
// each message on standard output, one line, only after commit() returned.
//
// Usage: enqueue_child QUEUE_ROOT group-fdatasync|group-syncfs|per_file THREADS SEED
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "queue/crash_message.hpp"
#include "queue/store.hpp"

using namespace imta::queue;

namespace {

void enqueue_forever(Store& store, unsigned seed) {
  std::mt19937 random(seed);
  while (true) {
    // Mostly small messages, now and then a large one (many write calls).
    std::size_t length = random() % 30 == 0 ? 60000 + random() % 200000 : 50 + random() % 8000;
    imta::core::Envelope envelope;
    envelope.from = "sender@example.org";
    envelope.received_ms = 1;
    envelope.recipients = {{"rcpt@example.net", "rcpt@example.net", 0, ""}};
    std::error_code error;
    auto transaction = store.begin({{"tcp_local", envelope}, {"l", envelope}}, error);
    if (!transaction) {
      std::fprintf(stderr, "begin: %s\n", error.message().c_str());
      std::_Exit(1);
    }
    const std::string message = test::crash_message(transaction->id(), length);
    for (std::size_t at = 0; at < message.size(); at += 4096) {
      if (auto e = transaction->write(std::string_view(message).substr(at, 4096))) {
        std::fprintf(stderr, "write: %s\n", e.message().c_str());
        std::_Exit(1);
      }
    }
    if (auto e = transaction->commit()) {
      std::fprintf(stderr, "commit: %s\n", e.message().c_str());
      std::_Exit(1);
    }
    // One write(2) of a short line to a pipe is atomic: the parent sees the
    // whole id or nothing.
    const std::string line = transaction->id() + "\n";
    if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s QUEUE_ROOT group-fdatasync|group-syncfs|per_file THREADS SEED\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[2];
  StoreOptions options;
  options.root = argv[1];
  options.sync = mode == "per_file" ? SyncMode::per_file : SyncMode::group;
  options.group_barrier = mode == "group-fdatasync" ? GroupBarrier::fdatasync : GroupBarrier::syncfs;
  options.subdirs = [](std::string_view channel) { return channel == "l" ? 8u : 0u; };
  Store store(options);
  const int threads = std::atoi(argv[3]);
  const unsigned seed = static_cast<unsigned>(std::strtoul(argv[4], nullptr, 10));
  std::vector<std::thread> writers;
  for (int i = 0; i < threads; ++i) writers.emplace_back([&store, seed, i] { enqueue_forever(store, seed * 131 + i); });
  for (auto& t : writers) t.join();
}
