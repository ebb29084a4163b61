// The general database (config/general.txt): `key value` lines that rewrite
// rules consult through $(key). Compiled into the image like everything else,
// so a lookup never touches the disk.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/image_io.hpp"
#include "config/source_lines.hpp"

namespace imta::config {

struct GeneralEntry {
  std::string value;  ///< the rest of the line after the key, blanks trimmed
  SourceLocation where;
};

struct GeneralDatabase {
  std::map<std::string, GeneralEntry> entries;  ///< lower-case key

  /// Keys compare case-insensitively; the value comes back as written.
  std::optional<std::string> lookup(std::string_view key) const;
};

/// How general.txt is read: `!` comments, `<file` includes, no continuation.
ReadOptions general_db_read_options();

/// Parses `key value` lines (key = first word, value = rest of the line).
/// A key without a value is an error; a repeated key is a warning and the
/// first value is kept.
GeneralDatabase parse_general_db(const std::vector<SourceLine>& lines, Diagnostics& diags);

void write_image(ImageWriter& out, const GeneralDatabase& db);
GeneralDatabase read_general_db(ImageReader& in);

}  // namespace imta::config
