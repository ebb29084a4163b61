// The messages the crash-safety test enqueues: their bytes follow from the id
// and a length, so the test can check every byte of what survived a SIGKILL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace imta::queue::test {

inline std::string crash_message(std::string_view id, std::size_t body_length) {
  std::string m = "X-Crash-Id: " + std::string(id) + "\r\nX-Body-Length: " + std::to_string(body_length) + "\r\n\r\n";
  m.reserve(m.size() + body_length);
  for (std::size_t i = 0; i < body_length; ++i) {
    if (i % 78 == 76) m += '\r';
    else if (i % 78 == 77) m += '\n';
    else m += static_cast<char>('A' + (i * 7 + id.size()) % 26);
  }
  return m;
}

/// The body length a message claims in its X-Body-Length header (0 if none).
inline std::size_t crash_message_length(std::string_view message) {
  auto at = message.find("\r\nX-Body-Length: ");
  if (at == std::string_view::npos) return 0;
  return std::stoul(std::string(message.substr(at + 17, message.find('\r', at + 2) - at - 17)));
}

}  // namespace imta::queue::test
