// What the SMTP client reports per recipient (queue::RecipientOutcome): the
// status from the reply class, the DSN fields (Status, Diagnostic-Code,
// Remote-MTA) and the mail.log fields, in the shape of the seed's examples:
//
//   dns;thor.siroe.com (TCP|206.184.139.12|2788|192.160.253.66|25)
//       (THOR.SIROE.COM -- Server ESMTP [iMS V5.0 #8694]) smtp;250 2.1.5 OK   (21-1, 21-5)
//   TCP active open: Failed connect()    Error: connection refused           (21-7)
//
// The banner part follows LOG_BANNER, the transport part LOG_TRANSPORTINFO.
// With LOG_CONNECTION bits 1 and 2 both set (example 21-9) the connection
// field `host dns;host (TCP|...)` is filled and the diagnostics become
// `(banner) (TCP|...) smtp;250 ...`; otherwise the connection field stays
// empty and the diagnostics carry the host (so LOG_CONNECTION=1 alone, as in
// example 21-1, does not repeat it). Pure: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "channels/tcp/client_settings.hpp"
#include "core/smtp/reply.hpp"
#include "queue/master.hpp"

namespace imta::channels::tcp {

/// The server a reply came from.
struct PeerFacts {
  std::string host;       ///< the host connected to (MX name, smart host, or address literal)
  std::string transport;  ///< TCP|local-ip|local-port|remote-ip|remote-port
  std::string banner;     ///< the 220 greeting's text (first line, without the code)
};

/// `250 2.1.5 text` (lines of a multi-line reply joined by blanks).
std::string reply_text(const core::smtp::Reply& reply);

/// The outcome a reply gives: 2xx delivered (relayed when the server does not
/// do DSN), 4xx deferred, 5xx bounced; anything else deferred.
queue::RecipientOutcome reply_outcome(const core::smtp::Reply& reply, const PeerFacts& peer,
                                      const ClientSettings& settings, bool server_dsn);

/// An outcome without an SMTP reply (connection, DNS, TLS, timeout). `peer`
/// is null when no server was reached; `text` is the log's error text and,
/// prefixed with "X-imta; ", the DSN Diagnostic-Code.
queue::RecipientOutcome failure_outcome(queue::RecipientStatus status, std::string dsn_status, std::string text,
                                        const PeerFacts* peer, const ClientSettings& settings);

/// `TCP active open: Failed connect()    Error: connection refused`.
std::string connect_error_text(const std::error_code& error);
/// A system error as the log writes it: lower case ("connection reset by peer").
std::string error_words(const std::error_code& error);

}  // namespace imta::channels::tcp
