// Password hashes for SMTP AUTH: salted, deliberately slow, with the
// parameters stored in each hash so they can be raised later without
// invalidating the passwords already stored.
//
// Written form (PHC string format, standard base64 without padding):
//
//   $scrypt$ln=14,r=8,p=1$<16-byte salt>$<32-byte hash>
//
// scrypt (RFC 7914, OpenSSL's EVP_PBE_scrypt) costs memory as well as time,
// which makes guessing on GPUs expensive. Default N = 2^14, r = 8, p = 1: the
// scrypt paper's figure for interactive logins, 16 MiB and about 45 ms on one
// core of a machine like CI's. A submission server checks a password on every
// AUTH, from many clients at once, on a few cores: at 2^15 a two-core machine
// would manage about 20 logins per second and 32 MiB each; at 2^14 twice that,
// while one guess still costs an attacker 16 MiB and tens of milliseconds.
//
// Also verified, never written: PBKDF2-HMAC-SHA256 hashes, for importing
// accounts from other systems, in PHC form `$pbkdf2-sha256$i=N$salt$hash` and
// passlib's form `$pbkdf2-sha256$N$salt$hash` (whose base64 writes '.' for
// '+'). needs_rehash() is true for them, so they can be upgraded at the next
// successful login (UsersDb::verify does that on request).
//
// A stored hash is input too: a tampered or corrupt database must not make us
// allocate gigabytes or spin for minutes. Parsing refuses parameters beyond
// fixed bounds (see max_* below) and malformed fields, before any work.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace imta::core {

struct ScryptParameters {
  unsigned log2_n = 14;  ///< N = 2^log2_n, the CPU/memory cost
  unsigned r = 8;        ///< block size; memory = 128 * r * N bytes
  unsigned p = 1;        ///< parallelism; time grows with N * r * p
  bool operator==(const ScryptParameters&) const = default;
};

inline constexpr ScryptParameters default_scrypt_parameters{14, 8, 1};
inline constexpr std::size_t default_salt_bytes = 16;
inline constexpr std::size_t default_hash_bytes = 32;

// Bounds on what a stored hash may ask for. The defaults sit well inside
// them, leaving room to raise the defaults (2^17 with r = 8 is allowed).
inline constexpr std::uint64_t max_scrypt_memory = std::uint64_t{128} << 20;  ///< 128 * r * N bytes
inline constexpr std::uint64_t max_scrypt_work = std::uint64_t{1} << 21;      ///< N * r * p
inline constexpr std::uint32_t max_pbkdf2_iterations = 2'000'000;           ///< about 0.5 s
inline constexpr std::size_t min_salt_bytes = 8, max_salt_bytes = 64;
inline constexpr std::size_t min_hash_bytes = 16, max_hash_bytes = 64;
inline constexpr std::size_t max_stored_hash_length = 512;

/// Longest password accepted for storing. SASL carries longer ones; they can
/// simply never match.
inline constexpr std::size_t max_password_length = 1024;

/// The randomness source or the KDF failed: an environmental problem.
struct PasswordHashError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class HashScheme { scrypt, pbkdf2_sha256 };

/// A stored hash taken apart.
struct StoredHash {
  HashScheme scheme = HashScheme::scrypt;
  ScryptParameters scrypt;             ///< scheme == scrypt
  std::uint32_t pbkdf2_iterations = 0;  ///< scheme == pbkdf2_sha256
  std::vector<unsigned char> salt;
  std::vector<unsigned char> hash;
};

/// Parses and bounds-checks a stored hash. On failure returns nullopt and,
/// if `error` is given, says what is wrong ("scrypt memory 1 GiB exceeds the
/// limit of 128 MiB").
std::optional<StoredHash> parse_stored_hash(std::string_view text, std::string* error = nullptr);

/// The written form of `hash` (scrypt or PHC-form PBKDF2).
std::string format_stored_hash(const StoredHash& hash);

/// Empty when `password` can be stored; otherwise why not (empty, too long,
/// contains a NUL byte — which SASL PLAIN uses as its separator, so such a
/// password could never be typed in).
std::string password_problem(std::string_view password);

/// Hashes `password` with a fresh random salt and `parameters`. Throws
/// std::invalid_argument for parameters outside the bounds above and
/// PasswordHashError when OpenSSL fails.
std::string hash_password(std::string_view password,
                          const ScryptParameters& parameters = default_scrypt_parameters);

enum class PasswordCheck {
  match,
  mismatch,
  unusable,  ///< the stored hash is malformed or out of bounds (or the KDF failed)
};

/// Checks `password` against `stored`. The comparison takes the same time
/// wherever the bytes differ (CRYPTO_memcmp). Costs one KDF run.
PasswordCheck check_password(std::string_view password, std::string_view stored) noexcept;

/// True when `stored` should be replaced by a fresh hash: not scrypt, weaker
/// than the current defaults, a short salt or hash, or not parsable at all.
bool needs_rehash(std::string_view stored) noexcept;

/// Spends the time of one default check without checking anything, so that
/// "no such user" cannot be told from "wrong password" by the clock.
void spend_check_time(std::string_view password) noexcept;

/// Overwrites a secret in memory (not optimised away) and empties it.
void wipe(std::string& secret) noexcept;

}  // namespace imta::core
