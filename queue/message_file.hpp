// The on-disk format of one queue file, and nothing else: pure functions that
// turn an envelope into the header bytes and back, find the message inside a
// file image, and append/parse history records. Documented in imta-queue(5).
//
//   IMTA-QUEUE 1\n                       magic and format version
//   size 00000000000000001234\n          message length, fixed width (patched at commit)
//   <key> <value>\n ...                  envelope records (values escaped, see below)
//   rcpt <active> <original> <notify> <orcpt>\n   one per recipient
//   \n                                   a blank line ends the envelope
//   <message bytes>                      exactly `size` bytes, CRLF, not dot-stuffed
//   \x01END\n                            end marker: the file was completely written
//   hist <time-ms> <outcome> <recipient> <diagnostic>\n   one per attempt, appended
//
// A file without its end marker at the right place was never acknowledged
// (a crash before the commit barrier) and is removed by the scan. A history
// record without its final newline (torn append) is ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/envelope.hpp"

namespace imta::queue {

inline constexpr std::string_view file_magic = "IMTA-QUEUE 1\n";
inline constexpr std::string_view end_marker = "\x01" "END\n";

/// The header (magic, size placeholder, envelope, blank line) for a copy.
/// The size field is written as the fixed-width value of envelope.size.
std::string encode_header(const core::Envelope& envelope);

/// Offset and width of the fixed-width size digits inside any encoded header,
/// so a writer can patch the size in place once the message is complete.
inline constexpr std::size_t size_field_offset = file_magic.size() + 5;  // after "size "
inline constexpr std::size_t size_field_width = 20;

/// Outcome classes of history records.
enum class Outcome : std::uint8_t { delivered, deferred, bounced, held, released, warned, note };
std::string_view outcome_name(Outcome o);

struct HistoryRecord {
  std::int64_t time_ms = 0;
  Outcome outcome = Outcome::note;
  std::string recipient;   ///< empty = the whole file
  std::string diagnostic;  ///< e.g. "smtp;451 4.7.1 try later"
};

/// One record as a line to append (escaped, newline-terminated).
std::string encode_history(const HistoryRecord& record);

enum class ParseStatus {
  ok,
  incomplete,  ///< no end marker where the size says (never acknowledged): remove
  corrupt,     ///< end marker present but the envelope does not parse: quarantine
};

struct ParsedFile {
  ParseStatus status = ParseStatus::corrupt;
  std::string error;  ///< what is wrong, when status != ok
  core::Envelope envelope;
  std::size_t message_offset = 0;  ///< where the message bytes start in the file
  std::vector<HistoryRecord> history;
};

/// Parses a whole file image (header, checks the end marker, history).
ParsedFile parse_file(std::string_view bytes);

/// Parses only the header: enough to list a queue (`bytes` may be just the
/// first few KiB of the file). nullopt + error when the header is incomplete
/// or malformed.
std::optional<core::Envelope> parse_header(std::string_view bytes, std::string* error = nullptr,
                                           std::size_t* message_offset = nullptr);

}  // namespace imta::queue
