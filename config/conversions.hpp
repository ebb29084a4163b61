// The conversions file (config/conversions): which external command the
// conversion channel runs for a message going from one channel to another.
// The CONVERSIONS mapping decides WHETHER a copy passes through the
// conversion channel (config/conversion_routing.hpp); this file says WHAT is
// run there. Compiled into the image by `imta cnbuild` like every other file.
//
// One entry per logical line (a trailing `\` continues it), fields
// `name=value` separated by `;` (a `;` inside double quotes is kept):
//
//   in-chan=tcp_*; out-chan=l; command=/usr/local/bin/addsig --tag "x y"; timeout=30
//
//   in-chan   source channel pattern (`*`, `?`; case-insensitive), default *
//   out-chan  destination channel pattern, default *
//   command   absolute path of the program, then its arguments (split at
//             blanks, "double quotes" keep blanks); required
//   shell     yes: run `command` as written with /bin/sh -c (default no);
//             a command line enclosed in double quotes loses them
//   timeout   seconds before the command is killed (default 60, 1..86400)
//   user      who runs it when imta runs as root (default nobody)
//
// The first entry whose patterns match the pair decides. See conversions(5).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/image_io.hpp"
#include "config/source_lines.hpp"

namespace imta::config {

struct ConversionEntry {
  SourceLocation where;
  std::string in_chan = "*";
  std::string out_chan = "*";
  /// The program and its arguments; with `shell`, {"/bin/sh", "-c", text}.
  std::vector<std::string> command;
  bool shell = false;
  int timeout_s = 60;
  std::string user;  ///< empty = nobody (only used when running as root)
};

struct Conversions {
  std::vector<ConversionEntry> entries;
  /// The first entry matching (source, destination); nullptr when none does.
  const ConversionEntry* find(std::string_view source, std::string_view destination) const;
};

/// `!` and `#` comments, `\` continuation, no includes.
ReadOptions conversions_read_options();

/// Parses the lines of the conversions file. Errors (file:line): a field
/// without `=`, an unknown field name, a field given twice, a missing or
/// empty command, a command that is not an absolute path, a bad timeout or
/// shell value, an unterminated quote.
Conversions parse_conversions(const std::vector<SourceLine>& lines, Diagnostics& diags);

void write_image(ImageWriter& out, const Conversions& conversions);
Conversions read_conversions(ImageReader& in);

}  // namespace imta::config
