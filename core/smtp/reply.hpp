// SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034,
// RFC 3463): the value type every SMTP error in imta carries, its wire form,
// and an incremental parser for the replies a server sends us (the SMTP
// client's side).
//
// Pure: no I/O. The formatter never lets a reply break the protocol: control
// characters in the text (client data echoed into a reply, say) become '?',
// and every line is cut to the 512-octet limit of RFC 5321 §4.5.3.1.5.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace imta::core::smtp {

/// One SMTP reply. `text` holds one line per '\n'-separated part; `enhanced`
/// ("5.5.2") is written at the start of every line when not empty. Replies to
/// the greeting and to EHLO/HELO are conventionally sent without one.
struct Reply {
  int code = 0;          ///< three-digit reply code, 200..599
  std::string enhanced;  ///< RFC 3463 "class.subject.detail", or empty
  std::string text;      ///< human-readable text; '\n' separates lines

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500 && code < 600; }

  bool operator==(const Reply&) const = default;
};

/// Longest reply line we write, including code and CRLF (RFC 5321 §4.5.3.1.5).
inline constexpr std::size_t max_reply_line = 512;

/// The wire form: `250-first\r\n250 last\r\n`, each line carrying the
/// enhanced code when there is one. An empty text gives one line with just
/// the code (and the enhanced code).
std::string to_wire(const Reply& reply);
/// The same, appended to `out`.
void append_wire(std::string& out, const Reply& reply);

/// The lines of `reply.text` (at least one, possibly empty).
std::vector<std::string_view> reply_lines(const Reply& reply);

/// True when `s` is an RFC 3463 status code: class 2, 4 or 5, then subject and
/// detail of one to three digits ("5.1.10").
bool is_enhanced_code(std::string_view s);

/// Assembles a reply from the lines a server sends, one line at a time
/// (without the CRLF; the line reader strips it). Continuation lines are
/// `ddd-text`; the last line is `ddd text` or just `ddd`. When the first line
/// starts with an enhanced code whose class matches the reply code, it is
/// taken out of every line that repeats it and stored in Reply::enhanced.
class ReplyParser {
 public:
  enum class Status { need_more, complete, malformed };

  /// Longest reply we assemble; EHLO answers stay far below it.
  static constexpr std::size_t max_lines = 1000;

  /// Feeds the next line. After `complete` or `malformed` the next call
  /// starts a new reply.
  Status feed_line(std::string_view line);

  /// The reply, valid after feed_line() answered `complete`.
  const Reply& reply() const { return reply_; }

  /// Why the reply is malformed, valid after feed_line() answered `malformed`.
  const std::string& error() const { return error_; }

 private:
  Status fail(std::string why);
  void finish();

  Reply reply_;
  std::vector<std::string> lines_;
  std::string error_;
  bool done_ = false;
};

}  // namespace imta::core::smtp
