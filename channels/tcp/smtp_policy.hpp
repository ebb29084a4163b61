// The SMTP server's decisions, as pure functions over the compiled
// configuration: what a tcp_* channel offers and allows, which channel a
// connection counts as coming from, whether a command may run now, and per
// MAIL and RCPT which channels the message goes to and whether the access
// mappings allow it. No sockets, no clock, no files: the session
// (smtp_session.cpp) asks, this answers, and tests call it directly.
//
// The order of the checks, as imtad(8) documents it:
//   connect  PORT_ACCESS (dispatcher), then the source channel: the
//            listening channel, switched when it has `switchchannel`
//            (see connection_channel());
//   MAIL     sequence, must-TLS / must-AUTH, parameters (SIZE, BODY,
//            SMTPUTF8, DSN), then FROM_ACCESS;
//   RCPT     sequence, recipient limit, rewrite rules (destination channel),
//            ORIG_SEND_ACCESS and ORIG_MAIL_ACCESS on the address as given,
//            aliases (for the local channel), each member rewritten again,
//            SEND_ACCESS and MAIL_ACCESS on every final address, then the
//            users database for addresses of the local channel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/mapping_engine.hpp"
#include "config/snapshot.hpp"
#include "core/envelope.hpp"
#include "core/smtp/command.hpp"
#include "core/smtp/reply.hpp"
#include "queue/submit.hpp"

namespace imta::channels::tcp {

using core::smtp::Reply;

/// How a server-side extension is offered: not at all, offered, required.
enum class Offer : std::uint8_t { no, may, must };

/// Message size limit when neither `sourceblocklimit` nor BLOCK_LIMIT sets
/// one: 50 MiB, a common provider limit.
inline constexpr std::uint64_t kDefaultMaxMessageSize = 50ull * 1024 * 1024;
/// Bad commands tolerated per session when the channel has no
/// `disconnectbadcommandlimit` (Postfix's smtpd_hard_error_limit is 20 too).
inline constexpr int kDefaultBadCommandLimit = 20;
/// Failed AUTH attempts per session without `disconnectbadauthlimit`.
inline constexpr int kDefaultBadAuthLimit = 3;
/// Received: headers a message may carry before we call it a loop.
inline constexpr int kMaxHops = 100;

/// The server-side settings of one channel: its keywords and its
/// <channel>_option file, resolved.
struct ChannelSettings {
  std::string name;
  Offer tls = Offer::no;   ///< maytlsserver / musttlsserver (else maytls / musttls)
  Offer sasl = Offer::no;  ///< maysaslserver / mustsaslserver
  bool chunking = false;   ///< chunkingserver
  /// submit: a message submission channel (RFC 6409 section 8): a message
  /// without Date: or Message-ID: gets them here.
  bool submit = false;
  bool switch_channel = false;  ///< switchchannel: connections may move to another channel
  bool allow_switch = true;     ///< not noswitchchannel: connections may move here
  bool logging = false;         ///< the `logging` keyword
  std::string sasl_switch;      ///< saslswitchchannel
  std::string tls_switch;       ///< tlsswitchchannel
  int bad_auth_limit = kDefaultBadAuthLimit;
  int bad_command_limit = kDefaultBadCommandLimit;
  /// Per-session limits after which the session ends with 421 4.7.0 (0 = none):
  int recipient_limit = 0;    ///< disconnectrecipientlimit: at the RCPT after this many accepted
  int reject_limit = 0;       ///< disconnectrejectlimit: after this many refused RCPTs
  int transaction_limit = 0;  ///< disconnecttransactionlimit: at the MAIL after this many
  std::uint64_t max_message_size = kDefaultMaxMessageSize;  ///< bytes
  std::size_t max_recipients = 1000;  ///< ALLOW_RECIPIENTS_PER_TRANSACTION
  int max_b_entries = 10;             ///< MAX_B_ENTRIES
  bool auth_without_tls = false;      ///< ALLOW_AUTH_WITHOUT_TLS
  bool expn = false;                  ///< DISABLE_EXPAND=0
  std::string banner_host;            ///< BANNER_HOST, or this host's name
  std::string banner_body;            ///< BANNER_BODY
};

/// The settings of `channel`; a channel imta.cnf does not know gets the
/// defaults (nothing offered).
ChannelSettings channel_settings(const config::Snapshot& snapshot, std::string_view channel);

/// This host's name: the official host name of the local channel `l`.
std::string local_host_name(const config::Snapshot& snapshot);

/// The names mail for the local channel may carry after the `@`: the local
/// channel's host names and the instance's local domain.
std::vector<std::string> local_domains(const config::Snapshot& snapshot);

/// The source channel of a new connection on a service whose channel is
/// `listening`. Without `switchchannel` on it, the listening channel.
/// With it, the first of these that names another channel which allows
/// switching (not `noswitchchannel`) and speaks SMTP:
///   1. the channel the rewrite rules pick for the client's address literal
///      (`postmaster@[192.0.2.1]`), as in Sun's configurations, where a rule
///      for `[]` routes internal addresses to tcp_intranet;
///   2. `tcp_intranet`, when the INTERNAL_IP mapping answers $Y for the
///      client's IP address (the table the default PORT_ACCESS uses).
std::string connection_channel(const config::Snapshot& snapshot, std::string_view listening,
                               std::string_view client_ip);

/// Where the session stands, as far as command sequencing cares.
struct SessionState {
  bool greeted = false;        ///< HELO or EHLO accepted
  bool esmtp = false;          ///< it was EHLO
  bool tls = false;            ///< TLS is active
  bool authenticated = false;
  bool in_transaction = false;  ///< MAIL accepted
  std::size_t recipients = 0;   ///< RCPTs accepted in this transaction
  bool chunking_started = false;  ///< a BDAT of this transaction was accepted
};

/// What EHLO announces, given the channel, the session and whether a TLS
/// certificate is loaded.
struct Capabilities {
  bool starttls = false;
  bool auth = false;
  bool chunking = false;
  std::uint64_t size = 0;
};
Capabilities capabilities(const ChannelSettings& settings, const SessionState& state, bool tls_available);

/// True when AUTH may run now (offered, and under TLS unless the channel's
/// ALLOW_AUTH_WITHOUT_TLS=1).
bool auth_allowed(const ChannelSettings& settings, const SessionState& state);

/// The 250 reply to EHLO (multi-line) or HELO.
Reply ehlo_reply(std::string_view host, std::string_view client_ip, const Capabilities& caps);
Reply helo_reply(std::string_view host, std::string_view client_ip);

/// The sequence check every command passes first: nullopt when `command`
/// may run now, otherwise the refusal (503 out of sequence, 530 TLS or AUTH
/// required, 502 not offered). Checks that need the command's arguments
/// against the configuration come after (check_mail_parameters, ...).
std::optional<Reply> check_sequence(const ChannelSettings& settings, const SessionState& state,
                                    bool tls_available, const core::smtp::Command& command);

/// MAIL's parameters against what was announced: SIZE over the limit (552),
/// BODY=BINARYMIME (555), ESMTP parameters after HELO (555).
std::optional<Reply> check_mail_parameters(const ChannelSettings& settings, const SessionState& state,
                                           const core::smtp::Mail& mail);

/// What the session knows about itself that the access mappings see: views
/// of the session's own state (made per MAIL and RCPT, so not copied), valid
/// for the call they are given to.
struct SessionFacts {
  std::string_view source_channel;
  std::string_view port_probe;  ///< TCP|server-ip|server-port|client-ip|client-port
  std::string_view helo;
  bool esmtp = false;
  bool tls = false;
  bool authenticated = false;
  std::string_view auth_user;
};

/// Where a mapping sends a message or a recipient instead of refusing it.
enum class Diversion : std::uint8_t { none, bitbucket, hold };

/// The outcome of MAIL's access check.
struct MailDecision {
  std::optional<Reply> refusal;  ///< FROM_ACCESS refused (a J record is due)
  std::string from;              ///< the envelope From, after $J
  Diversion diversion = Diversion::none;  ///< $B / $V / $Z / $H for every recipient
  int delay_cs = 0;              ///< $D: wait this long before answering
};
MailDecision check_mail(const config::Snapshot& snapshot, const SessionFacts& facts,
                        const core::smtp::Mail& mail);

/// One final address of a recipient and the channel it is enqueued to.
using Route = queue::Route;

/// Looks an address of the local channel up in the users database.
enum class UserStatus : std::uint8_t { found, unknown, unavailable };
using UserLookup = std::function<UserStatus(std::string_view address)>;

/// queue::rewrite_recipient(snapshot, address, source): the route the
/// rewrite rules give a recipient address, nullopt when they refuse it.
/// route_recipient uses it when given (sessions pass a cached one, see
/// session_config_cache.hpp), the rules directly otherwise.
using RecipientRewriter = std::function<std::optional<Route>(std::string_view address, std::string_view source)>;

struct RcptDecision {
  std::optional<Reply> refusal;  ///< refused; `logged` says whether as a J record
  bool access_refusal = false;   ///< refused by an access mapping (J record)
  std::vector<Route> routes;     ///< accepted: one or more (aliases)
  int delay_cs = 0;
};
/// Routes one RCPT (see the file comment for the order). `from` is the
/// envelope From of the transaction ("" for <>); `diversion` the one MAIL's
/// FROM_ACCESS chose.
RcptDecision route_recipient(const config::Snapshot& snapshot, const SessionFacts& facts,
                             std::string_view from, const core::smtp::Rcpt& rcpt,
                             Diversion diversion, const UserLookup& users,
                             const RecipientRewriter& rewriter = {});

/// ETRN (RFC 1985): which channels to run for a node the client names.
///   "domain" or "@domain"  the channel the rewrite rules choose for the
///                          domain (mail for its subdomains goes the same way)
///   "#queue"               the channel of that name
struct EtrnDecision {
  std::optional<Reply> refusal;  ///< 501 bad argument, 459 not allowed
  std::vector<std::string> channels;  ///< the queues to run (accepted)
};
EtrnDecision decide_etrn(const config::Snapshot& snapshot, std::string_view source_channel, std::string_view node);

/// The refusal reply for a mapping that rejected: its text (with "$N4.7.1|"
/// style codes honoured: a text that starts with a reply code and an
/// enhanced code uses them), ": address" appended when `address` is given.
Reply access_refusal(const config::MappingResult& result, std::string_view address);

/// A recipient accepted into the transaction (one per route).
struct AcceptedRecipient {
  Route route;
  std::string original;  ///< as given in RCPT TO
  unsigned notify = 0;
  std::string orcpt;     ///< "type;address", or empty
};

/// The queue files one message becomes (queue::plan_copies over the
/// recipients' routes): per destination channel one file, or more when the
/// channel says `single`, `single_sys` or `addrsperfile N`. Indexes are into
/// the accepted recipients.
using PlannedCopy = queue::PlannedCopy;
std::vector<PlannedCopy> plan_copies(const config::Snapshot& snapshot,
                                     const std::vector<AcceptedRecipient>& recipients);

/// Replies the session sends in more than one place.
namespace replies {
Reply timeout(std::string_view host);        ///< 421 4.4.2
Reply shutting_down(std::string_view host);  ///< 421 4.3.2
Reply storage_failure();                     ///< 452 4.3.1
Reply too_many_bad_commands();               ///< 421 4.7.0
Reply too_many_auth_failures();              ///< 421 4.7.0
Reply line_too_long();                       ///< 500 5.5.2
Reply too_many_transactions();               ///< 421 4.7.0
Reply too_many_session_recipients();         ///< 421 4.7.0
Reply too_many_rejections();                 ///< 421 4.7.0
}  // namespace replies

}  // namespace imta::channels::tcp
