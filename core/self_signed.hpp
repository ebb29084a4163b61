// A self-signed certificate for a new instance, so STARTTLS and implicit TLS
// work from the first start. Administrators replace it with a real one
// (config/tls/server.pem and server.key; see imta(8)).
#pragma once

#include <filesystem>
#include <string>

namespace imta::core {

/// Writes an EC P-256 key (mode 0600) and a self-signed certificate for
/// `host_name` (CN and subjectAltName), valid for `days`. Returns "" on
/// success, else the error text. Existing files are replaced atomically.
std::string write_self_signed_certificate(const std::filesystem::path& cert_file,
                                          const std::filesystem::path& key_file,
                                          const std::string& host_name, int days = 825);

}  // namespace imta::core
