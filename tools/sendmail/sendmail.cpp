// sendmail(8): what cron, PHP's mail() and scripts call. Reads the flags
// (sendmail_flags.hpp), then either hands over (-bp to mailq, -bi to
// newaliases, -bs to the SMTP session on standard input/output, -q to the
// job controller) or reads a message from standard input, prepares it
// (message_prep.hpp) and queues it as a local submission on channel `l`
// (local_submit.hpp). Exit codes are sysexits.h's (sysexits.hpp).
//
// Choices, documented in sendmail(8):
//  - -t: the recipients are those of To/Cc/Bcc PLUS those named as
//    arguments (Postfix's choice, not Exim's and classic sendmail's, which
//    remove argument recipients from the header's list).
//  - -f/-r from a caller who is neither root nor listed in option.dat's
//    SENDMAIL_TRUSTED_USERS: the message is still sent, with the caller's
//    own address as envelope sender; an X-Authentication-Warning: field
//    and a line on standard error say what was asked.
//  - Bcc: fields are removed whether or not -t is given.
//  - A recipient refused by the configuration (no such user, an access
//    mapping) is reported on standard error and the message is queued for
//    the others; the exit code is then 67. A temporary refusal (the users
//    database unavailable) queues nothing and exits 75.
#include <fcntl.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "channels/tcp/received_header.hpp"
#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "core/text.hpp"
#include "queue/notice.hpp"
#include "queue/notify.hpp"
#include "queue/submit.hpp"
#include "tools/sendmail/front_end.hpp"
#include "tools/sendmail/local_submit.hpp"
#include "tools/sendmail/message_prep.hpp"
#include "tools/sendmail/sendmail_flags.hpp"
#include "tools/sendmail/smtp_stdio.hpp"
#include "tools/sendmail/sysexits.hpp"

namespace imta::tools::sendmail {

namespace {

constexpr const char* kUsage =
    "usage: sendmail [-t] [-i] [-f sender] [-F name] [-N dsn] [-R ret] [-V envid] [-B type] [-v] [address...]\n"
    "       sendmail -bs | -bv address... | -bp | -bi | -q\n"
    "see sendmail(8)\n";

/// Who runs us: the real user (a set-group-id installation keeps it).
struct Caller {
  std::string user;
  std::string full_name;  ///< from the password file's comment field
  uid_t uid = 0;
};

Caller caller() {
  Caller c;
  c.uid = ::getuid();
  if (const passwd* pw = ::getpwuid(c.uid)) {
    c.user = pw->pw_name;
    std::string_view gecos = pw->pw_gecos ? pw->pw_gecos : "";
    c.full_name = std::string(core::trim(gecos.substr(0, gecos.find(','))));
  } else {
    c.user = std::to_string(c.uid);
  }
  return c;
}

struct Loaded {
  core::Instance instance;
  std::shared_ptr<const config::Snapshot> snapshot;
};

/// The instance ($IMTA_ROOT, else the default root) and its compiled
/// configuration; nullopt (and `code`) after saying what is wrong.
std::optional<Loaded> load(int& code) {
  // Installed set-user-id (or set-group-id), we write with rights the
  // caller does not have: then only root may point us elsewhere.
  const bool privileged = ::getuid() != ::geteuid() || ::getgid() != ::getegid();
  auto located = privileged && ::getuid() != 0 ? core::Instance(core::default_instance_root)
                                               : core::Instance::locate(std::nullopt);
  std::error_code ec;
  auto root = std::filesystem::absolute(located.root(), ec);
  core::Instance instance(ec ? located.root() : root.lexically_normal());
  if (auto problem = instance.problem(); !problem.empty()) {
    std::cerr << "sendmail: " << problem << "\n";
    code = os_file;
    return std::nullopt;
  }
  try {
    return Loaded{instance, std::make_shared<const config::Snapshot>(config::load_image(instance.image_path()))};
  } catch (const std::exception& e) {
    std::cerr << "sendmail: cannot load the configuration: " << e.what() << " (run imta cnbuild)\n";
    code = config;
    return std::nullopt;
  }
}

/// The domain bare user names get: the instance's local domain, else this
/// host's name.
std::string qualifying_domain(const config::Snapshot& s) {
  return s.local_domain.empty() ? queue::local_host_name(s) : s.local_domain;
}

bool is_trusted(const Caller& c, const config::Snapshot& s) {
  if (c.uid == 0) return true;
  for (const auto& name : s.options.list("SENDMAIL_TRUSTED_USERS"))
    if (name == c.user) return true;
  return false;
}

/// Argument words and -t's header recipients, each list split, qualified,
/// duplicates (any case) dropped.
void add_recipients(std::vector<std::string>& out, const std::vector<std::string>& words, std::string_view domain) {
  for (const auto& word : words)
    for (const auto& a : parse_address_list(word)) {
      auto q = qualify(a, domain);
      if (q.empty()) continue;
      bool seen = false;
      for (const auto& b : out) seen = seen || core::iequals(q, b);
      if (!seen) out.push_back(std::move(q));
    }
}

std::string reply_text(const Reply& r) {
  return std::to_string(r.code) + (r.enhanced.empty() ? "" : " " + r.enhanced) + " " + r.text;
}

struct Now {
  std::int64_t ms = 0;
  std::string date;  ///< RFC 5322, local time zone
};

Now now() {
  Now n;
  auto t = std::chrono::system_clock::now();
  n.ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::localtime_r(&secs, &tm);
  n.date = channels::tcp::rfc5322_date(secs, static_cast<int>(tm.tm_gmtoff / 60));
  return n;
}

enum class ReadStatus { ok, no_input, error, too_big };

/// All of standard input, at most `limit` bytes.
ReadStatus read_input(std::string& out, std::uint64_t limit, std::string& error) {
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      return errno == EBADF ? ReadStatus::no_input : ReadStatus::error;
    }
    if (n == 0) return ReadStatus::ok;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > limit) return ReadStatus::too_big;
  }
}

// ---- -q ------------------------------------------------------------------------

int queue_run(const Loaded& loaded, const Flags& flags) {
  if (!flags.queue_argument.empty())
    std::cerr << "sendmail: -q" << flags.queue_argument
              << ": asking for a run of every queue now (intervals and selections are the job controller's)\n";
  const auto socket = queue::notify_socket_path(loaded.instance.run_dir());
  queue::EnqueueNotifier notifier(socket);
  if (!notifier.submit("")) {
    std::cerr << "sendmail: -q: the job controller is not running (nothing listens on " << socket.string()
              << "); queued mail leaves when imtad starts (imta start)\n";
    return temp_fail;
  }
  if (flags.verbose) std::cerr << "sendmail: asked the job controller to run every queue now\n";
  return ok;
}

// ---- -bv -----------------------------------------------------------------------

int verify(const Loaded& loaded, const Flags& flags) {
  const auto& s = *loaded.snapshot;
  const auto domain = qualifying_domain(s);
  std::vector<std::string> addresses;
  add_recipients(addresses, flags.recipients, domain);
  if (addresses.empty()) {
    std::cerr << "sendmail: -bv: name the addresses to verify\n";
    return usage;
  }
  const Caller me = caller();
  LocalSubmitter submitter(loaded.instance, loaded.snapshot, me.user);
  std::string from = me.user + "@" + domain;
  if (flags.sender && is_trusted(me, s)) from = qualify(*flags.sender, domain);
  auto sender = submitter.check_sender(from);
  if (sender.refusal) {
    std::cout << (from.empty() ? "<>" : from) << ": sender refused: " << reply_text(*sender.refusal) << "\n";
    return sender.refusal->code >= 500 ? no_perm : temp_fail;
  }
  bool permanent = false, temporary = false;
  for (const auto& address : addresses) {
    auto v = submitter.route(sender.from, address, flags.notify);
    if (v.refusal) {
      std::cout << address << ": undeliverable: " << reply_text(*v.refusal) << "\n";
      (v.refusal->code >= 500 ? permanent : temporary) = true;
      continue;
    }
    std::cout << address << ": deliverable:";
    for (std::size_t i = 0; i < v.accepted.size(); ++i)
      std::cout << (i ? ";" : "") << " channel " << v.accepted[i].route.channel << ", address "
                << v.accepted[i].route.active;
    std::cout << "\n";
  }
  return permanent ? no_user : temporary ? temp_fail : ok;
}

// ---- sending -------------------------------------------------------------------

int deliver(const Loaded& loaded, const Flags& flags) {
  const auto& s = *loaded.snapshot;
  const auto domain = qualifying_domain(s);
  const Caller me = caller();
  const std::string own_address = me.user + "@" + domain;

  // The envelope sender: -f/-r for trusted callers, the caller otherwise.
  std::string from = own_address;
  std::optional<std::string> refused_sender;
  if (flags.sender) {
    auto asked = qualify(*flags.sender, domain);
    if (is_trusted(me, s) || core::iequals(asked, own_address)) {
      from = asked;
    } else {
      refused_sender = asked;
      std::cerr << "sendmail: -f " << (asked.empty() ? "<>" : asked) << " not honoured: " << me.user
                << " is not a trusted user (SENDMAIL_TRUSTED_USERS in option.dat); the sender is " << own_address
                << "\n";
    }
  }
  if (!flags.envid.empty()) {
    bool printable = flags.envid.size() <= 100;
    for (char c : flags.envid) printable = printable && c > 32 && c < 127;
    if (!printable) {
      std::cerr << "sendmail: -V: an envelope id is at most 100 printable ASCII characters\n";
      return usage;
    }
  }

  // The message.
  const auto limit = channels::tcp::channel_settings(s, kLocalChannel).max_message_size;
  std::string input, error;
  switch (read_input(input, limit, error)) {
    case ReadStatus::ok: break;
    case ReadStatus::no_input:
      std::cerr << "sendmail: cannot read the message from standard input: " << error << "\n";
      return no_input;
    case ReadStatus::error:
      std::cerr << "sendmail: error reading the message from standard input: " << error << "\n";
      return io_error;
    case ReadStatus::too_big:
      std::cerr << "sendmail: the message is larger than the " << limit << " bytes allowed\n";
      return data_error;
  }
  std::string_view text = input;
  if (!flags.ignore_dots) text = cut_at_lone_dot(text);
  text = skip_mbox_from_line(text);
  SplitMessage message = split_message(core::to_crlf(text));

  std::vector<std::string> recipients;
  add_recipients(recipients, flags.recipients, domain);
  if (flags.recipients_from_header) add_recipients(recipients, header_recipients(message), domain);
  remove_bcc(message);
  if (recipients.empty()) {
    std::cerr << "sendmail: no recipients: name them as arguments"
              << (flags.recipients_from_header ? " or in To:, Cc: or Bcc: fields" : ", or use -t to take them from the header")
              << "\n";
    return usage;
  }

  LocalSubmitter submitter(loaded.instance, loaded.snapshot, me.user);
  auto sender = submitter.check_sender(from);
  if (sender.refusal) {
    submitter.log_refusal(from, "", *sender.refusal);
    std::cerr << "sendmail: sender " << (from.empty() ? "<>" : from)
              << " refused: " << reply_text(*sender.refusal) << "\n";
    return sender.refusal->code >= 500 ? no_perm : temp_fail;
  }
  from = sender.from;

  std::vector<AcceptedRecipient> accepted;
  bool permanent = false, temporary = false;
  for (const auto& address : recipients) {
    auto v = submitter.route(from, address, flags.notify);
    if (v.refusal) {
      submitter.log_refusal(from, address, *v.refusal);
      std::cerr << "sendmail: " << address << ": " << reply_text(*v.refusal) << "\n";
      (v.refusal->code >= 500 ? permanent : temporary) = true;
      continue;
    }
    for (auto& a : v.accepted) {
      bool seen = false;
      for (const auto& b : accepted)
        seen = seen || (b.route.channel == a.route.channel && core::iequals(b.route.active, a.route.active));
      if (!seen) accepted.push_back(std::move(a));
    }
  }
  if (temporary) {
    std::cerr << "sendmail: nothing was queued; try again later\n";
    return temp_fail;
  }
  if (accepted.empty()) {
    std::cerr << "sendmail: no recipient can be reached; nothing was queued\n";
    return no_user;
  }

  // The fields a message must have, and the one that says who sent it.
  const Now when = now();
  const std::string by_host = queue::local_host_name(s);
  MissingFields missing;
  missing.from = mailbox_text(flags.full_name ? *flags.full_name : me.full_name, from.empty() ? own_address : from);
  missing.date = when.date;
  missing.message_id = queue::new_message_id(s);
  add_missing_fields(message, missing);
  std::string top_fields;
  if (refused_sender) top_fields = authentication_warning_field(by_host, me.user, *refused_sender);

  std::string message_id;
  for (const auto& f : message.fields)
    if (core::iequals(f.name, "Message-ID") && message_id.empty()) message_id = field_value(f);
  channels::tcp::TransactionInfo info;  // (views of the strings above)
  info.from = from;
  info.envid = flags.envid;
  info.ret = flags.ret;
  info.source_channel = kLocalChannel;
  info.received_ms = when.ms;
  info.message_id = message_id;
  const std::string body = join_message(message);
  const std::string single = recipients.size() == 1 ? recipients.front() : std::string();
  auto top = [&](const std::string& id) {
    return local_received_field({me.user, static_cast<std::int64_t>(me.uid), by_host, id, single, when.date}) +
           top_fields;
  };
  auto result = submitter.enqueue(info, accepted, top, body);
  if (result.error) {
    std::cerr << "sendmail: cannot queue the message: " << result.error.message() << " (in "
              << loaded.instance.queue_dir().string() << ")\n";
    return temp_fail;
  }
  if (flags.verbose) {
    std::cerr << "sendmail: queued as " << result.id << " from " << (from.empty() ? "<>" : from) << "\n";
    for (const auto& a : accepted)
      std::cerr << "sendmail:   " << a.original << " -> channel " << a.route.channel << ", address "
                << a.route.active << "\n";
  }
  submitter.flush_log();
  return permanent ? no_user : ok;
}

}  // namespace

int run_sendmail(const std::vector<std::string>& args) {
  // A closed standard descriptor would be taken by the next file or socket
  // we open (and a message read from it, or replies written into it): fill
  // the gaps with /dev/null, remembering whether there was any input.
  const bool have_input = ::fcntl(STDIN_FILENO, F_GETFD) != -1;
  // (In this order every lower descriptor is open, so open() returns `fd`.)
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd)
    if (::fcntl(fd, F_GETFD) == -1) ::open("/dev/null", O_RDWR);
  auto parsed = parse_flags(args);
  if (!parsed.flags) {
    std::cerr << "sendmail: " << parsed.error << "\n" << kUsage;
    return usage;
  }
  const Flags& flags = *parsed.flags;
  for (const auto& note : flags.notes) std::cerr << note << "\n";

  switch (flags.mode) {
    case Mode::print_queue: return run_mailq(flags.verbose ? std::vector<std::string>{"-v"} : std::vector<std::string>{});
    case Mode::init_aliases: return run_newaliases({});
    case Mode::daemon:
      std::cerr << "sendmail: -bd: imta's daemon is imtad; start it with imta start\n";
      return usage;
    default: break;
  }
  if (!have_input && (flags.mode == Mode::deliver || flags.mode == Mode::smtp)) {
    std::cerr << "sendmail: no standard input to read the message from\n";
    return no_input;
  }
  int code = ok;
  auto loaded = load(code);
  if (!loaded) return code;
  try {
    switch (flags.mode) {
      case Mode::queue_run: return queue_run(*loaded, flags);
      case Mode::smtp: return run_smtp_on_stdio(loaded->instance, loaded->snapshot);
      case Mode::verify: return verify(*loaded, flags);
      default: return deliver(*loaded, flags);
    }
  } catch (const std::exception& e) {
    // Whatever failed (the queue folder, the users database), the caller
    // may try again: nothing was queued.
    std::cerr << "sendmail: " << e.what() << "\n";
    return temp_fail;
  }
}

}  // namespace imta::tools::sendmail
