// One SMTP server session: the coroutine that speaks RFC 5321 with a client
// on the worker thread the dispatcher chose, from the greeting to the close.
// The decisions come from smtp_policy.hpp, the message handling from
// smtp_data.hpp; this part does the I/O, the state, pipelining, timeouts
// and TLS. See imtad(8) for what a client sees.
#pragma once

#include <memory>

#include "channels/tcp/server_resources.hpp"
#include "channels/tcp/tls_context.hpp"
#include "dispatcher/connection.hpp"

namespace imta::channels::tcp {

/// Wraps a loaded OpenSSL context for the sessions (takes ownership).
std::shared_ptr<TlsContext> make_tls_context(SslCtxPtr context);

/// Spawns the session's coroutine on the connection's executor; returns at once.
void start_session(dispatcher::Connection connection, std::shared_ptr<ServerResources> resources);

}  // namespace imta::channels::tcp
