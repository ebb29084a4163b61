// The mappings file: named tables of pattern/template entries (PORT_ACCESS,
// ORIG_SEND_ACCESS, CONVERSIONS, site tables called with $|TABLE;arg|, ...).
// This file only reads, checks and stores the tables; matching them against a
// probe is config/mapping_engine.hpp. The format is described in mappings(5).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/image_io.hpp"
#include "config/source_lines.hpp"

namespace imta::config {

/// A checked and prepared pattern/template pair (defined in mapping_engine.cpp).
struct CompiledEntry;

/// Longest pattern or template accepted (Sun 6.x allows 1024 for templates).
inline constexpr std::size_t kMaxMappingText = 1024;

struct MappingEntry {
  std::string pattern;  ///< as written, `$` quoting intact
  std::string templ;    ///< as written
  SourceLocation where;
  /// Filled by parse_mappings and read_mappings so that matching never parses
  /// text again. A hand-built entry may leave it null; the engine then prepares
  /// the entry on every use (correct, only slower).
  std::shared_ptr<const CompiledEntry> compiled;
};

struct MappingTable {
  std::string name;  ///< as written; names compare case-insensitively
  std::vector<MappingEntry> entries;
  SourceLocation where;
};

struct Mappings {
  std::vector<MappingTable> tables;
  /// Case-insensitive lookup; nullptr when there is no such table.
  const MappingTable* find(std::string_view name) const;
  /// Entries over all tables (for `imta cnbuild` statistics).
  std::size_t entry_count() const;
};

/// How the mappings file is split into lines: `!` comments, `<file` includes,
/// `\` continuation.
ReadOptions mappings_read_options();

/// Builds the tables from lines produced by split_source(mappings_read_options()).
/// Reports every problem (file:line) and also runs check_table_calls.
Mappings parse_mappings(const std::vector<SourceLine>& lines, Diagnostics& diags);

/// Warns about `$|TABLE;arg|` calls naming a table that does not exist (the
/// call would always fail). parse_mappings already runs this; it is exposed
/// for callers that assemble Mappings some other way.
void check_table_calls(const Mappings& mappings, Diagnostics& diags);

void write_image(ImageWriter& out, const Mappings& mappings);
/// Reads what write_image wrote, prepared form included (nothing is compiled
/// again); throws ImageError when the image is truncated or an entry's
/// prepared form is damaged.
Mappings read_mappings(ImageReader& in);

}  // namespace imta::config
