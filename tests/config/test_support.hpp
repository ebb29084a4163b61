// What the configuration tests share: diagnostics as an administrator reads
// them, tables of texts and the diagnostics each must give, the default files
// from the source tree, and reading a structure back from the image.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/image_io.hpp"
#include "config/mapping.hpp"
#include "config/source_lines.hpp"

namespace imta::config::testing {

/// Every diagnostic as `imta cnbuild` prints it: "file:line: problem".
std::vector<std::string> messages(const Diagnostics& diags);

/// A text and every diagnostic it must give, in order.
struct DiagnosticsCase {
  std::string text;
  std::vector<std::string> messages;
};

/// Parses each case's text with `parse(text, diags)` and checks that the
/// diagnostics are exactly the expected ones.
template <typename Parse>
void check_diagnostics(const std::vector<DiagnosticsCase>& cases, Parse parse) {
  for (const auto& c : cases) {
    INFO(c.text);
    Diagnostics diags;
    parse(c.text, diags);
    CHECK(messages(diags) == c.messages);
  }
}

/// The root of the source tree (the test runner sets IMTA_TEST_DATA to its
/// tests/ folder).
std::filesystem::path source_root();

/// The text of a file of the source tree ("" when it cannot be read).
std::string source_text(const std::filesystem::path& relative);

/// A default file as `imta init` installs it (config/defaults/NAME, before
/// its placeholders are filled), read the way the parsers read files.
std::vector<SourceLine> read_default_file(std::string_view name, const ReadOptions& options,
                                          Diagnostics& diags);

/// A default file's text with its placeholders filled in as `imta init`
/// would for example.test: {{DOMAIN}}, {{HOSTNAME}} and {{ROOT}}.
std::string fill_placeholders(std::string_view text);

/// The mappings in `text` (file name "mappings"), which must have no errors.
Mappings parse_mappings_ok(std::string_view text);

/// What `read` makes of the image that write_image(value) writes; checks that
/// it read all of it.
template <typename T, typename Read>
auto read_back(const T& value, Read read) {
  ImageWriter w;
  write_image(w, value);
  ImageReader r(w.bytes());
  auto back = read(r);
  CHECK(r.at_end());
  return back;
}

}  // namespace imta::config::testing
