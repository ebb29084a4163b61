// Message bytes as they go over the wire after DATA (RFC 5321 §4.5.2): a
// line that starts with '.' gets another '.', the data ends with CRLF.CRLF.
// A bare LF in the stored message (it should hold CRLF only) goes out as
// CRLF, so the server can never see a line end we did not mean. Pure and
// incremental: the message may be encoded in pieces.
#pragma once

#include <string>
#include <string_view>

namespace imta::channels::tcp {

class DotStuffer {
 public:
  /// Appends the wire form of the next message bytes to `out`.
  void encode(std::string_view bytes, std::string& out);
  /// Appends the end of the data: a CRLF if the message did not end with
  /// one, then ".\r\n". The stuffer is then ready for another message.
  void finish(std::string& out);

 private:
  bool line_start_ = true;
  bool after_cr_ = false;
};

/// The whole wire form of `message` (tests, small messages).
std::string dot_stuff(std::string_view message);

}  // namespace imta::channels::tcp
