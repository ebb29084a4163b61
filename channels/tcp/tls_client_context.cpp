// The SMTP client's TLS context; see tls_client_context.hpp.
#include "channels/tcp/tls_client_context.hpp"

#include <openssl/err.h>

namespace imta::channels::tcp {

SslCtxPtr make_client_tls_context(std::string& error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    char buf[256] = "unknown error";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    error = std::string("cannot create a TLS client context: ") + buf;
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  return ctx;
}

}  // namespace imta::channels::tcp
