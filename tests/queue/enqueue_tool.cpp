// A test helper, not an installed program: fills an instance's queue through
// the real Store API, so end-to-end tests of `imta qm` see files exactly as the
// MTA writes them. Prints the committed files as `channel/name`, one per line.
//
//   enqueue_tool --queue DIR --channel C [--subdirs N] --from ADDR --to ADDR...
//                [--subject TEXT] [--body TEXT] [--message-id ID] [--count N]
//                [--notify N] [--auth-user U] [--defer DIAGNOSTIC]...
//
// --defer records a failed attempt per given diagnostic (claim, retry with a
// "deferred" history record for every recipient), as a channel master would.
// --count N enqueues N messages, many commits in flight at once (group commit).
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "queue/store.hpp"

namespace {

using namespace imta;

struct Args {
  std::string queue, channel, from, subject = "test message", body = "Hello.", message_id;
  std::vector<std::string> to, defer;
  unsigned subdirs = 0, count = 1, notify = 0;
  std::string auth_user;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "enqueue_tool: " << why << "\n";
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string opt = argv[i];
    if (i + 1 >= argc) usage("missing value after " + opt);
    std::string v = argv[++i];
    if (opt == "--queue") a.queue = v;
    else if (opt == "--channel") a.channel = v;
    else if (opt == "--subdirs") a.subdirs = static_cast<unsigned>(std::stoul(v));
    else if (opt == "--from") a.from = v;
    else if (opt == "--to") a.to.push_back(v);
    else if (opt == "--subject") a.subject = v;
    else if (opt == "--body") a.body = v;
    else if (opt == "--message-id") a.message_id = v;
    else if (opt == "--count") a.count = static_cast<unsigned>(std::stoul(v));
    else if (opt == "--notify") a.notify = static_cast<unsigned>(std::stoul(v));
    else if (opt == "--auth-user") a.auth_user = v;
    else if (opt == "--defer") a.defer.push_back(v);
    else usage("unknown option " + opt);
  }
  if (a.queue.empty() || a.channel.empty() || a.to.empty()) usage("--queue, --channel and --to are required");
  return a;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string message_text(const Args& a, unsigned n) {
  std::string to;
  for (const auto& r : a.to) to += (to.empty() ? "" : ", ") + r;
  std::string m = "From: " + (a.from.empty() ? std::string("MAILER-DAEMON") : a.from) + "\r\n";
  m += "To: " + to + "\r\n";
  m += "Subject: " + a.subject + (a.count > 1 ? " " + std::to_string(n) : "") + "\r\n";
  if (!a.message_id.empty()) m += "Message-ID: " + a.message_id + "\r\n";
  m += "Date: Sat, 21 Nov 2026 10:31:05 +0000\r\n";
  m += "\r\n";
  m += a.body + "\r\n";
  return m;
}

core::Envelope envelope_of(const Args& a) {
  core::Envelope e;
  e.from = a.from;
  e.source_channel = "tcp_local";
  e.client_ip = "192.0.2.9";
  e.client_helo = "client.example";
  e.auth_user = a.auth_user;
  e.received_ms = now_ms();
  e.message_id = a.message_id;
  for (const auto& r : a.to) e.recipients.push_back({r, r, a.notify, "rfc822;" + r});
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  queue::StoreOptions options;
  options.root = args.queue;
  const unsigned subdirs = args.subdirs;
  options.subdirs = [subdirs](std::string_view) { return subdirs; };
  queue::Store store(std::move(options));

  std::mutex mutex;
  std::condition_variable cv;
  unsigned in_flight = 0;
  bool failed = false;
  std::vector<queue::QueuePath> committed;
  constexpr unsigned window = 256;  // commits waiting for a barrier at once

  for (unsigned n = 0; n < args.count; ++n) {
    std::error_code ec;
    auto tx = store.begin({queue::Copy{args.channel, envelope_of(args)}}, ec);
    if (!tx || ec) {
      std::cerr << "enqueue_tool: begin: " << ec.message() << "\n";
      return 1;
    }
    if (auto e = tx->write(message_text(args, n))) {
      std::cerr << "enqueue_tool: write: " << e.message() << "\n";
      return 1;
    }
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return in_flight < window; });
    ++in_flight;
    lock.unlock();
    // The transaction must outlive its commit: the callback owns it.
    auto* raw = tx.get();
    std::shared_ptr<queue::Transaction> keep(std::move(tx));
    raw->commit_async([&, keep](std::error_code e, std::vector<queue::QueuePath> paths) {
      std::lock_guard guard(mutex);
      if (e) {
        std::cerr << "enqueue_tool: commit: " << e.message() << "\n";
        failed = true;
      }
      for (auto& p : paths) committed.push_back(std::move(p));
      --in_flight;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  if (failed) return 1;

  for (auto& p : committed) {
    queue::QueueEntry entry;
    auto found = store.find(p.name.str(), p.channel);
    if (!found) {
      std::cerr << "enqueue_tool: committed file not found: " << p.path << "\n";
      return 1;
    }
    entry = *found;
    for (const auto& diagnostic : args.defer) {
      queue::ClaimError why{};
      auto claim = store.claim(entry, &why);
      if (!claim) {
        std::cerr << "enqueue_tool: claim: " << queue::claim_error_text(why) << "\n";
        return 1;
      }
      std::vector<queue::HistoryRecord> records;
      for (const auto& r : args.to) records.push_back({now_ms(), queue::Outcome::deferred, r, diagnostic});
      if (auto r = store.retry(*claim, records); !r.ok) {
        std::cerr << "enqueue_tool: retry: " << r.error << "\n";
        return 1;
      }
      entry = claim->entry();
    }
    std::cout << entry.channel << "/" << entry.name.str() << "\n";
  }
  return 0;
}
