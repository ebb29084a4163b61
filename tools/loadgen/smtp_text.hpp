// The SMTP text the load generator and the sink exchange, as pure functions
// over bytes (no sockets), so they are tested without a network.
//
// Both programs talk to servers and clients we do not control (imtad, Postfix,
// anything a benchmark points them at), so every parser here has a size limit
// and answers "need more" instead of guessing when its input is incomplete.
// These are deliberately small, tool-local helpers: the MTA's own protocol
// code lives in core/smtp and must not depend on a benchmark tool.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imta::tools::loadgen {

/// Longest reply line a server may send us, and most lines in one reply.
inline constexpr std::size_t max_reply_line = 4096;
inline constexpr std::size_t max_reply_lines = 128;

/// One complete (possibly multi-line) server reply.
struct Reply {
  int code = 0;                     ///< 200..599
  std::vector<std::string> lines;   ///< text after "ddd-" / "ddd ", one per line
  int kind() const { return code / 100; }  ///< 2, 3, 4 or 5
};

enum class ParseStatus { complete, need_more, bad };

struct ReplyParse {
  ParseStatus status = ParseStatus::need_more;
  Reply reply;                 ///< set when complete
  std::size_t consumed = 0;    ///< bytes of the buffer the reply used
  std::string error;           ///< why, when bad
};

/// Takes the first complete reply from the start of `buffer`. Lines end in CRLF
/// (a bare LF is tolerated, as many clients do); every line must start with
/// the same three digits, continuation lines with "ddd-" and the last with
/// "ddd " or just "ddd".
ReplyParse parse_reply(std::string_view buffer);

/// Capabilities a client cares about in an EHLO reply.
struct Capabilities {
  bool pipelining = false;
  bool starttls = false;
  bool size = false;
  bool chunking = false;
};
Capabilities parse_ehlo(const Reply& ehlo_reply);

/// Where the first line ending (LF, normally after CR) in `buffer` is.
struct LineFind {
  ParseStatus status = ParseStatus::need_more;
  std::string_view line;       ///< without CRLF / LF, when complete
  std::size_t consumed = 0;    ///< including the line ending
};

/// Finds one command line at the start of `buffer`. A line longer than
/// `limit` (counting its ending) is `bad` even before its end arrives, so a
/// peer cannot make us buffer without bound.
LineFind find_line(std::string_view buffer, std::size_t limit);

/// An SMTP command split into its verb (upper-cased) and the rest.
struct Command {
  std::string verb;
  std::string_view argument;   ///< after the first space, trimmed of surrounding blanks
};
Command split_command(std::string_view line);

/// The argument of "BDAT size [LAST]" (RFC 3030); nullopt when it is not
/// that (no size, a size past 19 digits, anything but LAST after it).
struct ChunkCommand {
  std::uint64_t size = 0;
  bool last = false;
};
std::optional<ChunkCommand> parse_bdat(std::string_view argument);

/// Returns `text` (CRLF lines) with an extra "." before every line that starts
/// with one (RFC 5321 §4.5.2). The end-of-data line is not added.
std::string dot_stuff(std::string_view text);

/// Decodes DATA as it arrives: removes dot-stuffing and finds the CRLF.CRLF
/// end. Only CRLF ends a line; a bare CR or LF is data (the end can never be
/// faked with "\n.\n", which is what SMTP smuggling relies on). The decoder is
/// a byte state machine, so no line length limit applies and input may be
/// split anywhere.
class DataDecoder {
 public:
  /// Appends the decoded bytes of `input` to `*out` (when `out` is not null;
  /// the sink only keeps a message it stores) and returns how many bytes of
  /// `input` belong to the message; when done() afterwards, the remaining bytes
  /// are the next commands of a pipelining client.
  std::size_t feed(std::string_view input, std::string* out);
  bool done() const { return state_ == State::done; }
  /// Decoded message bytes so far (whether or not they were kept).
  std::size_t size() const { return size_; }
  void reset() { *this = DataDecoder(); }

 private:
  enum class State { line_start, in_line, cr, dot, dot_cr, done };
  State state_ = State::line_start;
  std::size_t size_ = 0;
};

}  // namespace imta::tools::loadgen
