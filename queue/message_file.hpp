// The on-disk format of one queue file, and nothing else: pure functions that
// turn an envelope into the header bytes and back, find the message inside a
// file image, and append/parse history records. Documented in imta-queue(5).
//
//   IMTA-QUEUE 1\n                       magic and format version
//   size 00000000000000001234\n          message length, fixed width (patched at commit)
//   check 1A2B3C4D\n                     CRC-32C seal, fixed width (patched at commit; see below)
//   id <queue id>\n                      the id of the name the file was written under
//   <key> <value>\n ...                  envelope records (values escaped, see below)
//   notice <kind>\n notice-... <value>\n        only on a copy that carries a
//                                        core::Notice (to `process`): see imta-queue(5)
//   rcpt <active> <original> <notify> <orcpt>\n   one per recipient
//   \n                                   a blank line ends the envelope
//   <message bytes>                      exactly `size` bytes, CRLF, not dot-stuffed
//   \x01END\n                            end marker: the file was completely written
//   hist <time-ms> <outcome> <recipient> <diagnostic>\n   one per attempt, appended
//
// A file without its end marker at the right place was never acknowledged
// (a crash before the commit barrier) and is removed by the scan. A history
// record without its final newline (torn append) is ignored.
//
// The seal: `check` is the CRC-32C (8 upper-case hex digits) of every byte
// after the `id` line up to and including the end marker; "--------" when
// the writer did not compute one (it makes the file durable before naming
// it). `id` names the file it was written for. Both guard recycled files
// (queue/.recycle, see store.hpp): such a file is renamed into place with
// its new bytes, and a machine crash before the commit barrier can leave
// its old bytes (another id) or a mix of old and new (a wrong check) under
// the new name -- a message never acknowledged, which must not go out.
// Files without these records (older writers) are read as before.
//
// Values are escaped so that no value can contain a blank, a newline or any
// other control or non-ASCII byte: such bytes and '%' are written as %XX
// (two upper-case hex digits); an empty value is written as "-", and the
// one-character value "-" as "%2D". Readers ignore envelope records whose
// key they do not know (a change old readers must not ignore bumps the
// version in the magic).
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

/// The header (magic, size placeholder, check placeholder, id, envelope,
/// blank line) for a copy written under the queue id `id` (no id record if
/// empty). The size field is written as the fixed-width value of
/// envelope.size, the check field as "--------" (not computed).
std::string encode_header(const core::Envelope& envelope, std::string_view id = {});

/// Offset and width of the fixed-width size digits inside any encoded header,
/// so a writer can patch the size in place once the message is complete.
inline constexpr std::size_t size_field_offset = file_magic.size() + 5;  // after "size "
inline constexpr std::size_t size_field_width = 20;
/// The same for the check digits ("check " follows the size line).
inline constexpr std::size_t check_field_offset = size_field_offset + size_field_width + 1 + 6;
inline constexpr std::size_t check_field_width = 8;
inline constexpr std::string_view check_unset = "--------";
/// The check digits of `crc` (8 upper-case hex digits).
std::string check_digits(std::uint32_t crc);
/// Where the checked bytes start in a header encode_header() made.
std::size_t checked_offset(std::string_view header);

/// What the seal records of a file say.
struct FileSeal {
  std::string id;                     ///< empty: no id record
  std::optional<std::uint32_t> check;  ///< nullopt: none, or "--------"
  std::size_t checked_from = 0;        ///< where the checked bytes start
};
/// Whether the check of `seal` matches `bytes` (the file from its start,
/// through at least `message_end`) followed by the end marker, which the
/// caller has found right after the message; true without a check.
bool seal_matches(std::string_view bytes, const FileSeal& seal, std::size_t message_end);
/// The error of a file whose check does not match.
inline constexpr std::string_view seal_mismatch_error =
    "check digits do not match the content (damaged, or a recycled file torn by a crash)";

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
  FileSeal seal;
};

/// Parses a whole file image (header, checks the end marker and the check
/// digits when there are any, history).
ParsedFile parse_file(std::string_view bytes);

/// Escapes one value for a record (see above); never empty, never contains
/// a blank, newline or control byte.
std::string escape_value(std::string_view value);
/// The inverse of escape_value; nullopt for a malformed escape.
std::optional<std::string> unescape_value(std::string_view escaped);

/// Where the header ends (the offset just after its blank line), or nullopt
/// when `bytes` does not hold the whole header yet (read more).
std::optional<std::size_t> find_header_end(std::string_view bytes);

/// Checks the end marker and parses the history: `trailer` is the part of
/// the file that starts where the message ends (message_offset + size).
/// False when the end marker is not there (the file is incomplete).
/// Malformed or torn history lines are skipped.
bool parse_trailer(std::string_view trailer, std::vector<HistoryRecord>& history);

/// Parses only the header: enough to list a queue (`bytes` may be just the
/// first few KiB of the file). nullopt + error when the header is incomplete
/// or malformed.
std::optional<core::Envelope> parse_header(std::string_view bytes, std::string* error = nullptr,
                                           std::size_t* message_offset = nullptr, FileSeal* seal = nullptr);

}  // namespace imta::queue
