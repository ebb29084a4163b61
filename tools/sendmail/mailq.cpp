// mailq(1) (also `sendmail -bp`): the queue in the shape scripts expect
// (see mailq_format.hpp), read from the queue folders directly, so it works
// while imtad is down. A request is one queue file: a message's copy for
// one channel, named by its queue ID (the ID `imta qm` takes). Held copies
// (.HELD files) are marked `!`; copies a delivery job is working on right
// now are marked `*`, as the job controller tells on its control socket (no
// controller, no marks). `mailq --json` prints what `imta qm directory
// --json` prints.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <set>

#include "queue/job_control.hpp"
#include "tools/queue_listing.hpp"
#include "tools/sendmail/front_end.hpp"
#include "tools/sendmail/front_end_args.hpp"
#include "tools/sendmail/mailq_format.hpp"
#include "tools/sendmail/sysexits.hpp"

namespace imta::tools::sendmail {

namespace {

void mailq_usage(std::ostream& out) {
  out << "usage: mailq [--json] [-v] [--root DIR]\n"
         "  --json, -j   one JSON object per queued copy and line (as imta qm directory --json)\n"
         "  -v           also the channel, attempts and next retry of each copy\n"
         "  --root DIR   the instance (default: $IMTA_ROOT, else /var/lib/imta)\n"
         "See mailq(1).\n";
}

/// `channel/file` of each file a delivery job is working on now, from the
/// job controller; empty when none runs (imtad down) or it does not answer.
std::set<std::string> files_in_delivery(const core::Instance& instance) {
  std::set<std::string> running;
  std::error_code ec;
  if (!std::filesystem::exists(queue::control_socket_path(instance.run_dir()), ec)) return running;
  // The answer to "jobs" is a few lines, given at once; a controller that
  // is stuck (or stopped) must not hold the listing up for long.
  std::string error;
  auto answer = queue::ask_job_controller(instance.run_dir(), "jobs", &error, std::chrono::seconds(5));
  if (!answer) {
    if (error.find("not running") == std::string::npos)
      std::cerr << "mailq: note: " << error << "; no copy is marked as being delivered\n";
    return running;
  }
  // job <id> <channel> <pool> <started-ms> <files-done> <files-in-delivery,... or -> <threads>
  for (const auto& line : queue::answer_lines(*answer)) {
    if (line.size() < 7 || line[0] != "job" || line[6] == "-") continue;
    std::string_view files = line[6];
    for (std::size_t start = 0; start <= files.size();) {
      const std::size_t comma = std::min(files.find(',', start), files.size());
      if (comma > start) running.insert(line[2] + "/" + std::string(files.substr(start, comma - start)));
      start = comma + 1;
    }
  }
  return running;
}

std::string detail_of(const qm::QueueManager& qm, const qm::Message& m, bool delivering) {
  const auto& e = m.entry;
  std::string text = "channel " + e.channel + ", " + std::to_string(e.name.attempts) +
                     (e.name.attempts == 1 ? " attempt" : " attempts");
  if (delivering) return text + ", being delivered";
  if (auto next = qm::next_retry(qm, e))
    return text + (*next <= qm.now_ms() ? ", next retry now" : ", next retry " + qm::local_time(*next));
  return text + ", held";
}

}  // namespace

int run_mailq(const std::vector<std::string>& args) {
  // `-bp` is accepted, for `sendmail -bp` handing its words over.
  bool json = false;
  auto options = parse_front_end_args("mailq", args, [&](const std::string& a) {
    if (a == "--json" || a == "-j") {
      json = true;
      return true;
    }
    return a == "-bp";
  }, mailq_usage);
  if (!options) return usage;
  if (options->help) {
    mailq_usage(std::cout);
    return ok;
  }

  auto instance = locate_front_end_instance("mailq", options->root);
  if (!instance) return os_file;
  if (::access(instance->queue_dir().c_str(), R_OK | X_OK) != 0) {
    std::cerr << "mailq: cannot read the queue " << instance->queue_dir().string() << ": " << std::strerror(errno)
              << " (run mailq as the instance's owner or root)\n";
    return errno == EACCES || errno == EPERM ? no_perm : os_file;
  }
  std::unique_ptr<qm::QueueManager> qm;
  try {
    qm = qm::open_listing(*instance);
  } catch (const config::ImageError& e) {
    std::cerr << "mailq: " << e.what() << "\n";
    return config;
  }

  if (json) {
    const bool all_read = qm::scan_messages(*qm, "", "mailq", {}, [&](qm::Message&& m) {
      std::cout << qm::directory_json(*qm, m) << '\n' << std::flush;
    });
    return all_read ? ok : io_error;
  }

  const auto delivering = files_in_delivery(qm->instance());
  struct Row {
    std::int64_t arrival_ms;
    std::string channel;
    MailqEntry entry;
  };
  std::vector<Row> rows;
  const bool all_read = qm::scan_messages(*qm, "", "mailq", {}, [&](qm::Message&& m) {
    const bool busy = delivering.count(qm::display_name(m.entry)) > 0;
    MailqEntry e;
    e.id = m.entry.name.id;
    e.mark = busy ? '*' : m.entry.name.held ? '!' : ' ';
    e.size = m.file.envelope.size;
    e.arrival = arrival_text(static_cast<std::time_t>(m.entry.arrival_ms / 1000));
    e.sender = m.file.envelope.from;
    for (const auto& r : m.file.envelope.recipients) e.recipients.push_back({r.active, qm::last_error(r, m.file.history)});
    if (options->verbose) e.detail = detail_of(*qm, m, busy);
    rows.push_back({m.entry.arrival_ms, m.entry.channel, std::move(e)});
  });
  // Oldest first; a message's copies (same ID) next to each other.
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.arrival_ms != b.arrival_ms) return a.arrival_ms < b.arrival_ms;
    if (a.entry.id != b.entry.id) return a.entry.id < b.entry.id;
    return a.channel < b.channel;
  });
  std::vector<MailqEntry> entries;
  entries.reserve(rows.size());
  for (auto& r : rows) entries.push_back(std::move(r.entry));
  std::cout << format_mailq(entries);
  return all_read ? ok : io_error;
}

}  // namespace imta::tools::sendmail
