// Dot-stuffing for the SMTP client; see client_dot_stuffing.hpp.
#include "channels/tcp/client_dot_stuffing.hpp"

namespace imta::channels::tcp {

void DotStuffer::encode(std::string_view bytes, std::string& out) {
  out.reserve(out.size() + bytes.size() + bytes.size() / 64);
  std::size_t run = 0;  // start of the bytes copied as they are
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (line_start_ && c == '.') {
      out.append(bytes.substr(run, i - run));
      out += '.';
      run = i;
    } else if (c == '\n' && !after_cr_) {
      out.append(bytes.substr(run, i - run));
      out += '\r';
      run = i;
    }
    line_start_ = c == '\n';
    after_cr_ = c == '\r';
  }
  out.append(bytes.substr(run));
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
