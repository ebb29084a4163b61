// The SMTP server's decisions over the configuration; see smtp_policy.hpp.
#include "channels/tcp/smtp_policy.hpp"

#include <algorithm>
#include <cctype>

#include "config/access_probes.hpp"
#include "config/conversion_routing.hpp"
#include "config/log_options.hpp"
#include "config/rewrite.hpp"
#include "core/smtp/address.hpp"
#include "core/text.hpp"

namespace imta::channels::tcp {

namespace {

using core::smtp::Command;

constexpr std::string_view kIntranet = "tcp_intranet";
constexpr std::string_view kInternalIp = "INTERNAL_IP";

std::optional<std::int64_t> keyword_integer(const config::Channel& ch, std::string_view name) {
  const auto* k = ch.keyword(name);
  if (!k || k->args.empty()) return std::nullopt;
  return core::parse_integer(k->args.front());
}

std::string keyword_text(const config::Channel& ch, std::string_view name) {
  const auto* k = ch.keyword(name);
  return k && !k->args.empty() ? core::to_lower(k->args.front()) : std::string();
}

/// The server side of a tls/sasl keyword family: the *server form wins, the
/// two-way form (maytls, musttls, notls) applies otherwise.
Offer offer_of(const config::Channel& ch, std::string_view server_family, std::string_view both_family) {
  const auto* k = ch.family(server_family);
  if (!k && !both_family.empty()) k = ch.family(both_family);
  if (!k) return Offer::no;
  if (k->name.starts_with("may")) return Offer::may;
  if (k->name.starts_with("must")) return Offer::must;
  return Offer::no;
}

using queue::is_local_channel;

/// Channels a connection may be switched to: they speak SMTP and do not say
/// noswitchchannel.
bool can_switch_to(const config::Snapshot& s, std::string_view channel) {
  const auto* ch = s.imta_cnf.find_channel(channel);
  if (!ch) return false;
  const auto* smtp = ch->family("smtp");
  if (!smtp || smtp->name == "nosmtp") return false;
  const auto* sw = ch->family("switchchannel");
  return !sw || sw->name != "noswitchchannel";
}

/// A mapping's verdict, or nullopt when the table does not exist or no
/// entry decided.
std::optional<config::MappingResult> consult(const config::Snapshot& s, std::string_view table,
                                             std::string_view probe, const config::ProbeFlags& flags) {
  if (!s.mappings.find(table)) return std::nullopt;
  auto r = config::apply_mapping(s.mappings, table, probe, flags);
  if (!r.matched) return std::nullopt;
  return r;
}

config::ProbeFlags probe_flags(const SessionFacts& f, bool with_esmtp, unsigned notify = 0) {
  config::ProbeFlags p;
  p.auth = f.authenticated;
  p.tls = f.tls;
  p.esmtp = with_esmtp && f.esmtp;
  p.notify_success = (notify & core::notify_success) != 0;
  p.notify_failure = (notify & core::notify_failure) != 0;
  p.notify_delay = (notify & core::notify_delay) != 0;
  return p;
}

Diversion diversion_of(const config::MappingResult& r, bool discard_counts) {
  if (r.bitbucket || (discard_counts && r.discard)) return Diversion::bitbucket;
  if (r.hold) return Diversion::hold;
  return Diversion::none;
}

std::string literal_of(std::string_view ip) {
  if (ip.find(':') != std::string_view::npos) return "[IPv6:" + std::string(ip) + "]";
  return "[" + std::string(ip) + "]";
}

struct Rewritten {
  bool ok = false;
  Route route;
};

/// queue::rewrite_recipient in the shape the checks below use.
Rewritten rewrite(const config::Snapshot& s, std::string_view address, std::string_view source) {
  auto r = queue::rewrite_recipient(s, address, source);
  if (!r) return {};
  return {true, std::move(*r)};
}

std::vector<std::string> expand(const config::Snapshot& s, const std::string& active) {
  return queue::expand_local(s, active);
}

}  // namespace

// ---- settings ----------------------------------------------------------------

ChannelSettings channel_settings(const config::Snapshot& s, std::string_view channel) {
  ChannelSettings out;
  out.name = std::string(channel);
  out.banner_host = local_host_name(s);
  out.banner_body = "ESMTP imta";
  auto block_size = std::max<std::int64_t>(s.options.integer("BLOCK_SIZE"), 1);
  if (auto global = s.options.integer("BLOCK_LIMIT"); global > 0)
    out.max_message_size = static_cast<std::uint64_t>(global) * static_cast<std::uint64_t>(block_size);

  auto opts = s.channel_options.find(std::string(channel));
  const config::Options defaults(config::channel_option_registry());
  const config::Options& o = opts == s.channel_options.end() ? defaults : opts->second;
  out.max_b_entries = static_cast<int>(o.integer("MAX_B_ENTRIES"));
  out.max_recipients = static_cast<std::size_t>(o.integer("ALLOW_RECIPIENTS_PER_TRANSACTION"));
  out.auth_without_tls = o.integer("ALLOW_AUTH_WITHOUT_TLS") != 0;
  out.expn = o.integer("DISABLE_EXPAND") == 0;
  if (!o.text("BANNER_HOST").empty()) out.banner_host = o.text("BANNER_HOST");
  out.banner_body = o.text("BANNER_BODY");

  const auto* ch = s.imta_cnf.find_channel(channel);
  if (!ch) return out;
  out.tls = offer_of(*ch, "tlsserver", "tls");
  out.sasl = offer_of(*ch, "saslserver", "");
  // CHUNKING is offered unless the channel says nochunkingserver (the
  // original's default too).
  const auto* chunking = ch->family("chunkingserver");
  out.chunking = !chunking || chunking->name == "chunkingserver";
  out.submit = ch->has("submit");
  const auto* sw = ch->family("switchchannel");
  out.switch_channel = sw && sw->name == "switchchannel";
  out.allow_switch = !sw || sw->name != "noswitchchannel";
  out.logging = config::channel_logs(s.imta_cnf, channel);
  out.sasl_switch = keyword_text(*ch, "saslswitchchannel");
  out.tls_switch = keyword_text(*ch, "tlsswitchchannel");
  if (auto v = keyword_integer(*ch, "disconnectbadauthlimit")) out.bad_auth_limit = static_cast<int>(*v);
  if (auto v = keyword_integer(*ch, "disconnectbadcommandlimit")) out.bad_command_limit = static_cast<int>(*v);
  if (auto v = keyword_integer(*ch, "disconnectrecipientlimit")) out.recipient_limit = static_cast<int>(*v);
  if (auto v = keyword_integer(*ch, "disconnectrejectlimit")) out.reject_limit = static_cast<int>(*v);
  if (auto v = keyword_integer(*ch, "disconnecttransactionlimit")) out.transaction_limit = static_cast<int>(*v);
  if (auto v = keyword_integer(*ch, "sourceblocklimit"))
    out.max_message_size = static_cast<std::uint64_t>(*v) * static_cast<std::uint64_t>(block_size);
  return out;
}

std::string local_host_name(const config::Snapshot& s) { return queue::local_host_name(s); }

std::vector<std::string> local_domains(const config::Snapshot& s) { return queue::local_domains(s); }

std::string connection_channel(const config::Snapshot& s, std::string_view listening, std::string_view client_ip) {
  const auto* ch = s.imta_cnf.find_channel(listening);
  std::string stay = core::to_lower(listening);
  if (!ch || !ch->has("switchchannel")) return stay;
  auto by_rule = rewrite(s, "postmaster@" + literal_of(client_ip), listening);
  if (by_rule.ok && !core::iequals(by_rule.route.channel, listening) && can_switch_to(s, by_rule.route.channel))
    return core::to_lower(by_rule.route.channel);
  auto internal = consult(s, kInternalIp, client_ip, {});
  if (internal && internal->allow && !internal->reject && can_switch_to(s, kIntranet) &&
      !core::iequals(listening, kIntranet))
    return std::string(kIntranet);
  return stay;
}

// ---- capabilities and sequencing ---------------------------------------------------

bool auth_allowed(const ChannelSettings& settings, const SessionState& state) {
  return settings.sasl != Offer::no && (state.tls || settings.auth_without_tls);
}

Capabilities capabilities(const ChannelSettings& settings, const SessionState& state, bool tls_available) {
  Capabilities c;
  c.starttls = settings.tls != Offer::no && tls_available && !state.tls;
  c.auth = auth_allowed(settings, state) && !state.authenticated;
  c.chunking = settings.chunking;
  c.size = settings.max_message_size;
  return c;
}

Reply ehlo_reply(std::string_view host, std::string_view client_ip, const Capabilities& caps) {
  std::string text = std::string(host) + " Hello [" + std::string(client_ip) + "]";
  text += "\nPIPELINING";
  text += "\nSIZE " + std::to_string(caps.size);
  text += "\n8BITMIME";
  text += "\nENHANCEDSTATUSCODES";
  text += "\nETRN";
  text += "\nDSN";
  text += "\nSMTPUTF8";
  if (caps.chunking) text += "\nCHUNKING";
  if (caps.starttls) text += "\nSTARTTLS";
  if (caps.auth) text += "\nAUTH PLAIN LOGIN";
  return {250, "", std::move(text)};
}

Reply helo_reply(std::string_view host, std::string_view client_ip) {
  return {250, "", std::string(host) + " Hello [" + std::string(client_ip) + "]"};
}

std::optional<Reply> check_sequence(const ChannelSettings& settings, const SessionState& state,
                                    bool tls_available, const Command& command) {
  using namespace core::smtp;
  const bool need_tls = settings.tls == Offer::must && !state.tls;
  const bool need_auth = settings.sasl == Offer::must && !state.authenticated;
  // Made only when refused (every command passes here; a Reply's text is
  // an allocation).
  const auto tls_first = [] { return Reply{530, "5.7.0", "Must issue a STARTTLS command first"}; };
  const auto auth_first = [] { return Reply{530, "5.7.0", "Authentication required"}; };
  const auto greet_first = [] { return Reply{503, "5.5.1", "Send HELO or EHLO first"}; };
  return std::visit(
      [&](const auto& c) -> std::optional<Reply> {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, Helo> || std::is_same_v<T, Ehlo> || std::is_same_v<T, Rset> ||
                      std::is_same_v<T, Noop> || std::is_same_v<T, Quit> || std::is_same_v<T, Help>) {
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, Starttls>) {
          if (settings.tls == Offer::no || !tls_available) return Reply{502, "5.5.1", "STARTTLS not available"};
          if (state.tls) return Reply{503, "5.5.1", "TLS already active"};
          if (state.authenticated) return Reply{503, "5.5.1", "STARTTLS not permitted after AUTH"};
          if (state.in_transaction) return Reply{503, "5.5.1", "STARTTLS not permitted during a mail transaction"};
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, Auth>) {
          if (need_tls) return tls_first();
          if (settings.sasl == Offer::no) return Reply{503, "5.5.1", "AUTH not available"};
          if (!state.esmtp) return Reply{503, "5.5.1", "Send EHLO first"};
          if (state.authenticated) return Reply{503, "5.5.1", "Already authenticated"};
          if (state.in_transaction) return Reply{503, "5.5.1", "AUTH not permitted during a mail transaction"};
          if (!auth_allowed(settings, state))
            return Reply{538, "5.7.11", "Encryption required for requested authentication mechanism"};
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, Mail>) {
          if (need_tls) return tls_first();
          if (!state.greeted) return greet_first();
          if (need_auth) return auth_first();
          if (state.in_transaction) return Reply{503, "5.5.1", "Sender already specified"};
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, Rcpt>) {
          if (need_tls) return tls_first();
          if (!state.in_transaction) return Reply{503, "5.5.1", "Need MAIL command first"};
          if (state.chunking_started) return Reply{503, "5.5.1", "RCPT not permitted after BDAT"};
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, Data>) {
          if (need_tls) return tls_first();
          if (!state.in_transaction) return Reply{503, "5.5.1", "Need MAIL command first"};
          if (state.chunking_started) return Reply{503, "5.5.1", "DATA not permitted after BDAT"};
          if (state.recipients == 0) return Reply{554, "5.5.1", "No valid recipients"};
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, Bdat>) {
          if (!settings.chunking) return Reply{502, "5.5.1", "CHUNKING not available"};
          if (need_tls) return tls_first();
          if (!state.in_transaction) return Reply{503, "5.5.1", "Need MAIL command first"};
          if (state.recipients == 0) return Reply{554, "5.5.1", "No valid recipients"};
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, Vrfy> || std::is_same_v<T, Expn>) {
          if (need_tls) return tls_first();
          if (need_auth) return auth_first();
          if constexpr (std::is_same_v<T, Expn>) {
            if (!settings.expn) return Reply{502, "5.5.1", "EXPN not available"};
          }
          return std::nullopt;
        } else {  // ETRN (RFC 1985): a request outside any mail transaction
          if (need_tls) return tls_first();
          if (!state.greeted) return greet_first();
          if (need_auth) return auth_first();
          if (state.in_transaction) return Reply{503, "5.5.1", "ETRN not permitted during a mail transaction"};
          return std::nullopt;
        }
      },
      command);
}

std::optional<Reply> check_mail_parameters(const ChannelSettings& settings, const SessionState& state,
                                           const core::smtp::Mail& mail) {
  using core::smtp::Body;
  const auto& p = mail.params;
  bool esmtp_params = p.size || p.body != Body::unspecified || p.ret != core::Ret::unspecified || p.envid ||
                      p.smtputf8 || p.auth;
  if (esmtp_params && !state.esmtp) return Reply{555, "5.5.4", "MAIL parameters need EHLO"};
  if (p.body == Body::binary_mime) return Reply{555, "5.5.4", "BODY=BINARYMIME not supported"};
  if (p.size && *p.size > settings.max_message_size)
    return Reply{552, "5.3.4", "Message size exceeds fixed maximum message size"};
  return std::nullopt;
}

// ---- MAIL and RCPT -------------------------------------------------------------------

Reply access_refusal(const config::MappingResult& r, std::string_view address) {
  Reply reply{550, "5.7.1", r.reject_text.empty() ? std::string("Access denied") : r.reject_text};
  // "$N452 4.2.2 text" or "$N4.7.1 text": the mapping chose the code.
  std::string_view text = reply.text;
  if (text.size() > 4 && std::isdigit(static_cast<unsigned char>(text[0])) &&
      std::isdigit(static_cast<unsigned char>(text[1])) && std::isdigit(static_cast<unsigned char>(text[2])) &&
      text[3] == ' ' && (text[0] == '4' || text[0] == '5')) {
    reply.code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
    text.remove_prefix(4);
    reply.enhanced = reply.code >= 500 ? "5.7.1" : "4.7.1";
  }
  auto blank = text.find(' ');
  std::string_view first = text.substr(0, blank);
  if (core::smtp::is_enhanced_code(first) && first.front() == static_cast<char>('0' + reply.code / 100)) {
    reply.enhanced = std::string(first);
    text = blank == std::string_view::npos ? std::string_view() : text.substr(blank + 1);
  }
  std::string out(text.empty() ? std::string_view("Access denied") : text);
  if (!address.empty()) out += ": " + std::string(address);
  reply.text = std::move(out);
  return reply;
}

MailDecision check_mail(const config::Snapshot& s, const SessionFacts& f, const core::smtp::Mail& mail) {
  MailDecision d;
  d.from = mail.from.address();
  if (!s.mappings.find(config::kFromAccess)) return d;  // (no probe to build)
  auto probe = config::from_access_probe(f.port_probe, config::app_info("SMTP", f.helo), "MAIL", f.source_channel,
                                         d.from, f.auth_user);
  auto r = consult(s, config::kFromAccess, probe, probe_flags(f, false));
  if (!r) return d;
  if (r->delay) d.delay_cs = std::max(0, *r->delay);
  if (r->reject) {
    d.refusal = access_refusal(*r, d.from);
    return d;
  }
  if (r->new_from) d.from = *r->new_from;
  d.diversion = diversion_of(*r, true);
  return d;
}

RcptDecision route_recipient(const config::Snapshot& s, const SessionFacts& f, std::string_view from,
                             const core::smtp::Rcpt& rcpt, Diversion diversion, const UserLookup& users,
                             const RecipientRewriter& rewriter) {
  RcptDecision d;
  auto rewrite = [&](const config::Snapshot& snapshot, std::string_view address, std::string_view source) {
    if (!rewriter) return tcp::rewrite(snapshot, address, source);
    auto route = rewriter(address, source);
    return route ? Rewritten{true, std::move(*route)} : Rewritten{};
  };
  const std::string original = rcpt.to.address();
  const unsigned notify = rcpt.params.notify;
  auto refuse = [&](const config::MappingResult& r) {
    d.refusal = access_refusal(r, original);
    d.access_refusal = true;
    d.routes.clear();
    return d;
  };
  auto check_pair = [&](std::string_view send_table, std::string_view mail_table, const Route& route,
                        std::string_view to, Diversion& divert) -> std::optional<config::MappingResult> {
    auto flags = probe_flags(f, true, notify);
    for (std::string_view table : {send_table, mail_table}) {
      // Most configurations have one or two of the four tables: a probe is
      // built only for a table that exists.
      if (!s.mappings.find(table)) continue;
      const std::string probe =
          table == send_table
              ? config::send_access_probe(f.source_channel, from, route.channel, to)
              : config::mail_access_probe(f.port_probe, config::app_info("SMTP", f.helo), "MAIL", f.source_channel,
                                          from, route.channel, to);
      auto r = consult(s, table, probe, flags);
      if (!r) continue;
      if (r->delay) d.delay_cs = std::max(d.delay_cs, *r->delay);
      if (r->reject) return r;
      if (auto v = diversion_of(*r, true); v != Diversion::none) divert = v;
    }
    return std::nullopt;
  };

  auto first = rewrite(s, original, f.source_channel);
  if (!first.ok) {
    d.refusal = Reply{550, "5.1.2", "Illegal host/domain name found: " + original};
    return d;
  }
  Diversion divert = diversion;
  if (auto r = check_pair(config::kOrigSendAccess, config::kOrigMailAccess, first.route, original, divert))
    return refuse(*r);

  std::vector<Route> finals;
  if (is_local_channel(s, first.route.channel)) {
    auto members = expand(s, first.route.active);
    bool alias = !(members.size() == 1 && core::iequals(members.front(), first.route.active));
    if (!alias) {
      finals.push_back(first.route);
    } else {
      for (const auto& m : members) {
        auto again = rewrite(s, m, f.source_channel);
        if (!again.ok) {
          d.refusal = Reply{550, "5.1.2", "Illegal host/domain name found in the expansion of " + original};
          return d;
        }
        finals.push_back(std::move(again.route));
      }
    }
  } else {
    finals.push_back(first.route);
  }

  for (auto& route : finals) {
    if (auto r = check_pair(config::kSendAccess, config::kMailAccess, route, route.active, divert)) return refuse(*r);
    if (is_local_channel(s, route.channel)) {
      switch (users ? users(route.active) : UserStatus::unknown) {
        case UserStatus::found: break;
        case UserStatus::unknown:
          d.refusal = Reply{550, "5.1.1", original + ": no such user"};
          return d;
        case UserStatus::unavailable:
          d.refusal = Reply{451, "4.3.0", original + ": user database unavailable, try again later"};
          return d;
      }
    }
  }
  if (divert != Diversion::none) {
    std::string target = divert == Diversion::bitbucket ? "bitbucket" : "hold";
    if (s.imta_cnf.find_channel(target))
      for (auto& route : finals) route.channel = target;
  }
  // CONVERSIONS: copies that pass through the conversion channel first
  // (never those just sent to bitbucket or hold).
  for (auto& route : finals) route.channel = config::conversion_diversion(s, f.source_channel, route.channel);
  // One file entry per address and channel, whatever the aliases repeated.
  for (auto& route : finals) {
    bool seen = std::any_of(d.routes.begin(), d.routes.end(), [&](const Route& r) {
      return r.channel == route.channel && core::iequals(r.active, route.active);
    });
    if (!seen) d.routes.push_back(std::move(route));
  }
  return d;
}

// ---- ETRN --------------------------------------------------------------------------

EtrnDecision decide_etrn(const config::Snapshot& s, std::string_view source, std::string_view node) {
  EtrnDecision d;
  const std::string shown(node);
  if (node.starts_with('#')) {  // a queue: the channel of that name
    std::string channel = core::to_lower(node.substr(1));
    if (channel.empty() || !s.imta_cnf.find_channel(channel)) {
      d.refusal = Reply{459, "4.7.0", "Node " + shown + " not allowed: no such queue"};
      return d;
    }
    d.channels.push_back(std::move(channel));
    return d;
  }
  std::string_view domain = node.starts_with('@') ? node.substr(1) : node;
  if (domain.empty() || !(core::smtp::is_domain(domain, false) || core::smtp::is_address_literal(domain))) {
    d.refusal = Reply{501, "5.5.4", "Syntax: ETRN domain, ETRN @domain or ETRN #queue"};
    return d;
  }
  auto route = rewrite(s, "postmaster@" + std::string(domain), source);
  if (!route.ok) {
    d.refusal = Reply{459, "4.7.0", "Node " + shown + " not allowed: no route to it"};
    return d;
  }
  if (is_local_channel(s, route.route.channel)) {
    d.refusal = Reply{459, "4.7.0", "Node " + shown + " not allowed: its mail is delivered here"};
    return d;
  }
  d.channels.push_back(core::to_lower(route.route.channel));
  return d;
}

// ---- queue copies ------------------------------------------------------------------

std::vector<PlannedCopy> plan_copies(const config::Snapshot& s, const std::vector<AcceptedRecipient>& recipients) {
  std::vector<Route> routes;
  routes.reserve(recipients.size());
  for (const auto& r : recipients) routes.push_back(r.route);
  return queue::plan_copies(s, routes);
}

// ---- replies -------------------------------------------------------------------------

namespace replies {
Reply timeout(std::string_view host) {
  return {421, "4.4.2", std::string(host) + " Error: timeout exceeded, closing connection"};
}
Reply shutting_down(std::string_view host) {
  return {421, "4.3.2", std::string(host) + " Service shutting down, closing connection"};
}
Reply storage_failure() { return {452, "4.3.1", "Insufficient system storage"}; }
Reply too_many_bad_commands() { return {421, "4.7.0", "Too many bad commands, closing connection"}; }
Reply too_many_auth_failures() {
  return {421, "4.7.0", "Too many failed authentication attempts, closing connection"};
}
Reply line_too_long() { return {500, "5.5.2", "Line too long"}; }
Reply too_many_transactions() { return {421, "4.7.0", "Too many transactions in this session, closing connection"}; }
Reply too_many_session_recipients() {
  return {421, "4.7.0", "Too many recipients in this session, closing connection"};
}
Reply too_many_rejections() { return {421, "4.7.0", "Too many rejected recipients, closing connection"}; }
}  // namespace replies

}  // namespace imta::channels::tcp
