#include "core/self_signed.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "core/atomic_file.hpp"

namespace imta::core {

namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Free(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Ext = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

std::string openssl_error(const std::string& what) {
  char buf[256] = "unknown error";
  if (auto e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
  return what + ": " + buf;
}

/// The PEM text written by `write` into a memory BIO.
template <typename F>
std::string to_pem(F write) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || !write(bio.get())) return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

bool add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

}  // namespace

std::string write_self_signed_certificate(const std::filesystem::path& cert_file,
                                          const std::filesystem::path& key_file,
                                          const std::string& host_name, int days) {
  PKey key(EVP_EC_gen("P-256"));
  if (!key) return openssl_error("cannot generate a key");

  Cert cert(X509_new());
  if (!cert) return openssl_error("cannot create a certificate");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * days);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(host_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (!add_extension(cert.get(), NID_subject_alt_name, "DNS:" + host_name) ||
      !add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_extension(cert.get(), NID_ext_key_usage, "serverAuth"))
    return openssl_error("cannot add certificate extensions");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return openssl_error("cannot sign the certificate");

  auto key_pem = to_pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
  auto cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()) == 1; });
  if (key_pem.empty() || cert_pem.empty()) return openssl_error("cannot encode the certificate");
  if (auto err = write_file_atomic(key_file, key_pem, 0600); !err.empty()) return err;
  return write_file_atomic(cert_file, cert_pem, 0644);
}

}  // namespace imta::core
