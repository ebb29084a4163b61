// SMTP AUTH PLAIN and LOGIN; see smtp_auth.hpp.
#include "channels/tcp/smtp_auth.hpp"

#include <array>

#include "core/password_hash.hpp"

namespace imta::channels::tcp {

namespace {

using core::smtp::Reply;

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

SaslExchange::Step fail(int code, const char* status, const char* text) {
  return {SaslExchange::Kind::failed, Reply{code, status, text}};
}

SaslExchange::Step challenge(std::string_view text) {
  return {SaslExchange::Kind::challenge, Reply{334, "", base64_encode(text)}};
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::array<int, 4> v{};
    int pad = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        ++pad;
        v[j] = 0;
        continue;
      }
      if (pad) return std::nullopt;  // data after padding
      v[j] = sextet(c);
      if (v[j] < 0) return std::nullopt;
    }
    unsigned n = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                 (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

SaslExchange::~SaslExchange() { reset(); }

void SaslExchange::reset() {
  stage_ = Stage::idle;
  mechanism_.clear();
  core::wipe(user_);
  core::wipe(password_);
}

SaslExchange::Step SaslExchange::start(std::string_view mechanism, const std::optional<std::string>& initial) {
  reset();
  mechanism_ = std::string(mechanism);
  if (mechanism == "PLAIN") {
    stage_ = Stage::plain;
    if (!initial) return {Kind::challenge, Reply{334, "", ""}};
    return respond(*initial == "=" ? std::string_view() : std::string_view(*initial));
  }
  if (mechanism == "LOGIN") {
    stage_ = Stage::login_user;
    if (!initial) return challenge("Username:");
    return respond(*initial == "=" ? std::string_view() : std::string_view(*initial));
  }
  return fail(504, "5.5.4", "Unrecognized authentication type");
}

SaslExchange::Step SaslExchange::respond(std::string_view line) {
  if (line == "*") {
    stage_ = Stage::idle;
    return fail(501, "5.0.0", "Authentication cancelled");
  }
  auto decoded = base64_decode(line);
  if (!decoded) {
    stage_ = Stage::idle;
    return fail(501, "5.5.2", "Cannot decode response (base64)");
  }
  switch (stage_) {
    case Stage::plain: {
      auto step = plain(*decoded);
      core::wipe(*decoded);
      return step;
    }
    case Stage::login_user:
      user_ = std::move(*decoded);
      stage_ = Stage::login_password;
      return challenge("Password:");
    case Stage::login_password:
      password_ = std::move(*decoded);
      stage_ = Stage::idle;
      return {Kind::verify, {}};
    case Stage::idle: break;
  }
  return fail(503, "5.5.1", "No authentication in progress");
}

SaslExchange::Step SaslExchange::plain(std::string_view message) {
  stage_ = Stage::idle;
  // authzid NUL authcid NUL passwd (RFC 4616 §2)
  auto first = message.find('\0');
  auto second = first == std::string_view::npos ? first : message.find('\0', first + 1);
  if (second == std::string_view::npos || message.find('\0', second + 1) != std::string_view::npos)
    return fail(501, "5.5.2", "Malformed PLAIN response");
  std::string_view authzid = message.substr(0, first);
  std::string_view authcid = message.substr(first + 1, second - first - 1);
  if (authcid.empty()) return fail(501, "5.5.2", "Malformed PLAIN response");
  if (!authzid.empty() && authzid != authcid) return fail(535, "5.7.8", "Authentication credentials invalid");
  user_ = std::string(authcid);
  password_ = std::string(message.substr(second + 1));
  return {Kind::verify, {}};
}

}  // namespace imta::channels::tcp
