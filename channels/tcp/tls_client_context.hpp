// The SMTP client's TLS settings as an OpenSSL SSL_CTX: TLS 1.2 and later,
// no compression, no renegotiation, and no certificate verification. STARTTLS
// between MTAs is opportunistic (RFC 7435): an MX host name cannot be
// authenticated without DANE or MTA-STS, and refusing a self-signed
// certificate would send the mail in clear text instead. `musttlsclient`
// therefore guarantees encryption, not the server's identity.
#pragma once

#include <string>

#include "channels/tcp/tls_context.hpp"

namespace imta::channels::tcp {

/// A client context; null with `error` set when OpenSSL cannot make one.
SslCtxPtr make_client_tls_context(std::string& error);

}  // namespace imta::channels::tcp
