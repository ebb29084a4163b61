// What the SMTP client of one tcp_* channel does, read once per job from the
// configuration: its channel keywords (daemon, port, mx/randommx/nomx,
// maytlsclient/musttlsclient/notlsclient and the two-way tls forms,
// maysaslclient/nosaslclient, interfaceaddress, logging) and its channel
// option file (AUTH_USERNAME/AUTH_PASSWORD, the CLIENT_TIMEOUT_* options,
// CLIENT_IDLE_TIMEOUT, LOG_BANNER, LOG_TRANSPORTINFO), plus option.dat's
// LOG_CONNECTION. (The resolver's settings: dns_options.hpp.) Pure: no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/snapshot.hpp"

namespace imta::channels::tcp {

enum class ClientTls : std::uint8_t { no, may, must };
enum class ClientMx : std::uint8_t { mx, randommx, nomx };

/// RFC 5321 §4.5.3.2 timeouts (defaults are the RFC's minimums).
struct ClientTimeouts {
  std::chrono::seconds connect{30};
  std::chrono::seconds greeting{300};   ///< initial 220 (also EHLO, STARTTLS, AUTH, RSET, QUIT replies)
  std::chrono::seconds mail{300};       ///< MAIL reply
  std::chrono::seconds rcpt{300};       ///< RCPT replies
  std::chrono::seconds data_init{120};  ///< the 354 reply to DATA
  std::chrono::seconds data_block{180}; ///< each write of message data
  std::chrono::seconds data_term{600};  ///< the reply to the final dot
};

struct ClientSettings {
  std::string channel;
  bool logging = false;  ///< the channel's `logging` keyword
  /// `daemon HOST`: every recipient goes to this host (no MX lookup). May be
  /// an IP literal, with or without brackets. Empty: per recipient domain.
  std::string daemon;
  std::uint16_t port = 25;
  ClientMx mx = ClientMx::mx;
  ClientTls tls = ClientTls::may;
  /// SMTP AUTH as a client: both set and not `nosaslclient`/`nosasl`.
  bool auth = false;
  std::string auth_username;
  std::string auth_password;
  /// `interfaceaddress IP`: the local address of outgoing connections.
  std::string interface_address;
  /// The name we give in EHLO/HELO: the `l` channel's official host name.
  std::string helo_name;
  ClientTimeouts timeouts;
  /// How long a connection stays open after a message for the next one.
  std::chrono::seconds idle_timeout{5};
  /// Most messages sent over one connection before it is closed.
  unsigned messages_per_connection = 100;
  // mail.log shape of D/Q/R diagnostics (see client_outcome.hpp).
  bool log_banner = true;
  bool log_transport = true;
  int log_connection = 0;  ///< option.dat LOG_CONNECTION
};

/// The settings of `channel` in `snapshot`. A channel the configuration does
/// not know gets the defaults (and no logging).
ClientSettings client_settings(const config::Snapshot& snapshot, std::string_view channel);

}  // namespace imta::channels::tcp
