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
    integer("LOG_MESSAGES_SYSLOG", 0, -1, 1, false,
            "0 mail.log only, 1 mail.log and syslog, -1 syslog only"),
    integer("LOG_FORMAT", 1, 1, 2, true,
            "1 standard record layout, 2 like 1 but empty addresses written as <>"),
    flag("LOG_DIAGNOSTICS", 1, true, "1 = log the diagnostics field (SMTP reply, reason)"),
    flag("LOG_REASON", 0, false, "1 = log the reason text in R and K (rejection) records"),
    flag("SEPARATE_CONNECTION_LOG", 0, true,
         "1 = connection records go to connection.log_current, not mail.log_current"),
    // ---- sizes, returns, notifications ----
    integer("BLOCK_SIZE", 1024, 1, 1048576, true,
            "bytes per block in log sizes and in every block limit"),
    integer("BLOCK_LIMIT", 0, 0, no_max, true,
            "largest message accepted, in blocks (0 = 50 MiB)"),
    integer("LINE_LIMIT", 0, 0, no_max, false,
            "most lines a message may have (0 = no limit)"),
    integer("CONTENT_RETURN_BLOCK_LIMIT", 0, 0, no_max, false,
            "bounces of bigger messages carry only the headers (0 = always the whole message)"),
    flag("RETURN_UNITS", 0, false, "0 = notices keyword values are days, 1 = hours"),
    OptionSpec{.name = "RETURN_ADDRESS", .type = OptionType::text, .implemented = false,
               .doc = "sender address of notices (bounces, warnings)",
               .check = check_mail_address,
               .default_note = "empty, meaning postmaster at the local domain"},
    text("RETURN_PERSONAL", "Internet Mail Delivery", nullptr, false,
         "display name on the From: line of notices"),
    integer("RETURN_ENVELOPE", 0, 0, 15, false,
            "default of the returnenvelope channel keyword (bitmask)"),
    // ---- access mappings ----
    flag("ACCESS_ERRORS", 0, false,
         "1 = an access mapping's rejection text reaches the client with more detail"),
    flag("ACCESS_ORCPT", 0, false, "1 = access mapping probes carry the ORCPT address"),
    // ---- our own ----
    OptionSpec{.name = "DNS_SERVERS", .type = OptionType::list, .min = 0, .max = 8,
               .implemented = false,
               .doc = "resolvers to ask, e.g. 127.0.0.1:5353 (empty = /etc/resolv.conf)",
               .check = check_dns_server},
    integer("MIN_CLEAN_MATCH_LENGTH", 8, 1, 1024, true,
            "shortest match string imta qm clean accepts"),
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
    flag("LOG_BANNER", 0, false, "1 = log the remote SMTP server's banner in D, R and Q records"),
    flag("LOG_TRANSPORTINFO", 0, false,
         "1 = log (TCP|local-ip|port|remote-ip|port) transport information"),
    integer("MAX_CLIENT_THREADS", 10, 1, 1000, false,
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
    text("AUTH_USERNAME", "", nullptr, false,
         "user name for SMTP AUTH to the daemon (smart host) of this channel"),
    OptionSpec{.name = "AUTH_PASSWORD", .type = OptionType::text, .implemented = false,
               .doc = "password for SMTP AUTH to the smart host (never listed)", .secret = true},
};

const OptionRegistry option_dat{RegistryKind::option_dat, "option", option_dat_specs};
const OptionRegistry channel_option{RegistryKind::channel_option, "channel option",
                                    channel_option_specs};

}  // namespace

const OptionRegistry& option_dat_registry() { return option_dat; }
const OptionRegistry& channel_option_registry() { return channel_option; }

}  // namespace imta::config
