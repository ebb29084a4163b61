// imta qm delete / hold / release / clean: the subcommands that change the
// queue. Each file is acted on through the store under its exclusive lock, so
// a file a master is delivering is reported as such and left alone, and two
// administrators (or an administrator and a master) never both act on one
// file. What was done goes to standard output, one line per file; what could
// not be done to standard error.
#include <algorithm>
#include <iostream>
#include <pwd.h>
#include <unistd.h>

#include "config/log_options.hpp"
#include "core/log/mail_log_file.hpp"
#include "core/text.hpp"
#include "tools/imta_qm.hpp"

namespace imta::tools::qm {

namespace {

enum class Action { remove, hold, release };

std::string operator_name() {
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_name != nullptr) return pw->pw_name;
  return "uid " + std::to_string(::getuid());
}

/// The original recipient as mail.log shows it after `rfc822;`.
std::string logged_original(const core::Recipient& r) {
  if (r.orcpt.size() > 7 && core::istarts_with(r.orcpt, "rfc822;")) return r.orcpt.substr(7);
  return r.original.empty() ? r.active : r.original;
}

const std::string& gone_text() {
  static const std::string text(queue::claim_error_text(queue::ClaimError::gone));
  return text;
}

/// Acts on files one at a time and keeps the score.
class Actor {
 public:
  Actor(const QueueManager& qm, Action action) : qm_(qm), action_(action) {}

  /// Acts on `entry`. A file renamed meanwhile by a master's retry is
  /// followed to its new name (a few times at most).
  void act(queue::QueueEntry entry) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::string error;
      if (act_once(entry, error)) {
        ++done_;
        return;
      }
      if (error != gone_text()) {
        const bool busy = error == queue::claim_error_text(queue::ClaimError::busy);
        fail(entry, busy ? error + "; left alone" : error);
        return;
      }
      auto moved = find_message(qm_, entry.name.id, entry.channel);
      if (moved.empty()) {
        fail(entry, "no longer in the queue (delivered or returned meanwhile)");
        return;
      }
      entry = std::move(moved.front());
    }
    fail(entry, "keeps changing its name; try again");
  }

  unsigned done() const { return done_; }
  unsigned failed() const { return failed_; }
  bool log_failed() const { return log_failed_; }

 private:
  void fail(const queue::QueueEntry& entry, const std::string& why) {
    std::cerr << "imta qm: " << display_name(entry) << ": " << why << "\n";
    ++failed_;
  }

  bool act_once(const queue::QueueEntry& entry, std::string& error) {
    switch (action_) {
      case Action::hold: {
        if (entry.name.held) {
          std::cerr << "imta qm: " << display_name(entry) << ": already held\n";
          return true;
        }
        auto r = qm_.store().hold(entry);
        if (!r.ok) return error = r.error, false;
        auto name = entry.name;
        name.held = true;
        std::cout << "held " << entry.channel << "/" << name.str() << "\n";
        return true;
      }
      case Action::release: {
        if (!entry.name.held) {
          std::cerr << "imta qm: " << display_name(entry) << ": not held\n";
          return true;
        }
        auto r = qm_.store().release(entry);
        if (!r.ok) return error = r.error, false;
        auto name = entry.name;
        name.held = false;
        std::cout << "released " << entry.channel << "/" << name.str() << "\n";
        return true;
      }
      case Action::remove:
        return remove(entry, error);
    }
    return false;
  }

  // Claims the file (the lock a master would hold), so the recipients logged
  // are exactly those of the file removed, then removes it.
  bool remove(const queue::QueueEntry& entry, std::string& error) {
    queue::ClaimError why{};
    auto claim = qm_.store().claim(entry, &why);
    if (!claim) {
      if (why == queue::ClaimError::corrupt || why == queue::ClaimError::incomplete) {
        // Nothing trustworthy to log; remove it all the same (under its lock).
        auto r = qm_.store().remove(entry);
        if (!r.ok) return error = r.error, false;
        std::cout << "deleted " << display_name(entry) << " (unreadable: " << queue::claim_error_text(why)
                  << "; nothing logged)\n";
        return true;
      }
      error = queue::claim_error_text(why);
      return false;
    }
    const core::Envelope envelope = claim->file().envelope;
    const queue::QueueEntry removed = claim->entry();
    auto r = qm_.store().complete(*claim);
    if (!r.ok) return error = r.error, false;
    std::cout << "deleted " << display_name(removed) << " (" << envelope.recipients.size()
              << (envelope.recipients.size() == 1 ? " recipient" : " recipients") << ")\n";
    log_removal(removed, envelope);
    return true;
  }

  // One K entry per recipient, if the channel logs.
  void log_removal(const queue::QueueEntry& entry, const core::Envelope& env) {
    if (!config::channel_logs(qm_.config().imta_cnf, entry.channel)) return;
    if (!log_) {
      core::log::MailLogFileOptions o;
      o.log_dir = qm_.instance().log_dir();
      o.format = config::log_options(qm_.config().options);
      o.separate_connection_log = config::separate_connection_log(qm_.config().options);
      log_ = std::make_unique<core::log::MailLogFile>(std::move(o));
    }
    std::vector<core::log::LogRecord> records;
    ++count_;
    for (const auto& rcpt : env.recipients) {
      core::log::LogRecord r;
      r.code = core::log::RecordCode::Removed;
      r.count = count_;
      r.source_channel = entry.channel;
      r.size_bytes = env.size;
      r.env_from = env.from;
      r.orig_to = logged_original(rcpt);
      r.active_to = rcpt.active;
      r.notary = rcpt.notify;
      r.filename = entry.path.string();
      if (!env.message_id.empty()) r.message_ids = {env.message_id};
      r.arrival_ms = env.received_ms;
      r.auth_user = env.auth_user;
      r.diagnostics = {"deleted by " + operator_ + " (imta qm)"};
      records.push_back(std::move(r));
    }
    if (auto ec = log_->write(records); ec && !log_failed_) {
      std::cerr << "imta qm: cannot write " << log_->path_for(core::log::RecordCode::Removed).string() << ": "
                << ec.message() << "\n";
      log_failed_ = true;
    }
  }

  const QueueManager& qm_;
  Action action_;
  unsigned done_ = 0;
  unsigned failed_ = 0;
  bool log_failed_ = false;
  std::unique_ptr<core::log::MailLogFile> log_;
  std::uint32_t count_ = 0;
  std::string operator_ = operator_name();
};

int finish(const Actor& actor) { return actor.failed() == 0 && !actor.log_failed() ? exit_ok : exit_failure; }

/// Every file of the queue (or of `channel`) that `action` applies to.
std::vector<queue::QueueEntry> every_file(const QueueManager& qm, Action action, const std::string& channel) {
  std::vector<queue::QueueEntry> entries;
  queue::ScanOptions scan;
  scan.channel = channel;
  scan.cleanup = false;
  // Collected before acting: renaming files while the folder is being read
  // could show a file twice.
  qm.store().scan(scan, [&](const queue::QueueEntry& e) {
    if (action == Action::hold && e.name.held) return;
    if (action == Action::release && !e.name.held) return;
    entries.push_back(e);
  });
  return entries;
}

int act_on_ids(const CommandContext& context, const std::vector<std::string>& args, Action action,
               std::string_view sub) {
  po::options_description options(std::string("imta qm ") + std::string(sub) + " options");
  options.add_options()
      ("all", "every message (every held message for release)")
      ("channel", po::value<std::string>(), "only in this channel")
      ("ids", po::value<std::vector<std::string>>(), "message IDs or file names; - reads them from stdin");
  po::positional_options_description positional;
  positional.add("ids", -1);
  auto vm = parse_options(args, options, positional);
  const bool all = vm.count("all") > 0;
  const std::string channel = vm.count("channel") ? vm["channel"].as<std::string>() : "";
  const auto words = vm.count("ids") ? vm["ids"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (all && !words.empty()) throw UsageError("say either -all or message IDs, not both");
  if (!all && words.empty()) throw UsageError(std::string(sub) + " needs message IDs, - (read them from stdin) or -all");
  const auto ids = all ? std::vector<std::string>{} : collect_ids(words);

  auto qm = open_queue(context);
  if (!qm) return exit_failure;
  if (!channel.empty() && !qm->known_channel(channel)) {
    std::cerr << "imta qm: no channel \"" << channel << "\" in imta.cnf and no queue folder for it\n";
    return exit_failure;
  }
  Actor actor(*qm, action);
  bool unknown = false;
  if (all) {
    auto entries = every_file(*qm, action, channel);
    if (entries.empty()) std::cerr << "imta qm: nothing to " << sub << "\n";
    for (auto& e : entries) actor.act(std::move(e));
  } else {
    if (ids.empty()) std::cerr << "imta qm: no message IDs on standard input\n";
    for (const auto& id : ids) {
      auto entries = find_message(*qm, id, channel);
      if (entries.empty()) {
        std::cerr << "imta qm: no such message: " << id << (channel.empty() ? "" : " in channel " + channel) << "\n";
        unknown = true;
      }
      for (auto& e : entries) actor.act(std::move(e));
    }
  }
  return unknown ? exit_failure : finish(actor);
}

}  // namespace

int qm_delete(const CommandContext& context, const std::vector<std::string>& args) {
  return act_on_ids(context, args, Action::remove, "delete");
}

int qm_hold(const CommandContext& context, const std::vector<std::string>& args) {
  return act_on_ids(context, args, Action::hold, "hold");
}

int qm_release(const CommandContext& context, const std::vector<std::string>& args) {
  return act_on_ids(context, args, Action::release, "release");
}

// ---- clean -----------------------------------------------------------------

namespace {

struct CleanMatch {
  std::string from, to, subject, content;
  bool any = false;  ///< -match=OR

  bool needs_message() const { return !subject.empty() || !content.empty(); }
};

/// Whether `m` matches; reads the message only when a criterion needs it.
/// nullopt when the message could not be read.
std::optional<bool> clean_matches(const CleanMatch& c, const Message& m) {
  std::vector<bool> results;
  const auto& env = m.file.envelope;
  if (!c.from.empty()) results.push_back(contains_nocase(env.from, c.from));
  if (!c.to.empty())
    results.push_back(std::any_of(env.recipients.begin(), env.recipients.end(), [&](const core::Recipient& r) {
      return contains_nocase(r.active, c.to) || contains_nocase(r.original, c.to);
    }));
  // Cheap criteria first: with AND, one miss settles it without reading the message.
  auto settled = [&] {
    if (c.any) return std::find(results.begin(), results.end(), true) != results.end();
    return std::find(results.begin(), results.end(), false) != results.end();
  };
  if (settled()) return c.any;
  if (c.needs_message()) {
    auto bytes = read_message(m, c.content.empty());
    if (!bytes) return std::nullopt;
    std::string_view text = *bytes;
    auto split = text.find("\r\n\r\n");
    std::string_view headers = split == std::string_view::npos ? text : text.substr(0, split + 2);
    std::string_view body = split == std::string_view::npos ? std::string_view{} : text.substr(split + 4);
    if (!c.subject.empty()) {
      auto subject = header_value(headers, "Subject");
      results.push_back(subject && contains_nocase(*subject, c.subject));
    }
    if (!c.content.empty()) results.push_back(contains_nocase(body, c.content));
  }
  return c.any ? std::find(results.begin(), results.end(), true) != results.end()
               : std::find(results.begin(), results.end(), false) == results.end();
}

}  // namespace

int qm_clean(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta qm clean options");
  options.add_options()
      ("from", po::value<std::string>(), "envelope sender contains this text")
      ("to", po::value<std::string>(), "a recipient contains this text")
      ("subject", po::value<std::string>(), "the Subject: header contains this text")
      ("content", po::value<std::string>(), "the message body contains this text")
      ("match", po::value<std::string>()->default_value("AND"), "AND: every criterion; OR: any")
      ("hold", "hold the messages that match")
      ("delete", "delete the messages that match")
      ("min_length", po::value<long long>(), "shortest match string accepted (default MIN_CLEAN_MATCH_LENGTH)")
      ("channel", po::value<std::string>(), "this channel only")
      ("words", po::value<std::vector<std::string>>(), "channel");
  po::positional_options_description positional;
  positional.add("words", -1);
  auto vm = parse_options(args, options, positional);

  std::string channel = channel_argument(vm, "clean");
  if (vm.count("hold") + vm.count("delete") != 1) throw UsageError("clean needs exactly one of -hold and -delete");
  const Action action = vm.count("hold") ? Action::hold : Action::remove;
  CleanMatch match;
  const auto& how = vm["match"].as<std::string>();
  if (core::iequals(how, "OR"))
    match.any = true;
  else if (!core::iequals(how, "AND"))
    throw UsageError("-match=" + how + ": say AND or OR");
  std::vector<std::pair<std::string, std::string*>> criteria = {
      {"from", &match.from}, {"to", &match.to}, {"subject", &match.subject}, {"content", &match.content}};
  for (auto& [name, target] : criteria)
    if (vm.count(name)) {
      *target = vm[name].as<std::string>();
      if (target->empty()) throw UsageError("-" + name + "= needs a match string");
    }
  if (match.from.empty() && match.to.empty() && match.subject.empty() && match.content.empty())
    throw UsageError("clean needs at least one of -from=, -to=, -subject=, -content=");
  if (vm.count("min_length") && vm["min_length"].as<long long>() < 1)
    throw UsageError("-min_length must be at least 1");

  auto qm = open_queue(context);
  if (!qm) return exit_failure;
  if (!channel.empty() && !qm->known_channel(channel)) {
    std::cerr << "imta qm: no channel \"" << channel << "\" in imta.cnf and no queue folder for it\n";
    return exit_failure;
  }
  // The latch against emptying the queue by a careless short pattern.
  const bool explicit_min = vm.count("min_length") > 0;
  const auto min_length = explicit_min ? vm["min_length"].as<long long>()
                                       : static_cast<long long>(qm->config().options.integer("MIN_CLEAN_MATCH_LENGTH"));
  for (auto& [name, target] : criteria)
    if (!target->empty() && static_cast<long long>(target->size()) < min_length)
      throw UsageError("-" + name + "=\"" + *target + "\" is shorter than " + std::to_string(min_length) +
                       " characters (" + (explicit_min ? "-min_length" : "MIN_CLEAN_MATCH_LENGTH in option.dat") +
                       "); say -min_length=" + std::to_string(target->size()) + " if you mean it");

  // Delete considers held messages too; hold only those not held yet.
  auto entries = every_file(*qm, action, channel);
  Actor actor(*qm, action);
  unsigned matched = 0;
  bool unreadable = false;
  for (auto& entry : entries) {
    std::string error;
    LoadFailure failure{};
    auto m = load_message(*qm, entry, &failure, &error);
    std::optional<bool> hit;
    if (m) hit = clean_matches(match, *m);
    if (!m || !hit) {
      if (m || failure == LoadFailure::unreadable) {
        std::cerr << "imta qm: " << display_name(entry) << ": cannot be read" << (error.empty() ? "" : ": " + error)
                  << "\n";
        unreadable = true;
      }
      continue;
    }
    if (!*hit) continue;
    ++matched;
    actor.act(std::move(entry));
  }
  std::cout << matched << (matched == 1 ? " message" : " messages") << " matched, " << actor.done()
            << (action == Action::hold ? " held" : " deleted");
  if (actor.failed() > 0) std::cout << ", " << actor.failed() << " left alone";
  std::cout << "\n";
  return unreadable ? exit_failure : finish(actor);
}

}  // namespace imta::tools::qm
