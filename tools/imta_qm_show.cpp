// imta qm directory / summarize / read / history: the subcommands that only
// look. They read queue files without locking them, so they never get in a
// master's way, and they never clean up (that is the scheduler's scan).
// Data goes to standard output, notes to standard error.
#include <algorithm>
#include <iostream>
#include <map>

#include "core/json.hpp"
#include "core/text.hpp"
#include "queue/message_file.hpp"
#include "tools/imta_qm.hpp"

namespace imta::tools::qm {

namespace {

std::int64_t seconds_of(std::int64_t ms) { return ms / 1000; }

std::string notify_text(unsigned flags) {
  if (flags == 0) return "";
  std::string out;
  auto add = [&](unsigned bit, const char* name) {
    if (flags & bit) out += (out.empty() ? "" : ",") + std::string(name);
  };
  add(core::notify_never, "NEVER");
  add(core::notify_success, "SUCCESS");
  add(core::notify_failure, "FAILURE");
  add(core::notify_delay, "DELAY");
  return out;
}

// CRLF to LF for the terminal; the bytes are otherwise shown as they are.
std::string for_display(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n') continue;
    out += bytes[i];
  }
  return out;
}

/// Fails with exit_failure (after saying so) when the channel is unknown.
bool check_channel(const QueueManager& qm, const std::string& channel) {
  if (channel.empty() || qm.known_channel(channel)) return true;
  std::cerr << "imta qm: no channel \"" << channel << "\" in imta.cnf and no queue folder for it\n";
  return false;
}

// ---- directory -------------------------------------------------------------

struct DirectoryFilter {
  std::string from, to;
  std::optional<std::int64_t> older_ms, newer_ms;
  bool held_only = false;

  // What can be decided from the name and stat alone, before reading the file.
  bool wants_entry(const queue::QueueEntry& e, std::int64_t now) const {
    if (held_only && !e.name.held) return false;
    const std::int64_t age = now - e.arrival_ms;
    if (older_ms && age < *older_ms) return false;
    if (newer_ms && age >= *newer_ms) return false;
    return true;
  }
  bool wants_message(const core::Envelope& env) const {
    if (!from.empty() && !contains_nocase(sender_text(env), from)) return false;
    if (!to.empty() && std::none_of(env.recipients.begin(), env.recipients.end(), [&](const core::Recipient& r) {
          return contains_nocase(r.active, to) || contains_nocase(r.original, to);
        }))
      return false;
    return true;
  }
};

void human_entry(std::ostream& out, const QueueManager& qm, const Message& m) {
  const auto& e = m.entry;
  const auto& env = m.file.envelope;
  out << e.name.str() << "  " << e.channel << "  " << env.size << " bytes  age "
      << duration_text(qm.now_ms() - e.arrival_ms) << "  " << e.name.attempts
      << (e.name.attempts == 1 ? " attempt" : " attempts") << "  ";
  if (auto next = next_retry(qm, e)) {
    if (*next <= qm.now_ms())
      out << "next retry now";
    else
      out << "next retry " << local_time(*next) << " (in " << duration_text(*next - qm.now_ms()) << ")";
  } else {
    out << "held";
  }
  out << "\n  from " << sender_text(env) << "\n";
  for (const auto& r : env.recipients) {
    out << "  to   " << r.active;
    if (auto err = last_error(r, m.file.history); !err.empty()) out << "  (last error: " << err << ")";
    out << "\n";
  }
}

}  // namespace

int qm_directory(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta qm directory options");
  options.add_options()
      ("from", po::value<std::string>(), "envelope sender contains this text")
      ("to", po::value<std::string>(), "a recipient contains this text")
      ("older", po::value<std::string>(), "queued at least this long (30m, 2h, 3d, PT1H)")
      ("newer", po::value<std::string>(), "queued less than this long")
      ("held", "held messages only")
      ("channel", po::value<std::string>(), "this channel only")
      ("json", "one JSON object per message and line")
      ("words", po::value<std::vector<std::string>>(), "channel");
  po::positional_options_description positional;
  positional.add("words", -1);
  auto vm = parse_options(args, options, positional);

  std::string channel = channel_argument(vm, "directory");
  DirectoryFilter filter;
  if (vm.count("from")) filter.from = vm["from"].as<std::string>();
  if (vm.count("to")) filter.to = vm["to"].as<std::string>();
  for (const char* name : {"older", "newer"}) {
    if (!vm.count(name)) continue;
    const auto& text = vm[name].as<std::string>();
    auto ms = parse_duration_ms(text);
    if (!ms)
      throw UsageError(std::string("-") + name + "=" + text +
                       ": not a duration (a number with a unit s, m, h, d or w, or ISO 8601 like PT1H)");
    (std::string_view(name) == "older" ? filter.older_ms : filter.newer_ms) = *ms;
  }
  filter.held_only = vm.count("held") > 0;
  const bool json = vm.count("json") > 0;

  auto qm = open_queue(context);
  if (!qm) return exit_failure;
  if (!check_channel(*qm, channel)) return exit_failure;

  std::vector<Message> listed;  // human form only: sorted before printing
  const bool unreadable = !scan_messages(
      *qm, channel, "imta qm", [&](const queue::QueueEntry& entry) { return filter.wants_entry(entry, qm->now_ms()); },
      [&](Message&& m) {
        if (!filter.wants_message(m.file.envelope)) return;
        if (json) {
          // Streamed in scan order, one flushed line per message, so the first
          // line of a huge queue appears at once and a consumer can stop early.
          std::cout << directory_json(*qm, m) << '\n' << std::flush;
        } else {
          listed.push_back(std::move(m));
        }
      });
  if (json) return unreadable ? exit_failure : exit_ok;

  std::sort(listed.begin(), listed.end(), [](const Message& a, const Message& b) {
    if (a.entry.channel != b.entry.channel) return a.entry.channel < b.entry.channel;
    if (a.entry.arrival_ms != b.entry.arrival_ms) return a.entry.arrival_ms < b.entry.arrival_ms;
    return a.entry.name.id < b.entry.name.id;
  });
  std::uint64_t bytes = 0, recipients = 0;
  for (std::size_t i = 0; i < listed.size(); ++i) {
    if (i > 0) std::cout << "\n";
    human_entry(std::cout, *qm, listed[i]);
    bytes += listed[i].file.envelope.size;
    recipients += listed[i].file.envelope.recipients.size();
  }
  if (listed.empty()) {
    const bool filtered = !filter.from.empty() || !filter.to.empty() || filter.older_ms || filter.newer_ms ||
                          filter.held_only;
    std::cout << (filtered ? "no queued message matches\n" : "the queue is empty\n");
  } else {
    std::cout << "\n-- " << listed.size() << (listed.size() == 1 ? " message, " : " messages, ") << recipients
              << (recipients == 1 ? " recipient, " : " recipients, ") << bytes << " bytes\n";
  }
  return unreadable ? exit_failure : exit_ok;
}

// ---- summarize -------------------------------------------------------------

namespace {

struct ChannelTotals {
  std::uint64_t messages = 0, recipients = 0, bytes = 0, held = 0;
  std::int64_t oldest_ms = 0;  ///< arrival of the oldest message; 0 when none

  void add(const ChannelTotals& o) {
    messages += o.messages;
    recipients += o.recipients;
    bytes += o.bytes;
    held += o.held;
    if (o.oldest_ms != 0 && (oldest_ms == 0 || o.oldest_ms < oldest_ms)) oldest_ms = o.oldest_ms;
  }
};

}  // namespace

int qm_summarize(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta qm summarize options");
  options.add_options()("json", "one JSON object per channel and line, then the total");
  auto vm = parse_options(args, options, {});
  const bool json = vm.count("json") > 0;

  auto qm = open_queue(context);
  if (!qm) return exit_failure;

  std::map<std::string, ChannelTotals> by_channel;
  const bool unreadable = !scan_messages(*qm, "", "imta qm", {}, [&](Message&& m) {
    ChannelTotals one;
    one.messages = 1;
    one.recipients = m.file.envelope.recipients.size();
    one.bytes = m.file.envelope.size;
    one.held = m.entry.name.held ? 1 : 0;
    one.oldest_ms = m.entry.arrival_ms;
    by_channel[m.entry.channel].add(one);
  });

  // The channels of imta.cnf in their order (empty ones too), then any other
  // queue folder that held messages.
  std::vector<std::string> order;
  for (const auto& ch : qm->config().imta_cnf.channels) order.push_back(ch.name);
  for (const auto& [name, totals] : by_channel)
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);

  ChannelTotals total;
  auto json_row = [&](const std::string* name, const ChannelTotals& t) {
    core::JsonWriter w;
    w.begin_object();
    if (name)
      w.field("channel", *name);
    else
      w.key("channel").null();
    w.field("messages", t.messages).field("recipients", t.recipients).field("size", t.bytes).field("held", t.held);
    if (t.oldest_ms)
      w.field("oldest_arrival_time", seconds_of(t.oldest_ms));
    else
      w.key("oldest_arrival_time").null();
    w.field("total", name == nullptr).end_object();
    std::cout << w.str() << '\n';
  };
  auto text_row = [&](std::string_view name, const ChannelTotals& t) {
    char line[200];
    std::snprintf(line, sizeof line, "%-16s %9llu %10llu %14llu %6llu  %s\n", std::string(name).c_str(),
                  static_cast<unsigned long long>(t.messages), static_cast<unsigned long long>(t.recipients),
                  static_cast<unsigned long long>(t.bytes), static_cast<unsigned long long>(t.held),
                  t.oldest_ms ? duration_text(qm->now_ms() - t.oldest_ms).c_str() : "-");
    std::cout << line;
  };
  if (!json) {
    char head[200];
    std::snprintf(head, sizeof head, "%-16s %9s %10s %14s %6s  %s\n", "channel", "messages", "recipients", "bytes",
                  "held", "oldest");
    std::cout << head;
  }
  for (const auto& name : order) {
    const auto& t = by_channel[name];
    total.add(t);
    if (json)
      json_row(&name, t);
    else
      text_row(name, t);
  }
  if (json)
    json_row(nullptr, total);
  else
    text_row("total", total);
  return unreadable ? exit_failure : exit_ok;
}

// ---- read and history --------------------------------------------------------

namespace {

struct IdOptions {
  std::vector<std::string> ids;
  std::string channel;
};

/// The files the IDs name; unknown IDs are reported and set `status`.
std::vector<queue::QueueEntry> resolve(const QueueManager& qm, const IdOptions& o, int& status) {
  std::vector<queue::QueueEntry> found;
  for (const auto& id : o.ids) {
    auto entries = find_message(qm, id, o.channel);
    if (entries.empty()) {
      std::cerr << "imta qm: no such message: " << id
                << (o.channel.empty() ? "" : " in channel " + o.channel) << "\n";
      status = exit_failure;
    }
    for (auto& e : entries) found.push_back(std::move(e));
  }
  return found;
}

IdOptions id_options(const po::variables_map& vm, std::string_view sub) {
  IdOptions o;
  if (vm.count("channel")) o.channel = vm["channel"].as<std::string>();
  if (vm.count("ids")) o.ids = collect_ids(vm["ids"].as<std::vector<std::string>>());
  if (o.ids.empty()) throw UsageError(std::string(sub) + " needs at least one message ID (or - to read them)");
  return o;
}

void field(std::ostream& out, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  out << name << std::string(name.size() < 13 ? 13 - name.size() : 1, ' ') << value << "\n";
}

void show_envelope(std::ostream& out, const QueueManager& qm, const Message& m) {
  const auto& e = m.entry;
  const auto& env = m.file.envelope;
  field(out, "file", display_name(e));
  field(out, "path", e.path.string());
  field(out, "id", e.name.id);
  field(out, "status", e.name.held ? "held" : "queued");
  field(out, "attempts", std::to_string(e.name.attempts));
  field(out, "arrival", local_time(e.arrival_ms) + " (age " + duration_text(qm.now_ms() - e.arrival_ms) + ")");
  if (e.last_attempt_ms > 0) field(out, "last attempt", local_time(e.last_attempt_ms));
  if (auto next = next_retry(qm, e)) field(out, "next retry", *next <= qm.now_ms() ? "now" : local_time(*next));
  field(out, "size", std::to_string(env.size) + " bytes");
  field(out, "from", sender_text(env));
  field(out, "envid", env.envid);
  field(out, "ret", env.ret == core::Ret::full ? "FULL" : env.ret == core::Ret::hdrs ? "HDRS" : "");
  field(out, "source", env.source_channel);
  if (!env.client_ip.empty() || !env.client_helo.empty()) {
    std::string client = env.client_helo;
    if (!env.client_name.empty()) client += " (" + env.client_name + ")";
    if (!env.client_ip.empty()) client += " [" + env.client_ip + "]";
    field(out, "client", core::trim(client));
  }
  field(out, "auth user", env.auth_user);
  field(out, "tls", env.tls);
  field(out, "message-id", env.message_id);
  if (env.received_ms > 0) field(out, "received", local_time(env.received_ms));
  for (const auto& r : env.recipients) {
    field(out, "to", r.active);
    if (r.original != r.active) field(out, "  original", r.original);
    field(out, "  notify", notify_text(r.notify));
    field(out, "  orcpt", r.orcpt);
    field(out, "  last error", last_error(r, m.file.history));
  }
}

/// What read and history share: open the queue, resolve the IDs, load each
/// message and hand it to `show`; a message that cannot be read is reported
/// and makes the exit status 1.
template <typename Show>
int for_each_message(const CommandContext& context, const IdOptions& ids, Show show) {
  auto qm = open_queue(context);
  if (!qm) return exit_failure;
  if (!check_channel(*qm, ids.channel)) return exit_failure;
  int status = exit_ok;
  for (const auto& entry : resolve(*qm, ids, status)) {
    std::string error;
    auto m = load_message(*qm, entry, nullptr, &error);
    if (!m) {
      std::cerr << "imta qm: " << display_name(entry) << ": cannot be read: " << error << "\n";
      status = exit_failure;
      continue;
    }
    if (!show(*qm, entry, *m)) status = exit_failure;
  }
  return status;
}

}  // namespace

int qm_read(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta qm read options");
  options.add_options()
      ("content", "show the whole message, not only its header")
      ("channel", po::value<std::string>(), "look in this channel only")
      ("ids", po::value<std::vector<std::string>>(), "message IDs");
  po::positional_options_description positional;
  positional.add("ids", -1);
  auto vm = parse_options(args, options, positional);
  auto ids = id_options(vm, "read");
  const bool content = vm.count("content") > 0;

  bool first = true;
  return for_each_message(context, ids, [&](const QueueManager& qm, const queue::QueueEntry& entry,
                                            const Message& m) {
    auto bytes = read_message(m, !content);
    if (!bytes) {
      std::cerr << "imta qm: " << display_name(entry) << ": cannot read the message\n";
      return false;
    }
    if (!first) std::cout << "\n";
    first = false;
    show_envelope(std::cout, qm, m);
    std::cout << "\n" << for_display(*bytes);
    if (!bytes->empty() && bytes->back() != '\n') std::cout << "\n";
    return true;
  });
}

int qm_history(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta qm history options");
  options.add_options()
      ("channel", po::value<std::string>(), "look in this channel only")
      ("json", "one JSON object per attempt and line")
      ("ids", po::value<std::vector<std::string>>(), "message IDs");
  po::positional_options_description positional;
  positional.add("ids", -1);
  auto vm = parse_options(args, options, positional);
  auto ids = id_options(vm, "history");
  const bool json = vm.count("json") > 0;

  return for_each_message(context, ids, [&](const QueueManager&, const queue::QueueEntry& entry,
                                            const Message& m) {
    if (m.file.history.empty())
      std::cerr << "imta qm: " << display_name(entry) << ": no delivery attempt recorded\n";
    for (const auto& h : m.file.history) {
      if (json) {
        core::JsonWriter w;
        w.begin_object()
            .field("file", entry.name.str())
            .field("channel", entry.channel)
            .field("id", entry.name.id)
            .field("time", seconds_of(h.time_ms))
            .field("outcome", queue::outcome_name(h.outcome))
            .field("recipient", h.recipient)
            .field("diagnostic", h.diagnostic)
            .end_object();
        std::cout << w.str() << '\n';
      } else {
        std::cout << display_name(entry) << "  " << local_time(h.time_ms) << "  " << queue::outcome_name(h.outcome)
                  << "  " << (h.recipient.empty() ? "(all recipients)" : h.recipient);
        if (!h.diagnostic.empty()) std::cout << "  " << h.diagnostic;
        std::cout << "\n";
      }
    }
    return true;
  });
}

}  // namespace imta::tools::qm
