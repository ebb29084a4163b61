#include "config/general_db.hpp"

#include "core/text.hpp"

namespace imta::config {

std::optional<std::string> GeneralDatabase::lookup(std::string_view key) const {
  auto it = entries.find(core::to_lower(key));
  if (it == entries.end()) return std::nullopt;
  return it->second.value;
}

ReadOptions general_db_read_options() {
  ReadOptions r;
  r.comment_chars = "!";
  r.continuation = false;
  r.includes = true;
  return r;
}

GeneralDatabase parse_general_db(const std::vector<SourceLine>& lines, Diagnostics& diags) {
  GeneralDatabase db;
  for (const auto& line : lines) {
    if (line.blank()) continue;
    std::string_view text = core::trim(line.text);
    std::size_t end = 0;
    while (end < text.size() && !core::is_blank(text[end])) ++end;
    std::string key = core::to_lower(text.substr(0, end));
    std::string_view value = core::trim(text.substr(end));
    if (value.empty()) {
      diags.error(line.where, "key " + std::string(text.substr(0, end)) + " has no value");
      continue;
    }
    // First wins, like a database loaded record by record that refuses to
    // overwrite: the later line is the one an administrator must look at.
    auto [it, added] = db.entries.emplace(key, GeneralEntry{std::string(value), line.where});
    if (!added)
      diags.warning(line.where, "key " + std::string(text.substr(0, end)) +
                                    " is already defined at " + it->second.where.str() +
                                    "; the first value is kept");
  }
  return db;
}

void write_image(ImageWriter& out, const GeneralDatabase& db) {
  out.u32(static_cast<std::uint32_t>(db.entries.size()));
  for (const auto& [key, entry] : db.entries) {
    out.str(key);
    out.str(entry.value);
    out.location(entry.where);
  }
}

GeneralDatabase read_general_db(ImageReader& in) {
  GeneralDatabase db;
  std::uint32_t n = in.u32();
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string key = in.str();
    GeneralEntry e;
    e.value = in.str();
    e.where = in.location();
    db.entries.emplace(std::move(key), std::move(e));
  }
  return db;
}

}  // namespace imta::config
