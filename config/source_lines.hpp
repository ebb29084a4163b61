// Turns a configuration file into logical lines that remember where they came
// from. Handles what all Sun-style files share: comment lines, `<file` includes
// (relative to the including file, depth-limited) and, where the format has it,
// `\` continuation. Blank lines are kept because imta.cnf and mappings give
// them meaning; comment lines are dropped (a comment is never a blank line).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"

namespace imta::config {

struct SourceLine {
  SourceLocation where;  ///< the first physical line of a continued line
  std::string text;      ///< without the line terminator; continuations joined
  bool blank() const;    ///< only blanks (space, tab, CR)
};

struct ReadOptions {
  std::string comment_chars = "!";  ///< first non-blank char marking a comment
  bool continuation = false;        ///< a trailing `\` joins the next line
  bool includes = true;             ///< `<file` on a line of its own
  int max_include_depth = 3;        ///< nesting deeper than this is an error
};

/// Reads the text of an included file; nullopt when it cannot be read.
using IncludeLoader = std::function<std::optional<std::string>(const std::filesystem::path&)>;

/// Reads a file from disk; nullopt if it cannot be opened.
std::optional<std::string> read_file(const std::filesystem::path& path);

/// Splits `text` (the contents of `file`) into logical lines. Include paths are
/// resolved against the directory of the file that names them and read through
/// `load` (the filesystem by default). Problems go to `diags`.
std::vector<SourceLine> split_source(std::string_view text, const std::string& file,
                                     const ReadOptions& options, Diagnostics& diags,
                                     const IncludeLoader& load = read_file);

/// Reads `path` and splits it; a missing file is reported as an error.
std::vector<SourceLine> read_source(const std::filesystem::path& path, const ReadOptions& options,
                                    Diagnostics& diags);

}  // namespace imta::config
