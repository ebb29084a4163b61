// SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms: the
// exchange of challenges and responses as a pure state machine. The session
// sends the replies it returns, feeds the client's response lines back, and
// when the machine says `verify` checks the name and password against the
// users database (off the event loop: the hash is deliberately slow).
//
// Refusals (what the client sees):
//   504 5.5.4  a mechanism other than PLAIN and LOGIN
//   501 5.0.0  the client cancelled with "*"
//   501 5.5.2  a response that is not base64, or a PLAIN message without
//              its two NUL separators
//   535 5.7.8  PLAIN asking to act as another user (authzid): not supported
// The password is wiped from memory when the exchange is destroyed or reset.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/smtp/reply.hpp"

namespace imta::channels::tcp {

/// Decodes standard base64 (RFC 4648 §4, padding required); nullopt when
/// `text` is not base64. The empty text decodes to the empty string.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

class SaslExchange {
 public:
  enum class Kind {
    challenge,  ///< send `reply` (334 ...), then feed the next line to respond()
    verify,     ///< user() and password() are ready to be checked
    failed,     ///< send `reply`; the exchange is over
  };
  struct Step {
    Kind kind;
    core::smtp::Reply reply;  ///< for challenge and failed
  };

  SaslExchange() = default;
  ~SaslExchange();
  SaslExchange(const SaslExchange&) = delete;
  SaslExchange& operator=(const SaslExchange&) = delete;

  /// AUTH's mechanism (upper case) and initial response (base64, "=" for
  /// empty), as the command parser gives them.
  Step start(std::string_view mechanism, const std::optional<std::string>& initial_response);
  /// The client's next line (base64, or "*" to cancel).
  Step respond(std::string_view line);

  const std::string& mechanism() const { return mechanism_; }
  const std::string& user() const { return user_; }
  const std::string& password() const { return password_; }
  /// Forgets everything, wiping the password.
  void reset();

 private:
  enum class Stage { idle, plain, login_user, login_password };
  Step plain(std::string_view decoded);

  Stage stage_ = Stage::idle;
  std::string mechanism_;
  std::string user_;
  std::string password_;
};

}  // namespace imta::channels::tcp
