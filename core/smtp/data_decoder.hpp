// The message data of DATA (RFC 5321 §4.1.1.4, §4.5.2), decoded
// incrementally, and the line-ending check for BDAT chunks (RFC 3030).
//
// DataDecoder turns the dot-stuffed bytes after "354" into the message as
// the queue stores it: CRLF text exactly as received, minus the transparency
// dot (a line starting with "." loses that dot; ".." alone becomes "."). The
// data ends only at CRLF "." CRLF, i.e. at a line holding just "." and ending
// in CRLF; the CRLF before the dot belongs to the message.
//
// SMTP smuggling defence. A bare LF (not preceded by CR) or a bare CR (not
// followed by LF) anywhere in the data fails the transfer. Sequences such as
// "\n.\n", "\n.\r\n", "\r.\r" or "\r\n.\n" are what other servers take as an
// end of data; if we and the server before us disagree about where the
// data ends, a message can hide a second one inside. We cannot know how a
// peer that sends bare line ends meant its data to end, so we stop reading
// at the first one: feed() answers `failed`, the reply is a 554 the session
// sends before closing the connection (Postfix's smtpd_forbid_bare_newline
// does the same with 521). RFC 5321 §2.3.8 allows no other line end.
//
// Limits. Over `max_message_size` (counted in decoded bytes) the decoder
// stops storing, keeps reading until the real end of data so the session
// stays in step, then answers `done` with a 552 5.3.4 refusal. A line longer
// than `max_line_length` (when not 0) is handled the same way with 554
// 5.6.0. The default accepts long lines: RFC 5322 limits lines to 998
// characters, but much real mail (HTML generators) exceeds it, and the queue
// stores bytes faithfully; the limit is there for sites that want it.
//
// Output. feed() appends decoded bytes to the caller's string, so the caller
// decides where the message lives. After a refusal the output is a prefix of
// the message and must be discarded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/smtp/reply.hpp"

namespace imta::core::smtp {

enum class DataStatus {
  need_more,  ///< all input consumed, end of data not yet seen
  done,       ///< end of data seen; see DataDecoder::refusal()
  failed,     ///< bare CR or LF: reply refusal() and close the connection
};

struct DataProgress {
  DataStatus status;
  /// Input bytes used. For `done`, up to and including the end marker: the
  /// rest is pipelined commands. For `failed`, through the byte that
  /// revealed the bare CR or LF.
  std::size_t consumed;
};

/// The reply for a bare LF / bare CR in message data (DATA and BDAT).
Reply bare_lf_reply();
Reply bare_cr_reply();

struct DataLimits {
  std::uint64_t max_message_size = 0;  ///< decoded bytes; 0 = no limit
  std::size_t max_line_length = 0;     ///< decoded octets without CRLF; 0 = no limit
};

class DataDecoder {
 public:
  explicit DataDecoder(DataLimits limits = DataLimits{});

  /// Decodes as much of `in` as belongs to the message, appending to `out`.
  /// After `done` or `failed` further calls consume nothing and repeat the
  /// status; reset() prepares for the next message.
  DataProgress feed(std::string_view in, std::string& out);

  /// After `done`: nullopt when the message may be accepted, else the reply
  /// refusing it (the session stays in step). After `failed`: the reply to
  /// send before closing.
  const std::optional<Reply>& refusal() const { return refusal_; }

  /// Decoded message bytes seen so far, including those past the size limit.
  std::uint64_t size() const { return size_; }

  void reset();

 private:
  enum class State { line_start, dot, dot_cr, in_line, cr, done, failed };

  std::size_t take_run(std::string_view in, std::size_t pos, std::string& out);
  void emit(std::string_view bytes, std::string& out);
  DataProgress fail(Reply reply, std::size_t consumed);
  void end_line(std::string& out);

  DataLimits limits_;
  State state_ = State::line_start;
  std::uint64_t size_ = 0;
  std::uint64_t line_length_ = 0;
  std::optional<Reply> refusal_;
};

/// Checks BDAT chunks for bare CR and bare LF, across chunk boundaries (a
/// CRLF may be split between two chunks). BDAT content is counted, not
/// dot-stuffed, so a mistaken line end cannot end the data; we refuse bare
/// line ends anyway, for the same reason as in DATA and because the queue
/// and every channel expect CRLF text: we advertise 8BITMIME, not
/// BINARYMIME (with which BDAT may carry binary data, RFC 3030 §3). Because a
/// chunk has a known length the session can read it all and stay in step:
/// a refusal here refuses the message, not the connection.
class CrlfChecker {
 public:
  /// Checks the next chunk; the first problem found sticks.
  void check(std::string_view chunk);
  /// Call after the LAST chunk: a CR at the very end is a bare CR.
  void finish();
  /// The refusal (bare_lf_reply() or bare_cr_reply()), or nullopt.
  const std::optional<Reply>& refusal() const { return refusal_; }
  void reset();

 private:
  bool pending_cr_ = false;
  std::optional<Reply> refusal_;
};

}  // namespace imta::core::smtp
