// The option.dat and <channel>_option registries. Every option imta accepts in
// those files is one row here; man/option.dat.5 must document each row with the
// summary man_summary() prints (a test enforces it). `implemented` is true only
// where running code acts on the value: flip it in the change that wires it up.
#include <limits>

#include "config/options.hpp"

namespace imta::config {

namespace {

constexpr std::int64_t no_max = std::numeric_limits<std::int64_t>::max();

constexpr OptionSpec integer(std::string_view name, std::int64_t def, std::int64_t min,
                             std::int64_t max, bool implemented, std::string_view doc) {
  return OptionSpec{.name = name, .type = OptionType::integer, .default_integer = def,
                    .min = min, .max = max, .implemented = implemented, .doc = doc};
}

constexpr OptionSpec flag(std::string_view name, std::int64_t def, bool implemented,
                          std::string_view doc) {
  return integer(name, def, 0, 1, implemented, doc);
}

constexpr OptionSpec text(std::string_view name, std::string_view def, ValueCheck check,
                          bool implemented, std::string_view doc) {
  return OptionSpec{.name = name, .type = OptionType::text, .default_text = def,
                    .implemented = implemented, .doc = doc, .check = check};
}

// Options kept so that option files written for the Sun MTA still compile;
// their meaning is unconfirmed or has no counterpart here, so they never act.
constexpr OptionSpec compatibility(std::string_view name, std::string_view doc) {
  return integer(name, 0, std::numeric_limits<std::int64_t>::min(), no_max, false, doc);
}

// MAILDIR_TEMPLATE: the same rules as channels/local/mailbox_path.cpp, which
// checks again at delivery (config/ cannot depend on channels/).
std::string check_maildir_template(std::string_view value) {
  if (value.empty()) return "empty template";
  bool has_user = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '$') continue;
    if (i + 1 == value.size()) return "a $ at the end (write $$ for a dollar sign)";
    char c = value[++i];
    if (c == 'U') has_user = true;
    else if (c != 'D' && c != 'R' && c != '$')
      return std::string("unknown substitution $") + c + " (known: $U user, $D domain, $R root, $$ dollar)";
  }
  return has_user ? "" : "no $U: every user would share one mailbox";
}

std::string check_queue_sync(std::string_view value) {
  if (value == "syncfs" || value == "fdatasync" || value == "file") return "";
  return "expected syncfs, fdatasync or file";
}

const OptionSpec option_dat_specs[] = {
    // ---- logging (mail.log_current) ----
    integer("LOG_CONNECTION", 0, 0, 255, true,
            "bitmask: 1 connection details in records, 2 O/C/X/Y records, 128 U (AUTH) records"),
    flag("LOG_FILENAME", 0, true, "1 = log the queue file name of each message copy"),
    flag("LOG_MESSAGE_ID", 0, true, "1 = log the Message-ID header"),
    flag("LOG_PROCESS", 0, true, "1 = log process id (hex), thread and count"),
    flag("LOG_USERNAME", 0, true, "1 = log the submitting user (*user after SMTP AUTH)"),
    flag("LOG_NOTARY", 0, true, "1 = log each recipient's DSN (NOTARY) flags as an integer"),
    flag("LOG_NODE", 0, true, "1 = log this host's name after the time stamp"),
    integer("LOG_MESSAGES_SYSLOG", 0, -1, 1, true,
            "0 mail.log only, 1 mail.log and syslog, -1 syslog only"),
    integer("LOG_CONNECTIONS_SYSLOG", 0, -1, 1, true,
            "the same for connection records: 0 file only, 1 also syslog, -1 syslog only"),
    integer("LOG_FORMAT", 1, 1, 2, true,
            "1 standard record layout, 2 like 1 but empty addresses written as <>"),
    flag("LOG_DIAGNOSTICS", 1, true, "1 = log the diagnostics field (SMTP reply, reason)"),
    flag("LOG_REASON", 0, false, "1 = log the reason text in R and K (rejection) records"),
    flag("SEPARATE_CONNECTION_LOG", 0, true,
         "1 = connection records go to connection.log_current, not mail.log_current"),
    flag("LOG_JSON", 0, true, "1 = write log records as JSON Lines (one object per record)"),
    flag("LOG_TRACKING", 1, true,
         "1 = keep db/tracking.sqlite, one row per message and recipient (imta track)"),
    integer("LOG_TRACKING_DAYS", 30, 1, 3650, true,
            "days the return job keeps a tracking row after its last event"),
    flag("LOG_COUNTERS", 1, true, "1 = keep per-channel counters in db/counters.sqlite"),
    // ---- sizes, returns, notifications ----
    integer("BLOCK_SIZE", 1024, 1, 1048576, true,
            "bytes per block in log sizes and in every block limit"),
    integer("BLOCK_LIMIT", 0, 0, no_max, true,
            "largest message accepted, in blocks (0 = 50 MiB)"),
    integer("LINE_LIMIT", 0, 0, no_max, false,
            "most lines a message may have (0 = no limit)"),
    integer("CONTENT_RETURN_BLOCK_LIMIT", 0, 0, no_max, true,
            "bounces of bigger messages carry only the headers (0 = always the whole message)"),
    flag("RETURN_UNITS", 0, true, "0 = notices keyword values are days, 1 = hours"),
    OptionSpec{.name = "RETURN_ADDRESS", .type = OptionType::text, .implemented = true,
               .doc = "sender address of notices (bounces, warnings)",
               .check = check_mail_address,
               .default_note = "empty, meaning postmaster at the local domain"},
    text("RETURN_PERSONAL", "Internet Mail Delivery", nullptr, true,
         "display name on the From: line of notices"),
    integer("RETURN_ENVELOPE", 0, 0, 15, false,
            "default of the returnenvelope channel keyword (bitmask)"),
    // ---- access mappings ----
    flag("ACCESS_ERRORS", 0, false,
         "1 = an access mapping's rejection text reaches the client with more detail"),
    flag("ACCESS_ORCPT", 0, false, "1 = access mapping probes carry the ORCPT address"),
    // ---- our own ----
    integer("DNS_ATTEMPTS", 2, 1, 10, true,
            "rounds over the DNS servers before a lookup fails for now"),
    OptionSpec{.name = "DNS_SERVERS", .type = OptionType::list, .min = 0, .max = 8,
               .implemented = true,
               .doc = "resolvers to ask, e.g. 127.0.0.1:5353 (empty = /etc/resolv.conf)",
               .check = check_dns_server},
    integer("DNS_TIMEOUT", 2, 1, 60, true,
            "seconds to wait for each DNS server's answer, per try"),
    integer("MIN_CLEAN_MATCH_LENGTH", 8, 1, 1024, true,
            "shortest match string imta qm clean accepts"),
    integer("DAILY_CLEANUP_TIMEOUT", 3600, 1, 86400, true,
            "seconds bin/daily_cleanup may run before the return job kills it"),
    text("QUEUE_SYNC", "syncfs", check_queue_sync, true,
         "how imtad's SMTP server makes messages durable: syncfs, fdatasync or file"),
    flag("QUEUE_RECYCLE", 1, true,
         "1 = small delivered queue files are kept in queue/.recycle and reused for new messages"),
    OptionSpec{.name = "SENDMAIL_TRUSTED_USERS", .type = OptionType::list, .min = 0, .max = 100,
               .implemented = true,
               .doc = "users besides root whose sendmail -f sets the envelope sender"},
    // ---- accepted for compatibility, never acted on ----
    integer("USE_REVERSE_DATABASE", 5, 0, 31, false,
            "reverse database bitmask (no reverse database yet)"),
    compatibility("ALIAS_MAGIC", "order of alias sources (imta has only the aliases file)"),
    compatibility("ALIAS_HASH_SIZE", "size of the alias hash table (imta sizes it itself)"),
    compatibility("MAX_NOTIFYS", "meaning unconfirmed; accepted and ignored"),
    compatibility("USE_TEXT_DATABASES", "imta always compiles general.txt into the image"),
};

const OptionSpec channel_option_specs[] = {
    integer("MAX_B_ENTRIES", 10, 0, 10000, true,
            "most B (bad command) records logged per SMTP session"),
    flag("LOG_BANNER", 1, true, "1 = log the remote SMTP server's banner in D, R and Q records"),
    flag("LOG_TRANSPORTINFO", 1, true,
         "1 = log (TCP|local-ip|port|remote-ip|port) transport information"),
    integer("MAX_CLIENT_THREADS", 10, 1, 1000, true,
            "most concurrent deliveries (threads) of one SMTP client job"),
    OptionSpec{.name = "BANNER_HOST", .type = OptionType::text, .implemented = true,
               .doc = "host name in the 220 greeting",
               .default_note = "empty, meaning this host's name"},
    text("BANNER_BODY", "ESMTP imta", nullptr, true,
         "text after the host name in the 220 greeting"),
    integer("ALLOW_RECIPIENTS_PER_TRANSACTION", 1000, 1, 1000000, true,
            "most recipients accepted in one SMTP transaction; more get 452 4.5.3"),
    flag("ALLOW_AUTH_WITHOUT_TLS", 0, true, "1 = the SMTP server offers AUTH without TLS too"),
    flag("DISABLE_EXPAND", 1, true, "1 = EXPN is refused (502); 0 = EXPN shows alias expansions"),
    text("AUTH_USERNAME", "", nullptr, true,
         "user name for SMTP AUTH to the daemon (smart host) of this channel"),
    OptionSpec{.name = "AUTH_PASSWORD", .type = OptionType::text, .implemented = true,
               .doc = "password for SMTP AUTH to the smart host (never listed)", .secret = true},
    // ---- the SMTP client (RFC 5321 4.5.3.2 timeouts, in seconds) ----
    integer("CLIENT_TIMEOUT_CONNECT", 30, 1, 3600, true,
            "seconds to wait for a TCP connection to a server"),
    integer("CLIENT_TIMEOUT_GREETING", 300, 1, 3600, true,
            "seconds to wait for the 220 greeting and the EHLO, STARTTLS, AUTH, RSET replies"),
    integer("CLIENT_TIMEOUT_MAIL", 300, 1, 3600, true, "seconds to wait for the reply to MAIL"),
    integer("CLIENT_TIMEOUT_RCPT", 300, 1, 3600, true, "seconds to wait for the reply to RCPT"),
    integer("CLIENT_TIMEOUT_DATA_INIT", 120, 1, 3600, true,
            "seconds to wait for the 354 reply to DATA"),
    integer("CLIENT_TIMEOUT_DATA_BLOCK", 180, 1, 3600, true,
            "seconds one write of message data may take"),
    integer("CLIENT_TIMEOUT_DATA_TERM", 600, 1, 3600, true,
            "seconds to wait for the reply to the final dot"),
    integer("CLIENT_IDLE_TIMEOUT", 5, 0, 3600, true,
            "seconds a connection stays open after a message, for the next one to that host"),
    integer("CLIENT_MESSAGES_PER_CONNECTION", 100, 1, 100000, true,
            "most messages sent over one connection"),
    // ---- the local channel (l_option) ----
    text("MAILDIR_TEMPLATE", "$R/mailboxes/$D/$U/Maildir", check_maildir_template, true,
         "a local user's Maildir: $U user, $D domain, $R instance root, $$ a dollar sign"),
};

const OptionRegistry option_dat{RegistryKind::option_dat, "option", option_dat_specs};
const OptionRegistry channel_option{RegistryKind::channel_option, "channel option",
                                    channel_option_specs};

}  // namespace

const OptionRegistry& option_dat_registry() { return option_dat; }
const OptionRegistry& channel_option_registry() { return channel_option; }

}  // namespace imta::config
