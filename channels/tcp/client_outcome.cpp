// The SMTP client's per-recipient outcomes; see client_outcome.hpp.
#include "channels/tcp/client_outcome.hpp"

#include <cctype>

namespace imta::channels::tcp {

namespace {

using queue::RecipientOutcome;
using queue::RecipientStatus;

bool connection_field(const ClientSettings& s) {
  using namespace core::log;
  return (s.log_connection & kLogConnectionInfo) && (s.log_connection & kLogConnectionRecords);
}

/// Fills connection_info and the part of log_diagnostics before `tail`.
void describe_peer(RecipientOutcome& o, const PeerFacts& peer, const ClientSettings& s, const std::string& tail) {
  o.remote_mta = "dns; " + peer.host;
  std::string d;
  auto add = [&](const std::string& part) {
    if (part.empty()) return;
    if (!d.empty()) d += ' ';
    d += part;
  };
  const std::string transport = s.log_transport && !peer.transport.empty() ? "(" + peer.transport + ")" : "";
  const std::string banner = s.log_banner && !peer.banner.empty() ? "(" + peer.banner + ")" : "";
  if (connection_field(s)) {
    o.connection_info = peer.host + " dns;" + peer.host;
    if (!peer.transport.empty()) o.connection_info += " (" + peer.transport + ")";
    add(banner);
    add(transport);
  } else {
    add("dns;" + peer.host);
    add(transport);
    add(banner);
  }
  add(tail);
  o.log_diagnostics = std::move(d);
}

}  // namespace

std::string reply_text(const core::smtp::Reply& reply) {
  std::string t = std::to_string(reply.code);
  if (!reply.enhanced.empty()) t += " " + reply.enhanced;
  for (auto line : core::smtp::reply_lines(reply))
    if (!line.empty()) {
      t += ' ';
      t += line;
    }
  return t;
}

RecipientOutcome reply_outcome(const core::smtp::Reply& reply, const PeerFacts& peer, const ClientSettings& settings,
                               bool server_dsn) {
  RecipientOutcome o;
  if (reply.code >= 200 && reply.code < 300)
    o.status = server_dsn ? RecipientStatus::delivered : RecipientStatus::relayed;
  else if (reply.code >= 500 && reply.code < 600)
    o.status = RecipientStatus::bounced;
  else
    o.status = RecipientStatus::deferred;
  if (!reply.enhanced.empty() && reply.enhanced.front() == static_cast<char>('0' + reply.code / 100))
    o.dsn_status = reply.enhanced;
  auto text = reply_text(reply);
  o.diagnostic_code = "smtp; " + text;
  describe_peer(o, peer, settings, "smtp;" + text);
  return o;
}

RecipientOutcome failure_outcome(RecipientStatus status, std::string dsn_status, std::string text,
                                 const PeerFacts* peer, const ClientSettings& settings) {
  RecipientOutcome o;
  o.status = status;
  o.dsn_status = std::move(dsn_status);
  o.diagnostic_code = "X-imta; " + text;
  if (peer)
    describe_peer(o, *peer, settings, text);
  else
    o.log_diagnostics = std::move(text);
  return o;
}

std::string error_words(const std::error_code& error) {
  std::string m = error.message();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

std::string connect_error_text(const std::error_code& error) {
  return "TCP active open: Failed connect()    Error: " + error_words(error);
}

}  // namespace imta::channels::tcp
