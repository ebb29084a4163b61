// The server's TLS settings as an OpenSSL SSL_CTX: the instance's
// certificate chain and key (config/tls/server.pem, server.key, written by
// `imta init`), TLS 1.2 and later only, no compression, no renegotiation,
// the server's cipher order. Asio wraps the result (smtp_session.cpp).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <openssl/ssl.h>

namespace imta::channels::tcp {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

/// Loads the certificate chain (PEM) and private key. On failure returns
/// null and says why in `error` (file and OpenSSL's reason).
SslCtxPtr make_server_tls_context(const std::filesystem::path& cert_chain, const std::filesystem::path& key,
                                  std::string& error);

}  // namespace imta::channels::tcp
