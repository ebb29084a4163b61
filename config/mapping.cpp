#include "config/mapping.hpp"

#include <unordered_map>

#include "config/mapping_engine.hpp"
#include "core/text.hpp"

namespace imta::config {

const MappingTable* Mappings::find(std::string_view name) const {
  for (const auto& t : tables)
    if (core::iequals(t.name, name)) return &t;
  return nullptr;
}

std::size_t Mappings::entry_count() const {
  std::size_t n = 0;
  for (const auto& t : tables) n += t.entries.size();
  return n;
}

ReadOptions mappings_read_options() {
  ReadOptions o;
  o.comment_chars = "!";
  o.continuation = true;
  o.includes = true;
  return o;
}

namespace {

bool name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == '$';
}

// Returns the problem with a table name, empty when it is fine.
std::string check_table_name(std::string_view name) {
  char first = name.front();
  if (!((first >= 'A' && first <= 'Z') || (first >= 'a' && first <= 'z')))
    return "table name \"" + std::string(name) + "\" must start with a letter";
  for (char c : name)
    if (!name_char(c))
      return "bad character '" + std::string(1, c) + "' in table name \"" + std::string(name) +
             "\" (letters, digits, _ - . $)";
  return {};
}

// One column of an entry: up to the first blank that no `$` quotes.
std::string_view take_column(std::string_view text, std::size_t& pos) {
  while (pos < text.size() && core::is_blank(text[pos])) ++pos;
  std::size_t start = pos;
  while (pos < text.size() && !core::is_blank(text[pos])) pos += (text[pos] == '$') ? 2 : 1;
  if (pos > text.size()) pos = text.size();
  return text.substr(start, pos - start);
}

std::string shorten(std::string_view s) {
  constexpr std::size_t kShown = 60;
  return s.size() <= kShown ? std::string(s) : std::string(s.substr(0, kShown)) + "...";
}

}  // namespace

Mappings parse_mappings(const std::vector<SourceLine>& lines, Diagnostics& diags) {
  Mappings out;
  std::unordered_map<std::string, SourceLocation> defined;  // lower-cased name -> where
  MappingTable duplicate;             // entries of a repeated table are checked, then dropped
  MappingTable* current = nullptr;    // stays valid: tables only grow when current changes
  bool orphans_reported = false;      // one error per run of entries outside any table

  for (const auto& line : lines) {
    if (line.blank()) {
      // A blank line right after the name (the older Sun layout) keeps the
      // table open; after its entries it ends the table.
      if (current && !current->entries.empty()) current = nullptr;
      orphans_reported = false;
      continue;
    }
    const std::string& text = line.text;
    if (!core::is_blank(text.front())) {
      std::string_view name = core::trim(text);
      orphans_reported = false;
      if (auto blank = name.find_first_of(" \t"); blank != std::string_view::npos) {
        diags.error(line.where, "text after table name \"" + std::string(name.substr(0, blank)) +
                                    "\" (entries must be indented)");
        current = &duplicate;
        duplicate.entries.clear();
        continue;
      }
      if (auto problem = check_table_name(name); !problem.empty()) {
        diags.error(line.where, problem);
        current = &duplicate;
        duplicate.entries.clear();
        continue;
      }
      auto key = core::to_lower(name);
      if (auto it = defined.find(key); it != defined.end()) {
        diags.error(line.where, "mapping table " + std::string(name) + " is already defined at " +
                                    it->second.str());
        current = &duplicate;
        duplicate.entries.clear();
        continue;
      }
      defined.emplace(key, line.where);
      out.tables.push_back(MappingTable{std::string(name), {}, line.where});
      current = &out.tables.back();
      continue;
    }

    // An indented line: one entry.
    std::size_t pos = 0;
    std::string_view pattern = take_column(text, pos);
    std::string_view templ = take_column(text, pos);
    std::string_view extra = take_column(text, pos);
    if (!current && !orphans_reported) {
      diags.error(line.where,
                  "entry outside any table (a blank line ends a table; is a table name missing "
                  "or a blank line too many?)");
      orphans_reported = true;
    }
    if (templ.empty()) {
      diags.error(line.where, "entry \"" + shorten(pattern) +
                                  "\" has no template (write $E for an empty result)");
      continue;
    }
    if (!extra.empty()) {
      diags.error(line.where, "entry \"" + shorten(pattern) + "\" has text after its template: \"" +
                                  shorten(extra) + "\" (write a space as $ )");
      continue;
    }
    bool too_long = false;
    if (pattern.size() > kMaxMappingText) {
      diags.error(line.where, "pattern longer than " + std::to_string(kMaxMappingText) +
                                  " characters");
      too_long = true;
    }
    if (templ.size() > kMaxMappingText) {
      diags.error(line.where, "template longer than " + std::to_string(kMaxMappingText) +
                                  " characters");
      too_long = true;
    }
    if (too_long) continue;
    auto check = compile_entry(pattern, templ);
    for (const auto& e : check.errors) diags.error(line.where, e);
    for (const auto& w : check.warnings) diags.warning(line.where, w);
    if (!check.compiled || !current) continue;
    current->entries.push_back(
        MappingEntry{std::string(pattern), std::string(templ), line.where, check.compiled});
  }

  for (const auto& t : out.tables)
    if (t.entries.empty()) diags.warning(t.where, "mapping table " + t.name + " has no entries");
  check_table_calls(out, diags);
  return out;
}

void check_table_calls(const Mappings& mappings, Diagnostics& diags) {
  for (const auto& t : mappings.tables) {
    for (const auto& e : t.entries) {
      std::shared_ptr<const CompiledEntry> compiled = e.compiled;
      if (!compiled) compiled = compile_entry(e.pattern, e.templ).compiled;
      if (!compiled) continue;
      for (const auto& name : called_tables(*compiled))
        if (!mappings.find(name))
          diags.warning(e.where, "$|" + name + ";...| calls mapping table " + name +
                                     ", which is not defined (the call always fails)");
    }
  }
}

void write_image(ImageWriter& out, const Mappings& mappings) {
  out.list(mappings.tables, [](ImageWriter& w, const MappingTable& t) {
    w.str(t.name);
    w.location(t.where);
    w.list(t.entries, [](ImageWriter& we, const MappingEntry& e) {
      we.str(e.pattern);
      we.str(e.templ);
      we.location(e.where);
    });
    write_prepared(w, t.entries);
  });
}

Mappings read_mappings(ImageReader& in) {
  Mappings m;
  m.tables = in.list<MappingTable>([](ImageReader& r) {
    MappingTable t;
    t.name = r.str();
    t.where = r.location();
    t.entries = r.list<MappingEntry>([](ImageReader& re) {
      // Braced initialisers run in order: pattern, template, location.
      return MappingEntry{re.str(), re.str(), re.location(), nullptr};
    });
    read_prepared(r, t.entries);
    return t;
  });
  return m;
}

}  // namespace imta::config
