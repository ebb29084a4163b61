#include "core/password_hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>

namespace imta::core {

namespace {

constexpr std::string_view base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 without padding, as the PHC string format writes it.
std::string base64_encode(const std::vector<unsigned char>& bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned char b : bytes) {
    bits = (bits << 8) | b;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out += base64_alphabet[(bits >> count) & 0x3f];
    }
  }
  if (count > 0) out += base64_alphabet[(bits << (6 - count)) & 0x3f];
  return out;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '.') return 62;  // '.' is passlib's "adapted base64" for '+'
  if (c == '/') return 63;
  return -1;
}

/// Decodes standard base64, padded or not. nullopt on any other character
/// or an impossible length.
std::optional<std::vector<unsigned char>> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::vector<unsigned char> out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    int v = base64_value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<unsigned char>((bits >> count) & 0xff));
    }
  }
  return out;
}

/// A decimal number of at most 10 digits, nothing else.
std::optional<std::uint64_t> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::string mebibytes(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

/// Empty when `p` is within the bounds, else why not.
std::string scrypt_bounds_problem(const ScryptParameters& p) {
  if (p.log2_n < 1 || p.log2_n > 20) return "scrypt ln=" + std::to_string(p.log2_n) + " is outside 1..20";
  if (p.r < 1 || p.r > 1024) return "scrypt r=" + std::to_string(p.r) + " is outside 1..1024";
  if (p.p < 1 || p.p > 1024) return "scrypt p=" + std::to_string(p.p) + " is outside 1..1024";
  std::uint64_t n = std::uint64_t{1} << p.log2_n;
  std::uint64_t memory = 128 * n * p.r;
  if (memory > max_scrypt_memory)
    return "scrypt parameters need " + mebibytes(memory) + " of memory; the limit is " +
           mebibytes(max_scrypt_memory);
  if (n * p.r * p.p > max_scrypt_work)
    return "scrypt work N*r*p = " + std::to_string(n * p.r * p.p) + " exceeds the limit of " +
           std::to_string(max_scrypt_work);
  return {};
}

/// "ln=14,r=8,p=1", in that order, each once.
std::optional<ScryptParameters> parse_scrypt_parameters(std::string_view text, std::string& error) {
  auto items = split(text, ',');
  constexpr std::array<std::string_view, 3> names = {"ln=", "r=", "p="};
  if (items.size() != names.size()) {
    error = "scrypt parameters must be ln=N,r=N,p=N";
    return std::nullopt;
  }
  std::array<std::uint64_t, 3> values{};
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto value = items[i].starts_with(names[i]) ? parse_number(items[i].substr(names[i].size())) : std::nullopt;
    if (!value || *value > 1'000'000) {
      error = "scrypt parameters must be ln=N,r=N,p=N";
      return std::nullopt;
    }
    values[i] = *value;
  }
  ScryptParameters p{static_cast<unsigned>(values[0]), static_cast<unsigned>(values[1]),
                     static_cast<unsigned>(values[2])};
  error = scrypt_bounds_problem(p);
  if (!error.empty()) return std::nullopt;
  return p;
}

/// PHC "i=N" or passlib's bare "N".
std::optional<std::uint32_t> parse_pbkdf2_iterations(std::string_view text, std::string& error) {
  if (text.starts_with("i=")) text.remove_prefix(2);
  auto value = parse_number(text);
  if (!value || *value < 1 || *value > max_pbkdf2_iterations) {
    error = "pbkdf2-sha256 iterations must be a number from 1 to " + std::to_string(max_pbkdf2_iterations);
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(*value);
}

/// Runs the KDF of `params` over `password`, filling `out` (its size is the
/// wanted length). False when OpenSSL fails.
bool derive(const StoredHash& params, std::string_view password, std::vector<unsigned char>& out) {
  if (params.scheme == HashScheme::pbkdf2_sha256) {
    return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), params.salt.data(),
                             static_cast<int>(params.salt.size()), static_cast<int>(params.pbkdf2_iterations),
                             EVP_sha256(), static_cast<int>(out.size()), out.data()) == 1;
  }
  const auto& p = params.scrypt;
  std::uint64_t n = std::uint64_t{1} << p.log2_n;
  // What OpenSSL allocates (128*r*(N+2) plus 128*r*p), with room to spare;
  // its own default ceiling (32 MiB) would refuse legitimate parameters.
  std::uint64_t max_memory = 128 * std::uint64_t{p.r} * (n + 2) + 128 * std::uint64_t{p.r} * p.p + (1 << 16);
  return EVP_PBE_scrypt(password.data(), password.size(), params.salt.data(), params.salt.size(), n, p.r, p.p,
                        max_memory, out.data(), out.size()) == 1;
}

}  // namespace

std::optional<StoredHash> parse_stored_hash(std::string_view text, std::string* error) {
  std::string why;
  auto refuse = [&](std::string message) -> std::optional<StoredHash> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  if (text.size() > max_stored_hash_length)
    return refuse("stored hash is longer than " + std::to_string(max_stored_hash_length) + " characters");
  auto fields = split(text, '$');
  if (fields.size() < 2 || !fields[0].empty())
    return refuse("stored hash is not of the form $scheme$parameters$salt$hash");
  if (fields[1] != "scrypt" && fields[1] != "pbkdf2-sha256")
    return refuse("unknown hash scheme \"" + std::string(fields[1].substr(0, 32)) +
                  "\" (known: scrypt, pbkdf2-sha256)");
  if (fields.size() != 5) return refuse("stored hash is not of the form $scheme$parameters$salt$hash");

  StoredHash hash;
  if (fields[1] == "scrypt") {
    auto p = parse_scrypt_parameters(fields[2], why);
    if (!p) return refuse(why);
    hash.scheme = HashScheme::scrypt;
    hash.scrypt = *p;
  } else {
    auto iterations = parse_pbkdf2_iterations(fields[2], why);
    if (!iterations) return refuse(why);
    hash.scheme = HashScheme::pbkdf2_sha256;
    hash.pbkdf2_iterations = *iterations;
  }

  auto salt = base64_decode(fields[3]);
  if (!salt) return refuse("the salt is not base64");
  if (salt->size() < min_salt_bytes || salt->size() > max_salt_bytes)
    return refuse("the salt has " + std::to_string(salt->size()) + " bytes; " + std::to_string(min_salt_bytes) +
                  " to " + std::to_string(max_salt_bytes) + " are accepted");
  auto digest = base64_decode(fields[4]);
  if (!digest) return refuse("the hash is not base64");
  if (digest->size() < min_hash_bytes || digest->size() > max_hash_bytes)
    return refuse("the hash has " + std::to_string(digest->size()) + " bytes; " + std::to_string(min_hash_bytes) +
                  " to " + std::to_string(max_hash_bytes) + " are accepted");
  hash.salt = std::move(*salt);
  hash.hash = std::move(*digest);
  return hash;
}

std::string format_stored_hash(const StoredHash& hash) {
  std::string parameters;
  if (hash.scheme == HashScheme::scrypt) {
    parameters = "$scrypt$ln=" + std::to_string(hash.scrypt.log2_n) + ",r=" + std::to_string(hash.scrypt.r) +
                 ",p=" + std::to_string(hash.scrypt.p);
  } else {
    parameters = "$pbkdf2-sha256$i=" + std::to_string(hash.pbkdf2_iterations);
  }
  return parameters + "$" + base64_encode(hash.salt) + "$" + base64_encode(hash.hash);
}

std::string password_problem(std::string_view password) {
  if (password.empty()) return "the password is empty";
  if (password.size() > max_password_length)
    return "the password is longer than " + std::to_string(max_password_length) + " bytes";
  if (password.find('\0') != std::string_view::npos) return "the password contains a NUL byte";
  return {};
}

std::string hash_password(std::string_view password, const ScryptParameters& parameters) {
  if (auto problem = scrypt_bounds_problem(parameters); !problem.empty()) throw std::invalid_argument(problem);
  StoredHash hash;
  hash.scheme = HashScheme::scrypt;
  hash.scrypt = parameters;
  hash.salt.resize(default_salt_bytes);
  hash.hash.resize(default_hash_bytes);
  if (RAND_bytes(hash.salt.data(), static_cast<int>(hash.salt.size())) != 1)
    throw PasswordHashError("cannot get random bytes for a salt (OpenSSL RAND_bytes failed)");
  if (!derive(hash, password, hash.hash)) throw PasswordHashError("scrypt failed (OpenSSL EVP_PBE_scrypt)");
  return format_stored_hash(hash);
}

PasswordCheck check_password(std::string_view password, std::string_view stored) noexcept {
  try {
    auto hash = parse_stored_hash(stored);
    if (!hash) return PasswordCheck::unusable;
    std::vector<unsigned char> derived(hash->hash.size());
    if (!derive(*hash, password, derived)) return PasswordCheck::unusable;
    bool same = CRYPTO_memcmp(derived.data(), hash->hash.data(), derived.size()) == 0;
    OPENSSL_cleanse(derived.data(), derived.size());
    return same ? PasswordCheck::match : PasswordCheck::mismatch;
  } catch (const std::bad_alloc&) {
    return PasswordCheck::unusable;
  }
}

bool needs_rehash(std::string_view stored) noexcept {
  try {
    auto hash = parse_stored_hash(stored);
    if (!hash || hash->scheme != HashScheme::scrypt) return true;
    const auto& have = hash->scrypt;
    const auto& want = default_scrypt_parameters;
    auto memory = [](const ScryptParameters& p) { return (std::uint64_t{1} << p.log2_n) * p.r; };
    return memory(have) < memory(want) || memory(have) * have.p < memory(want) * want.p ||
           hash->salt.size() < default_salt_bytes || hash->hash.size() < default_hash_bytes;
  } catch (const std::bad_alloc&) {
    return false;
  }
}

void spend_check_time(std::string_view password) noexcept {
  try {
    StoredHash dummy;
    dummy.scrypt = default_scrypt_parameters;
    dummy.salt.assign(default_salt_bytes, 0x5a);
    std::vector<unsigned char> out(default_hash_bytes);
    derive(dummy, password, out);
  } catch (const std::bad_alloc&) {
  }
}

void wipe(std::string& secret) noexcept {
  // Cover the whole buffer, not only the current length: an earlier, longer
  // value may still sit behind it.
  secret.resize(secret.capacity());
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace imta::core
