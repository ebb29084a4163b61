#include "config/channel_keywords.hpp"

#include <algorithm>
#include <unordered_map>

#include "core/text.hpp"

namespace imta::config {

namespace {

constexpr std::int64_t kMaxInt = 2147483647;

// Builds the table once. Written as calls rather than one brace list so each
// family of alternatives reads as a unit and the spam-filter slots can be
// generated.
class TableBuilder {
 public:
  void flag(std::string name, std::string family, std::string doc) {
    add({std::move(name), KeywordArgs::none, std::move(family), false, std::move(doc)});
  }
  void integer(std::string name, std::int64_t min, std::int64_t max, std::string doc) {
    KeywordSpec s{name, KeywordArgs::integer, name, false, std::move(doc)};
    s.min = min;
    s.max = max;
    add(std::move(s));
  }
  void with(KeywordArgs args, std::string name, std::string doc, std::string family = {}) {
    if (family.empty()) family = name;
    add({std::move(name), args, std::move(family), false, std::move(doc)});
  }
  void implemented(std::initializer_list<std::string_view> names) {
    for (auto n : names)
      for (auto& s : table_)
        if (s.name == n) s.implemented = true;
  }
  std::vector<KeywordSpec> take() { return std::move(table_); }

 private:
  void add(KeywordSpec s) {
    if (s.family.empty()) s.family = s.name;
    table_.push_back(std::move(s));
  }
  std::vector<KeywordSpec> table_;
};

std::vector<KeywordSpec> build_table() {
  TableBuilder t;
  using A = KeywordArgs;

  // Logging and protocol.
  t.flag("logging", "logging", "write mail.log records for messages through this channel");
  t.flag("nologging", "logging", "write no mail.log records for this channel (the default)");
  t.flag("smtp", "smtp", "the channel speaks SMTP (required on tcp_* channels)");
  t.flag("smtp_cr", "smtp", "SMTP, also accepting a bare CR as line end");
  t.flag("smtp_crlf", "smtp", "SMTP, requiring CRLF line ends");
  t.flag("smtp_lf", "smtp", "SMTP, also accepting a bare LF as line end");
  t.flag("nosmtp", "smtp", "the channel does not speak SMTP (the default)");
  t.flag("lmtp", "lmtp", "the channel speaks LMTP (RFC 2033) instead of SMTP");
  t.flag("submit", "submit", "a message submission channel (RFC 6409)");
  t.flag("nosubmit", "submit", "not a submission channel (the default)");
  t.flag("chunkingclient", "chunkingclient", "use CHUNKING/BDAT when the server offers it");
  t.flag("nochunkingclient", "chunkingclient", "never use CHUNKING/BDAT as a client");
  t.flag("chunkingserver", "chunkingserver", "offer CHUNKING/BDAT to clients (the default)");
  t.flag("nochunkingserver", "chunkingserver", "do not offer CHUNKING/BDAT");
  t.flag("eightbit", "eightbit", "the channel carries 8-bit data");
  t.flag("eightnegotiate", "eightbit", "8-bit data only when the peer negotiates 8BITMIME");
  t.flag("eightstrict", "eightbit", "refuse 8-bit data unless negotiated");
  t.flag("sevenbit", "eightbit", "the channel carries 7-bit data only (encode 8-bit)");
  t.flag("loopcheck", "loopcheck", "put a loop-detection string into EHLO and check for it");
  t.flag("noloopcheck", "loopcheck", "no EHLO loop check (the default)");
  t.flag("inner", "inner", "rewrite addresses in embedded (inner) message headers");
  t.flag("noinner", "inner", "leave inner message headers alone (the default)");
  t.flag("defragment", "defragment", "reassemble message/partial fragments");
  t.flag("nodefragment", "defragment", "do not reassemble fragments (the default)");
  t.with(A::text, "charset7", "character set name for unlabelled 7-bit text");
  t.with(A::text, "charset8", "character set name for unlabelled 8-bit text");
  t.with(A::text, "charsetesc", "character set name for unlabelled text with escapes");
  t.with(A::text, "fileinto", "address template for Sieve fileinto (e.g. $U+$S@$D)");
  t.flag("master_debug", "master_debug", "write debug output from the channel's master program");
  t.flag("nomaster_debug", "master_debug", "no master debug output (the default)");
  t.flag("slave_debug", "slave_debug", "write debug output from the channel's slave program");
  t.flag("noslave_debug", "slave_debug", "no slave debug output (the default)");

  // Routing and addresses.
  t.flag("mx", "mx", "full MX lookup, equal preferences in order (same as nonrandommx)");
  t.flag("nonrandommx", "mx", "full MX lookup, equal preferences in order");
  t.flag("randommx", "mx", "full MX lookup, equal preferences shuffled");
  t.flag("defaultmx", "mx", "MX lookup where the network supports it (the default)");
  t.flag("nomx", "mx", "no MX lookup: address records of the host only");
  t.with(A::host, "daemon", "send all mail for the channel to this relay host");
  t.integer("port", 1, 65535, "TCP port to connect to (default 25)");
  t.with(A::host, "interfaceaddress", "local address to bind outgoing connections to");
  t.with(A::hosts_1_2, "defaulthost", "domain appended to bare user names from this channel",
         "defaulthost");
  t.flag("nodefaulthost", "defaulthost", "no default domain of its own (the default)");
  t.flag("remotehost", "remotehost", "complete bare addresses with the remote host's name");
  t.flag("noremotehost", "remotehost", "complete bare addresses with the local host (the default)");
  t.flag("bangoverpercent", "bangoverpercent", "in addresses without @, the host left of ! wins over the one right of %");
  t.flag("nobangoverpercent", "bangoverpercent", "the host right of % wins over the one left of ! (the default)");
  t.flag("rules", "rules", "enforce $M/$N source-channel rule controls (the default)");
  t.flag("norules", "rules", "ignore $M/$N controls when this channel rewrites");
  t.flag("routelocal", "routelocal", "rewriting treats this channel like the local channel");
  t.flag("exproute", "exproute", "add an explicit source route to addresses");
  t.flag("noexproute", "exproute", "no explicit source routes (the default)");
  t.flag("improute", "improute", "add implicit routing to addresses");
  t.flag("noimproute", "improute", "no implicit routing (the default)");

  // Queue, jobs and retry.
  t.integer("maxjobs", 1, kMaxInt, "most concurrent jobs for this channel (default 100)");
  t.with(A::text, "pool", "job controller pool to run the channel's jobs in");
  t.integer("threaddepth", 1, kMaxInt, "messages per delivery thread before another starts");
  t.integer("filesperjob", 1, kMaxInt, "most message files handed to one job");
  t.flag("single", "copies", "one message file per recipient");
  t.flag("single_sys", "copies", "one message file per destination host");
  t.flag("multiple", "copies", "as many recipients per file as possible (the default)");
  t.integer("addrsperfile", 1, kMaxInt, "most recipients in one message file");
  t.integer("subdirs", 1, 1000, "spread the channel's queue over this many subdirectories");
  t.flag("master", "direction", "the channel only delivers (dequeues)");
  t.flag("slave", "direction", "the channel only receives (enqueues)");
  t.flag("bidirectional", "direction", "the channel delivers and receives (the default)");
  t.flag("immediate", "immediate", "deliver as soon as a message is queued (the default)");
  t.flag("immnormal", "immediate", "immediate delivery for normal and urgent messages");
  t.flag("immurgent", "immediate", "immediate delivery for urgent messages only");
  t.flag("immnonurgent", "immediate", "immediate delivery for messages of every priority");
  t.flag("periodic", "immediate", "deliver only on periodic queue runs");
  t.integer("urgentblocklimit", 1, kMaxInt, "urgent messages larger than this many blocks are downgraded");
  t.integer("normalblocklimit", 1, kMaxInt, "normal messages larger than this many blocks are downgraded");
  t.integer("nonurgentblocklimit", 1, kMaxInt, "non-urgent messages larger than this many blocks wait for periodic runs");
  t.with(A::durations, "backoff", "retry intervals (ISO 8601 durations); the last repeats");
  t.with(A::durations, "urgentbackoff", "retry intervals for urgent messages");
  t.with(A::durations, "normalbackoff", "retry intervals for normal messages");
  t.with(A::durations, "nonurgentbackoff", "retry intervals for non-urgent messages");
  t.with(A::ascending, "notices", "ages (days) of delay warnings; the last one returns the message");
  t.with(A::ascending, "urgentnotices", "notices for urgent messages");
  t.with(A::ascending, "normalnotices", "notices for normal messages");
  t.with(A::ascending, "nonurgentnotices", "notices for non-urgent messages");
  t.flag("deferred", "deferred", "honour Deferred-delivery: headers");
  t.flag("nodeferred", "deferred", "ignore Deferred-delivery: headers (the default)");
  t.integer("holdlimit", 1, kMaxInt, "messages with more recipients than this are held");
  t.integer("expandlimit", 1, kMaxInt, "messages with more recipients are expanded offline");
  t.with(A::channel, "expandchannel", "channel that does offline expansion (default reprocess)");
  t.flag("holdexquota", "exquota", "hold messages for over-quota users and retry");
  t.flag("noexquota", "exquota", "return messages for over-quota users");
  t.flag("exquota", "exquota", "deliver to over-quota users anyway");

  // Security, identification and channel switching.
  t.flag("maytls", "tls", "offer and use STARTTLS");
  t.flag("musttls", "tls", "require STARTTLS in both directions");
  t.flag("notls", "tls", "no STARTTLS (the default)");
  t.flag("maytlsclient", "tlsclient", "use STARTTLS when the server offers it");
  t.flag("musttlsclient", "tlsclient", "refuse to send without STARTTLS");
  t.flag("notlsclient", "tlsclient", "never use STARTTLS as a client");
  t.flag("maytlsserver", "tlsserver", "offer STARTTLS to clients");
  t.flag("musttlsserver", "tlsserver", "require clients to use STARTTLS");
  t.flag("notlsserver", "tlsserver", "do not offer STARTTLS");
  t.flag("nosasl", "sasl", "no SMTP AUTH in either direction (the default)");
  t.flag("maysaslserver", "saslserver", "offer SMTP AUTH to clients");
  t.flag("mustsaslserver", "saslserver", "require clients to authenticate");
  t.flag("nosaslserver", "saslserver", "do not offer SMTP AUTH");
  t.flag("maysaslclient", "saslclient", "authenticate to servers when credentials are set");
  t.flag("nosaslclient", "saslclient", "never authenticate as a client");
  t.flag("switchchannel", "switchchannel", "switch an incoming session to the channel of the client's host");
  t.flag("allowswitchchannel", "switchchannel", "sessions may be switched to this channel (the default)");
  t.flag("noswitchchannel", "switchchannel", "sessions are never switched to or from this channel");
  t.with(A::channel, "saslswitchchannel", "after SMTP AUTH, the session counts as from this channel");
  t.with(A::channel, "tlsswitchchannel", "after STARTTLS, the session counts as from this channel");
  t.flag("userswitchchannel", "userswitchchannel", "switch local submissions by the submitting user");
  t.flag("nouserswitchchannel", "userswitchchannel", "no switch by submitting user (the default)");
  t.flag("identnone", "ident", "no ident query; log the DNS name and IP address");
  t.flag("identnonesymbolic", "ident", "no ident query; log the DNS name only");
  t.flag("identnonenumeric", "ident", "no ident query; log the IP address only");
  t.flag("identnonelimited", "ident", "no ident query; switch channels on the IP address");
  t.flag("identtcp", "ident", "RFC 1413 ident query; log name and IP address");
  t.flag("identtcpsymbolic", "ident", "RFC 1413 ident query; log the DNS name only");
  t.flag("identtcpnumeric", "ident", "RFC 1413 ident query; log the IP address only");
  t.flag("identtcplimited", "ident", "RFC 1413 ident query; switch channels on the IP address");
  t.flag("forwardchecknone", "forwardcheck", "no forward DNS check of the client's reverse name");
  t.flag("forwardchecktag", "forwardcheck", "tag a reverse name that does not resolve back");
  t.flag("forwardcheckdelete", "forwardcheck", "drop a reverse name that does not resolve back");
  t.flag("cacheeverything", "cache", "cache the results of outgoing connection attempts");
  t.flag("cachefailures", "cache", "cache failed connection attempts only");
  t.flag("cachesuccesses", "cache", "cache successful connection attempts only");
  t.flag("nocache", "cache", "no connection cache");
  t.integer("disconnectbadauthlimit", 1, kMaxInt, "drop a session after this many failed AUTH attempts");
  t.integer("disconnectbadcommandlimit", 1, kMaxInt, "drop a session after this many bad commands");
  t.integer("disconnectrecipientlimit", 1, kMaxInt, "drop a session after this many recipients");
  t.integer("disconnectrejectlimit", 1, kMaxInt, "drop a session after this many rejected recipients");
  t.integer("disconnecttransactionlimit", 1, kMaxInt, "drop a session after this many transactions");
  t.flag("mailfromdnsverify", "mailfromdnsverify", "refuse MAIL FROM domains that do not exist in DNS");
  t.flag("nomailfromdnsverify", "mailfromdnsverify", "no DNS check of MAIL FROM (the default)");
  for (std::string n : {"", "1", "2", "3", "4", "5", "6", "7", "8"}) {
    t.with(A::text, "sourcespamfilter" + n + "optin",
           "run spam filter " + (n.empty() ? std::string("1") : n) +
               " on mail from this channel, for this opt-in value");
    t.with(A::text, "destinationspamfilter" + n + "optin",
           "run spam filter " + (n.empty() ? std::string("1") : n) +
               " on mail to this channel, for this opt-in value");
  }

  // Size limits and notifications.
  t.integer("blocklimit", 1, kMaxInt, "largest message (in blocks) accepted for this channel");
  t.flag("noblocklimit", "blocklimit", "no size limit of the channel's own (the default)");
  t.integer("sourceblocklimit", 1, kMaxInt, "largest message (in blocks) accepted from this channel");
  t.integer("linelimit", 1, kMaxInt, "most lines in a message for this channel");
  t.flag("nolinelimit", "linelimit", "no line limit of the channel's own (the default)");
  t.flag("sendpost", "sendpost", "the postmaster gets a copy of every failure notice");
  t.flag("copysendpost", "sendpost", "a copy to the postmaster, or the notice when the sender is blank");
  t.flag("errsendpost", "sendpost", "the postmaster gets failure notices that cannot be returned");
  t.flag("nosendpost", "sendpost", "the postmaster gets no failure notices");
  t.flag("warnpost", "warnpost", "the postmaster gets a copy of every delay warning");
  t.flag("copywarnpost", "warnpost", "a copy to the postmaster, or the warning when the sender is blank");
  t.flag("errwarnpost", "warnpost", "the postmaster gets delay warnings that cannot be returned");
  t.flag("nowarnpost", "warnpost", "the postmaster gets no delay warnings");
  t.flag("postheadonly", "posthead", "postmaster copies carry the headers only");
  t.flag("postheadbody", "posthead", "postmaster copies carry headers and body");
  t.with(A::text, "returnaddress", "sender address of notification messages", "returnaddress");
  t.flag("noreturnaddress", "returnaddress", "notifications use RETURN_ADDRESS (the default)");
  t.with(A::text, "returnpersonal", "personal name of the notification sender", "returnpersonal");
  t.flag("noreturnpersonal", "returnpersonal", "notifications use RETURN_PERSONAL (the default)");
  t.flag("aliaspostmaster", "aliaspostmaster", "mail for postmaster at the channel's host names goes to the real postmaster");
  t.integer("returnenvelope", 0, kMaxInt, "bit mask for blank envelope senders and MAIL FROM checks");
  t.flag("includefinal", "final", "notifications name the final recipient address");
  t.flag("suppressfinal", "final", "notifications omit the final recipient address");
  t.flag("reportheader", "report", "convert receipt requests to header style");
  t.flag("reportnotary", "report", "convert receipt requests to NOTARY (DSN) style");
  t.flag("reportboth", "report", "keep both header and NOTARY receipt requests");
  t.flag("reportsuppress", "report", "drop receipt requests");

  // The keywords this version's running code acts on. The rewrite engine
  // reads these; everything else is validated and kept for later issues.
  t.implemented({"rules", "norules", "bangoverpercent", "nobangoverpercent", "routelocal",
                 "defaulthost", "nodefaulthost"});
  // The mail.log writer (which channels log), the queue store (subfolders)
  // and the retry schedule (every message is normal priority so far).
  t.implemented({"logging", "nologging", "subdirs", "backoff", "normalbackoff"});
  // What a channel is: SMTP (the SMTP client delivers it, sessions may be
  // switched to it), message submission (the server adds Date/Message-ID).
  t.implemented({"smtp", "nosmtp", "submit", "nosubmit"});
  // The SMTP server (channels/tcp): what it offers, switching, limits, and
  // how it splits the queue copies it writes.
  t.implemented({"chunkingserver", "nochunkingserver", "single", "single_sys", "multiple", "addrsperfile",
                 "maytls", "musttls", "notls", "maytlsserver", "musttlsserver", "notlsserver", "nosasl",
                 "maysaslserver", "mustsaslserver", "nosaslserver", "switchchannel", "allowswitchchannel",
                 "noswitchchannel", "saslswitchchannel", "tlsswitchchannel", "disconnectbadauthlimit",
                 "disconnectbadcommandlimit", "disconnectrecipientlimit", "disconnectrejectlimit",
                 "disconnecttransactionlimit", "sourceblocklimit"});
  // Failure notices (queue/notice.cpp): who gets the postmaster's copy and
  // how much of the message it returns.
  t.implemented({"sendpost", "copysendpost", "errsendpost", "nosendpost", "postheadonly", "postheadbody"});
  // The job controller (queue/job_controller.cpp): how many jobs, in which
  // pool, when (every message is normal priority so far, so immurgent means
  // periodic runs only and the other imm* forms mean immediate).
  t.implemented({"maxjobs", "pool", "threaddepth", "filesperjob", "immediate", "immnormal", "immurgent",
                 "immnonurgent", "periodic"});
  // The SMTP client (channels/tcp/smtp_client.cpp): where it connects, TLS
  // and AUTH as a client.
  t.implemented({"mx", "nonrandommx", "randommx", "defaultmx", "nomx", "daemon", "port", "interfaceaddress",
                 "maytlsclient", "musttlsclient", "notlsclient", "maysaslclient", "nosaslclient"});
  // The return job (queue/return_job.cpp): when messages are warned about
  // and returned (every message is normal priority so far), and who gets the
  // postmaster's copy of a delay warning.
  t.implemented({"notices", "normalnotices", "warnpost", "copywarnpost", "errwarnpost", "nowarnpost"});
  return t.take();
}

const std::unordered_map<std::string, std::size_t>& keyword_index() {
  static const auto index = [] {
    std::unordered_map<std::string, std::size_t> m;
    const auto& table = channel_keywords();
    for (std::size_t i = 0; i < table.size(); ++i) m.emplace(table[i].name, i);
    return m;
  }();
  return index;
}

// Optimal string alignment distance: a transposition counts as one edit, the
// commonest kind of typo in a keyword ("maxjbos").
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }

}  // namespace

const std::vector<KeywordSpec>& channel_keywords() {
  static const std::vector<KeywordSpec> table = build_table();
  return table;
}

const KeywordSpec* find_keyword(std::string_view name) {
  const auto& index = keyword_index();
  auto it = index.find(core::to_lower(name));
  return it == index.end() ? nullptr : &channel_keywords()[it->second];
}

std::string closest_keyword(std::string_view name) {
  auto lowered = core::to_lower(name);
  // Short words have few letters to spare: one edit for up to four letters,
  // two beyond that, so "mx" never suggests "nomx" but "maxjob" finds "maxjobs".
  std::size_t allowed = lowered.size() <= 4 ? 1 : 2;
  std::string best;
  std::size_t best_distance = allowed + 1;
  for (const auto& spec : channel_keywords()) {
    auto d = edit_distance(lowered, spec.name);
    if (d < best_distance) {
      best_distance = d;
      best = spec.name;
    }
  }
  return best;
}

std::string describe_args(const KeywordSpec& spec) {
  switch (spec.args) {
    case KeywordArgs::none: return "no argument";
    case KeywordArgs::integer:
      if (spec.max == kMaxInt) return "an integer of at least " + std::to_string(spec.min);
      return "an integer from " + std::to_string(spec.min) + " to " + std::to_string(spec.max);
    case KeywordArgs::text: return "one word (use quotes for spaces)";
    case KeywordArgs::host: return "a host name";
    case KeywordArgs::channel: return "a channel name";
    case KeywordArgs::hosts_1_2: return "one or two host names";
    case KeywordArgs::durations: return "one or more ISO 8601 durations such as \"pt10m\"";
    case KeywordArgs::ascending: return "one or more ascending positive integers";
  }
  return "";
}

std::string check_argument(const KeywordSpec& spec, std::string_view word) {
  switch (spec.args) {
    case KeywordArgs::none:
    case KeywordArgs::ascending:
      return "";
    case KeywordArgs::integer: {
      auto v = core::parse_integer(word);
      if (!v) return "\"" + std::string(word) + "\" is not an integer";
      if (*v < spec.min || *v > spec.max)
        return "\"" + std::string(word) + "\" is out of range (" + describe_args(spec) + ")";
      return "";
    }
    case KeywordArgs::text:
      return word.empty() ? "the argument is empty" : "";
    case KeywordArgs::host:
    case KeywordArgs::hosts_1_2:
      return valid_host_name(word) ? "" : "\"" + std::string(word) + "\" is not a valid host name";
    case KeywordArgs::channel:
      return valid_channel_name(word) ? ""
                                      : "\"" + std::string(word) + "\" is not a valid channel name";
    case KeywordArgs::durations:
      return parse_iso8601_duration(word)
                 ? ""
                 : "\"" + std::string(word) + "\" is not an ISO 8601 duration (e.g. \"pt10m\", \"p1d\")";
  }
  return "";
}

std::optional<std::int64_t> parse_iso8601_duration(std::string_view text) {
  auto s = core::to_lower(text);
  if (s.size() < 2 || s[0] != 'p') return std::nullopt;
  std::int64_t total = 0;
  bool in_time = false, any = false, time_any = false;
  // Designators must come in this order; `m` means months before `t`, minutes after.
  std::string_view date_order = "ymwd", time_order = "hms";
  std::size_t date_pos = 0, time_pos = 0;
  std::size_t i = 1;
  while (i < s.size()) {
    if (s[i] == 't') {
      if (in_time) return std::nullopt;
      in_time = true;
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == start || i >= s.size() || i - start > 9) return std::nullopt;
    std::int64_t n = std::stoll(s.substr(start, i - start));
    char unit = s[i++];
    std::string_view order = in_time ? time_order : date_order;
    std::size_t& pos = in_time ? time_pos : date_pos;
    auto at = order.find(unit, pos);
    if (at == std::string_view::npos) return std::nullopt;
    pos = at + 1;
    static const std::unordered_map<char, std::int64_t> date_units{
        {'y', 365 * 86400}, {'m', 30 * 86400}, {'w', 7 * 86400}, {'d', 86400}};
    static const std::unordered_map<char, std::int64_t> time_units{{'h', 3600}, {'m', 60}, {'s', 1}};
    total += n * (in_time ? time_units.at(unit) : date_units.at(unit));
    any = true;
    if (in_time) time_any = true;
  }
  if (!any || (in_time && !time_any)) return std::nullopt;
  return total;
}

bool valid_channel_name(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_lower_alnum(c) || c == '_' || c == '$' || c == '-'; });
}

bool valid_host_name(std::string_view host) {
  if (host.empty()) return false;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    return host.substr(1, host.size() - 2).find_first_of("[] \t") == std::string_view::npos;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
           c == '-' || c == '_' || c == '$';
  });
}

}  // namespace imta::config
