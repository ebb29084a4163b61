// Splits the bytes of an SMTP connection into command lines (or, on the
// client side, reply lines). Pure: the session reads from its socket and
// feeds what arrived; the reader owns the bytes not yet consumed.
//
// Line ends. A line ends at CRLF. A bare LF also ends a command line (the
// line reports `bare_lf`): Postfix and most MTAs accept it, people typing
// into `nc` send it, and it is harmless here, because SMTP smuggling needs a
// disagreement about where *message data* ends, and DATA is decoded by
// DataDecoder, which refuses bare LF outright. A CR that is not followed by
// LF stays in the line, where parse_command() refuses it as a control
// character.
//
// Length. `max_line` counts the whole line including its CRLF. RFC 5321
// §4.5.3.1.4 requires at least 512 octets; we default to 4096 because
// extensions lengthen commands (RFC 3461 adds up to 600 octets of DSN
// parameters, AUTH PLAIN initial responses can be long). A session that
// offers SASL mechanisms with big tokens should raise it to RFC 4954's 12288.
// An overlong line is reported once, as `too_long`, when its end arrives;
// meanwhile its bytes are dropped as they come (memory stays bounded) and
// discarding() says how many were dropped, so that a session can give up on
// a peer that never ends its line. Reporting at the line's end keeps one
// reply per line, so a pipelining client stays in step.
//
// Pipelining. One feed may hold many lines and a line may span many feeds.
// What has been fed but not yet returned as a line is buffered(); after
// STARTTLS the session must discard_buffered() (RFC 3207 §4.2: nothing the
// client sent in clear text may be taken as sent under TLS), and after BDAT
// or DATA it consume()s the chunk bytes the client pipelined.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace imta::core::smtp {

class LineReader {
 public:
  /// RFC 5321's minimum command line length, including CRLF.
  static constexpr std::size_t rfc_min_line = 512;
  /// Our default limit, including CRLF (see the file comment).
  static constexpr std::size_t default_max_line = 4096;

  enum class Status {
    line,       ///< `line` holds a complete line, terminator removed
    need_more,  ///< no complete line buffered; feed more bytes
    too_long,   ///< a line longer than the limit ended; its bytes were dropped
  };

  struct Next {
    Status status;
    /// The line without CRLF/LF. Valid until the next feed(), consume() or
    /// discard_buffered().
    std::string_view line;
    bool bare_lf = false;  ///< the line ended with LF alone
  };

  explicit LineReader(std::size_t max_line = default_max_line);

  /// Appends bytes received from the peer.
  void feed(std::string_view bytes);

  /// The next complete line, if any. Call until it answers need_more.
  Next next();

  /// Bytes fed but not yet returned in a line (not counting bytes of an
  /// overlong line already dropped).
  std::string_view buffered() const;

  /// Drops the first `n` buffered bytes (n <= buffered().size()), e.g. the
  /// pipelined start of a BDAT chunk the session handed elsewhere.
  void consume(std::size_t n);

  /// Drops everything buffered and forgets a pending overlong line.
  void discard_buffered();

  /// Bytes of the current overlong line dropped so far; 0 when none.
  std::uint64_t discarding() const { return discarded_; }

  std::size_t max_line() const { return max_line_; }

 private:
  Next drop_overlong();

  std::string buf_;
  std::size_t start_ = 0;    // first byte of buf_ not yet consumed
  std::size_t scanned_ = 0;  // bytes from start_ known to hold no LF
  std::size_t max_line_;
  std::uint64_t discarded_ = 0;
  bool overlong_ = false;  // dropping the rest of an overlong line
};

}  // namespace imta::core::smtp
