// The server's TLS context; see tls_context.hpp.
#include "channels/tcp/tls_context.hpp"

#include <openssl/err.h>

namespace imta::channels::tcp {

namespace {

std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

SslCtxPtr make_server_tls_context(const std::filesystem::path& cert_chain, const std::filesystem::path& key,
                                  std::string& error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = "cannot create a TLS context: " + openssl_reason();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Sessions of many short SMTP connections resume cheaply.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  static const unsigned char id_context[] = "imta-smtp";
  SSL_CTX_set_session_id_context(ctx.get(), id_context, sizeof id_context - 1);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_chain.c_str()) != 1) {
    error = cert_chain.string() + ": " + openssl_reason();
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = key.string() + ": " + openssl_reason();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    error = key.string() + " does not match " + cert_chain.string();
    ERR_clear_error();
    return nullptr;
  }
  return ctx;
}

}  // namespace imta::channels::tcp
