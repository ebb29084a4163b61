// sendmail -bs: an SMTP dialogue on standard input and output, spoken by the
// SMTP server's own session code (channels/tcp/smtp_session.hpp), so every
// command, reply, check and log record is the server's. The session is
// written over a TCP socket; it gets one end of an in-process loopback pair
// (127.0.0.1, a port the system picks, the listener closed at once) and two
// threads copy standard input to the other end and what comes back to
// standard output. The source channel is `l`; the client the session sees
// is 127.0.0.1.
#pragma once

#include <memory>

#include "config/snapshot.hpp"
#include "core/instance.hpp"

namespace imta::tools::sendmail {

/// Runs the dialogue until the session ends (QUIT, end of input, a
/// timeout); returns sendmail's exit code (0, or 71 when the loopback pair
/// cannot be made, 75 when the queue cannot be opened).
int run_smtp_on_stdio(const core::Instance& instance, std::shared_ptr<const config::Snapshot> snapshot);

}  // namespace imta::tools::sendmail
