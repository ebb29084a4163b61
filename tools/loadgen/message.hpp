// The messages imta-loadgen sends: valid RFC 5322 text with CRLF lines, a
// unique Message-ID each, and a body that always contains lines starting with
// a dot, so every run also checks the server's dot-unstuffing.
//
// The header has a fixed length (numbers are zero-padded, dates in UTC), so
// every message has exactly the requested size once the body is built, and
// the body is built and dot-stuffed once per run: sending a message costs one
// small header format, nothing per byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace imta::tools::loadgen {

/// Lines every body starts with; the second and third show the dot-stuffing
/// (the man page and the end-to-end test name them).
inline constexpr std::string_view body_first_line = "This is a test message from imta-loadgen.";
inline constexpr std::string_view body_dot_line = ".This line starts with a dot, sent as two dots on the wire.";
inline constexpr std::string_view body_two_dots_line = "..This line starts with two dots.";

/// `address_template` with every "%d" replaced by `number`.
std::string expand_recipient(std::string_view address_template, unsigned number);

/// The Message-ID field of a received message (the first one of its
/// header, name matched without regard to case, the value trimmed of blanks
/// and unfolded); empty when the header has none.
std::string find_message_id(std::string_view message);

/// How the Message-IDs of a run relate to each other. Both kinds are unique
/// per run and across runs, and of one length within a run.
enum class MessageIds {
  /// "<start.pid.serial@domain>": they sort in sending order, so an index
  /// keyed on them only ever grows at its end.
  ordered,
  /// The same, led by 16 hex digits of a hash of the rest: they sort in no
  /// order, as the Message-IDs of mail from many senders do, and each one
  /// lands at a different place in such an index.
  scattered,
};

class MessageFactory {
 public:
  /// `from` and `to` are the header addresses (From:, To:); `domain` goes on
  /// the right of each Message-ID; `size` is the wanted size of the whole
  /// message in bytes (CRLF counted, before dot-stuffing). A size below what
  /// the header and the fixed body lines need gives a message of that
  /// minimum.
  MessageFactory(std::string from, std::string to, std::string domain, std::size_t size,
                 MessageIds ids = MessageIds::ordered);

  /// The header (with the empty line that ends it) of message number
  /// `number`, dated `when`. Header lines never start with a dot, so the
  /// header needs no stuffing.
  std::string header(std::uint64_t number, std::time_t when) const;
  /// The Message-ID of message `number`, with its angle brackets (unique
  /// per run and across runs).
  std::string message_id(std::uint64_t number) const;
  /// The body as it goes on the wire: dot-stuffed, without the final ".".
  const std::string& stuffed_body() const { return stuffed_body_; }
  /// The body as the recipient should receive it.
  const std::string& body() const { return body_; }
  /// Size of header plus body, before stuffing.
  std::size_t message_size() const { return header_size_ + body_.size(); }

 private:
  /// message_id() for the serial `digits`, appended to `out`.
  void append_message_id(std::string& out, std::string_view digits) const;

  std::string from_, to_, domain_;
  std::string run_tag_;   ///< start time and pid, so ids differ between runs
  MessageIds ids_ = MessageIds::ordered;
  std::size_t header_size_ = 0;
  std::string body_, stuffed_body_;
};

}  // namespace imta::tools::loadgen
