// imta qm return: sends queued messages back to their senders. Each file is
// claimed like a master would claim it, every recipient is reported bounced
// ("returned by the postmaster") and queue/outcome.hpp does the rest, as for
// a delivery failure: the failure notice enqueued to the process channel (E
// records <channel> process, postmaster copies per sendpost and friends),
// then R records (K for NOTIFY=NEVER) and the file removed. The process
// channel then builds the report and routes it (see imta-qm(8)).
#include <chrono>
#include <iostream>
#include <pwd.h>
#include <unistd.h>

#include "core/log/async_log.hpp"
#include "config/log_options.hpp"
#include "queue/job_daemon.hpp"
#include "queue/master.hpp"
#include "queue/notify.hpp"
#include "queue/outcome.hpp"
#include "queue/submit.hpp"
#include "tools/imta_qm.hpp"

namespace imta::tools::qm {

namespace {

std::string operator_name() {
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_name != nullptr) return pw->pw_name;
  return "uid " + std::to_string(::getuid());
}

/// What returning needs beyond the QueueManager: a writable store, the
/// mail.log writer, the submitter for the notices and the job controller's
/// socket, wired as MasterServices so queue::apply_outcome can act.
class Returner {
 public:
  explicit Returner(const QueueManager& qm)
      : // The QueueManager's configuration, shared without a copy: it
        // outlives this object.
        snapshot_(std::shared_ptr<const config::Snapshot>(), &qm.config()),
        store_(qm.store().options()),
        log_(config::mail_log_file_options(qm.instance(), qm.config())),
        notifier_(queue::notify_socket_path(qm.instance().run_dir())),
        submitter_(snapshot_, store_, &log_, &notifier_) {
    services_.instance = &qm.instance();
    services_.snapshot = snapshot_;
    services_.store = &store_;
    services_.submitter = &submitter_;
    services_.log = &log_;
    services_.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
    services_.trace = [](std::string_view line) { std::cerr << "imta qm: " << line << "\n"; };
  }

  /// Returns `entry`; false with `error` when it could not be.
  bool give_back(const queue::QueueEntry& entry, std::string& error) {
    queue::ClaimError why{};
    auto claim = store_.claim(entry, &why);
    if (!claim) {
      error = queue::claim_error_text(why);
      if (why == queue::ClaimError::corrupt || why == queue::ClaimError::incomplete)
        error += " (cannot be returned; imta qm delete removes it)";
      return false;
    }
    const auto& env = claim->file().envelope;
    queue::DeliveryReport report;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
      queue::RecipientOutcome o;
      o.status = queue::RecipientStatus::bounced;
      o.dsn_status = "5.0.0";
      o.diagnostic_code = "X-imta; returned by the postmaster";
      o.log_diagnostics = "returned by " + operator_ + " (imta qm return)";
      report.recipients.push_back(std::move(o));
    }
    const std::size_t count = env.recipients.size();
    const std::string shown = display_name(claim->entry());
    auto summary = queue::apply_outcome(services_, *claim, report);
    if (!summary.error.empty()) {
      error = summary.error;
      return false;
    }
    if (summary.deferred > 0) {
      // The notice could not be enqueued: the file stays for a later try.
      error = "the failure notice could not be enqueued; the message stays queued";
      return false;
    }
    std::cout << "returned " << shown << " (" << count << (count == 1 ? " recipient" : " recipients") << ")\n";
    return true;
  }

 private:
  std::shared_ptr<const config::Snapshot> snapshot_;
  queue::Store store_;
  core::log::AsyncMailLog log_;
  queue::EnqueueNotifier notifier_;
  queue::Submitter submitter_;
  queue::MasterServices services_;
  std::string operator_ = operator_name();
};

}  // namespace

int qm_return(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta qm return options");
  options.add_options()
      ("channel", po::value<std::string>(), "only the copies in this channel")
      ("ids", po::value<std::vector<std::string>>(), "message IDs or file names; - reads them from stdin");
  po::positional_options_description positional;
  positional.add("ids", -1);
  auto vm = parse_options(args, options, positional);
  const std::string channel = vm.count("channel") ? vm["channel"].as<std::string>() : "";
  const auto words = vm.count("ids") ? vm["ids"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (words.empty()) throw UsageError("return needs message IDs or - (read them from stdin)");
  const auto ids = collect_ids(words);

  auto qm = open_queue(context);
  if (!qm) return exit_failure;
  if (!channel.empty() && !qm->known_channel(channel)) {
    std::cerr << "imta qm: no channel \"" << channel << "\" in imta.cnf and no queue folder for it\n";
    return exit_failure;
  }
  if (ids.empty()) std::cerr << "imta qm: no message IDs on standard input\n";
  Returner returner(*qm);
  bool failed = false;
  for (const auto& id : ids) {
    auto entries = find_message(*qm, id, channel);
    if (entries.empty()) {
      std::cerr << "imta qm: no such message: " << id << (channel.empty() ? "" : " in channel " + channel) << "\n";
      failed = true;
    }
    for (const auto& e : entries) {
      std::string error;
      if (!returner.give_back(e, error)) {
        std::cerr << "imta qm: " << display_name(e) << ": " << error << "\n";
        failed = true;
      }
    }
  }
  return failed ? exit_failure : exit_ok;
}

}  // namespace imta::tools::qm
