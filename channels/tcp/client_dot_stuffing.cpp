// Dot-stuffing for the SMTP client; see client_dot_stuffing.hpp.
#include "channels/tcp/client_dot_stuffing.hpp"

#include <cstring>

namespace imta::channels::tcp {

void DotStuffer::encode(std::string_view bytes, std::string& out) {
  out.reserve(out.size() + bytes.size() + bytes.size() / 64);
  // Line by line with memchr: a byte is looked at only where a line starts
  // (a dot to double) or ends (a bare LF to complete with CR).
  const char* const data = bytes.data();
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (line_start_ && data[i] == '.') out += '.';
    const void* nl = std::memchr(data + i, '\n', bytes.size() - i);
    if (nl == nullptr) {
      out.append(data + i, bytes.size() - i);
      line_start_ = false;
      after_cr_ = bytes.back() == '\r';
      return;
    }
    const auto j = static_cast<std::size_t>(static_cast<const char*>(nl) - data);
    const bool cr_before = j > i ? data[j - 1] == '\r' : after_cr_;
    out.append(data + i, j - i);
    if (!cr_before) out += '\r';
    out += '\n';
    line_start_ = true;
    after_cr_ = false;
    i = j + 1;
  }
}

void DotStuffer::finish(std::string& out) {
  if (!line_start_) out += after_cr_ ? "\n" : "\r\n";
  out += ".\r\n";
  line_start_ = true;
  after_cr_ = false;
}

std::string dot_stuff(std::string_view message) {
  std::string out;
  DotStuffer s;
  s.encode(message, out);
  s.finish(out);
  return out;
}

}  // namespace imta::channels::tcp
