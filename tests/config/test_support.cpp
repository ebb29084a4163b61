#include "test_support.hpp"

#include <cstdlib>
#include <utility>

namespace imta::config::testing {

std::vector<std::string> messages(const Diagnostics& diags) {
  std::vector<std::string> out;
  for (const auto& d : diags.items()) out.push_back(d.str());
  return out;
}

std::filesystem::path source_root() {
  const char* data = std::getenv("IMTA_TEST_DATA");
  REQUIRE(data != nullptr);
  return std::filesystem::path(data) / "..";
}

std::string source_text(const std::filesystem::path& relative) {
  return read_file(source_root() / relative).value_or(std::string());
}

std::vector<SourceLine> read_default_file(std::string_view name, const ReadOptions& options,
                                          Diagnostics& diags) {
  return read_source(source_root() / "config" / "defaults" / std::string(name), options, diags);
}

std::string fill_placeholders(std::string_view text) {
  std::string s(text);
  for (auto [from, to] : {std::pair<std::string_view, std::string_view>{"{{DOMAIN}}", "example.test"},
                          {"{{HOSTNAME}}", "mail.example.test"},
                          {"{{ROOT}}", "/srv/imta"}})
    for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
      s.replace(p, from.size(), to);
  return s;
}

Mappings parse_mappings_ok(std::string_view text) {
  Diagnostics d;
  auto lines = split_source(text, "mappings", mappings_read_options(), d);
  auto m = parse_mappings(lines, d);
  INFO(Catch::Detail::stringify(messages(d)));
  REQUIRE(d.ok());
  return m;
}

}  // namespace imta::config::testing
