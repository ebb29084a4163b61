// The mapping engine: matches a probe string against the entries of a mapping
// table and evaluates the template of the entry that decides. Pure functions
// over a parsed Mappings; no I/O, no clocks, no randomness. The syntax and the
// flow semantics are documented in mappings(5).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/mapping.hpp"

namespace imta::config {

/// Facts about the session that templates can test with `$:x` (set) and
/// `$;x` (clear).
struct ProbeFlags {
  bool auth = false;            ///< A: SASL authentication was used
  bool tls = false;             ///< T: TLS is in use
  bool esmtp = false;           ///< E: EHLO was used
  bool lmtp = false;            ///< L: LMTP is spoken
  bool notify_success = false;  ///< S: DSN NOTIFY=SUCCESS
  bool notify_failure = false;  ///< F: DSN NOTIFY=FAILURE
  bool notify_delay = false;    ///< D: DSN NOTIFY=DELAY
};

struct MappingResult {
  bool matched = false;  ///< some entry produced a final result
  std::string output;    ///< template output, flags and flag arguments removed
  bool allow = false;    ///< $Y (never together with reject: rejection wins)
  bool reject = false;   ///< $N or $F
  bool bitbucket = false;   ///< $B
  bool hold = false;        ///< $H
  bool discard = false;     ///< $V or $Z
  bool novacation = false;  ///< $!
  std::string reject_text;  ///< text after the flag arguments when rejecting
  std::optional<int> delay;                  ///< $D, hundredths of a second
  std::optional<std::string> new_from;       ///< $J
  std::optional<std::string> sender;         ///< $K
  std::optional<std::string> syslog_match;   ///< $<
  std::optional<std::string> syslog_refuse;  ///< $>
  std::optional<std::string> group;          ///< $I, "user|group" (recorded only)
  std::optional<int> debug;                  ///< $U
  std::optional<SourceLocation> entry;       ///< the entry that decided
  /// Set when the mapping could not be evaluated ("mapping loop", no such
  /// table, a bad $D number, ...); matched is then false.
  std::string error;
  std::vector<std::string> trace;  ///< with debug: one line per entry tried
  /// The flags as a template would write them, then their arguments:
  /// "$Y", "$N$D30|Relaying not allowed", "" when no flag is set.
  std::string flags_string() const;
};

/// Maps `probe` through `table`. A table that does not exist gives
/// matched == false with error set (callers that treat a missing access table
/// as "no restriction" should check Mappings::find first or ignore error).
MappingResult apply_mapping(const Mappings& mappings, std::string_view table, std::string_view probe,
                            const ProbeFlags& flags = {}, bool debug = false);

/// Matches `subject` against one pattern (case-insensitive). Returns the saved
/// wildcard values $0, $1, ... on a match, nullopt otherwise; an invalid
/// pattern also gives nullopt and, if `error` is given, the reason.
std::optional<std::vector<std::string>> match_pattern(std::string_view pattern,
                                                      std::string_view subject,
                                                      std::string* error = nullptr);

/// What checking one entry found. `compiled` is null when errors is not empty.
struct EntryCheck {
  std::shared_ptr<const CompiledEntry> compiled;
  std::vector<std::string> errors;    ///< e.g. `pattern: unterminated $[ set`
  std::vector<std::string> warnings;  ///< e.g. a $3 the pattern never saves
};

/// Checks and prepares one entry (used by parse_mappings and read_mappings).
EntryCheck compile_entry(std::string_view pattern, std::string_view templ);

/// Table names called with a literal `$|NAME;...|` in the entry's template
/// (names built from substitutions are left out).
std::vector<std::string> called_tables(const CompiledEntry& entry);

/// The prepared forms of a table's entries, in order, as the image stores
/// them (loading an image then compiles nothing). read_prepared sets each
/// entry's `compiled`; it throws ImageError naming the entry when a stored
/// form is truncated or is not one the compiler could have made. The layout
/// follows the compiled form: change either and bump the image version in
/// config/snapshot.cpp.
void write_prepared(ImageWriter& out, const std::vector<MappingEntry>& entries);
void read_prepared(ImageReader& in, std::vector<MappingEntry>& entries);

}  // namespace imta::config
