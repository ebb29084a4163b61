#include "config/aliases.hpp"

#include <algorithm>
#include <set>

#include "core/text.hpp"

namespace imta::config {

namespace {

constexpr std::size_t npos = std::string_view::npos;

// Position of the first `c` outside a "quoted string" (backslash escapes
// inside quotes), or npos.
std::size_t find_unquoted(std::string_view s, char c, std::size_t from = 0) {
  bool quoted = false;
  for (std::size_t i = from; i < s.size(); ++i) {
    if (quoted && s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && s[i] == c) {
      return i;
    }
  }
  return npos;
}

std::size_t rfind_at(std::string_view s) {
  std::size_t last = npos;
  for (std::size_t i = find_unquoted(s, '@'); i != npos; i = find_unquoted(s, '@', i + 1)) last = i;
  return last;
}

bool quotes_balanced(std::string_view s) {
  bool quoted = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (quoted && s[i] == '\\') ++i;
    else if (s[i] == '"') quoted = !quoted;
  }
  return !quoted;
}

std::string_view strip_angles(std::string_view s) {
  s = core::trim(s);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = core::trim(s.substr(1, s.size() - 2));
  return s;
}

// `name` and `name@local-domain` are one alias: the bare form is canonical.
std::string canonical_name(std::string_view name, std::string_view local_domain) {
  std::string key = core::to_lower(strip_angles(name));
  auto at = rfind_at(key);
  if (at != npos && !local_domain.empty() && core::iequals(std::string_view(key).substr(at + 1), local_domain))
    key.resize(at);
  return key;
}

std::string qualify(std::string_view address, std::string_view local_domain) {
  std::string a(strip_angles(address));
  if (!local_domain.empty() && rfind_at(a) == npos) a += "@" + std::string(local_domain);
  return a;
}

// "" or what is wrong with one address of an expansion list.
std::string check_member(std::string_view m) {
  if (m.front() == '|' || m.front() == '/')
    return "\"" + std::string(m) + "\": pipes and files are not alias targets (use the pipe channel)";
  if (m.front() == '[')
    return "\"" + std::string(m) + "\": alias parameters such as [capture] are not supported";
  if (core::istarts_with(m, ":include:"))
    return "\"" + std::string(m) + "\": :include: lists are not supported (use <file)";
  if (!quotes_balanced(m)) return "\"" + std::string(m) + "\": unbalanced quote";
  std::string_view bare = strip_angles(m);
  if (bare.empty()) return "empty address <>";
  if (find_unquoted(bare, ' ') != npos)
    return "\"" + std::string(m) + "\": blank inside an address (a comma missing?)";
  if (find_unquoted(bare, '\t') != npos || find_unquoted(bare, '<') != npos ||
      find_unquoted(bare, '>') != npos || find_unquoted(bare, ':') != npos)
    return "\"" + std::string(m) + "\" is not an address";
  auto at = rfind_at(bare);
  if (at == 0 || (at != npos && at + 1 == bare.size()))
    return "\"" + std::string(m) + "\": empty local part or domain";
  return {};
}

// Splits the expansion at commas outside quotes; a single trailing comma
// (common before a continuation line) is allowed.
std::vector<std::string_view> split_members(std::string_view list) {
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  while (true) {
    std::size_t comma = find_unquoted(list, ',', pos);
    parts.push_back(core::trim(list.substr(pos, comma == npos ? npos : comma - pos)));
    if (comma == npos) break;
    pos = comma + 1;
  }
  if (parts.size() > 1 && parts.back().empty()) parts.pop_back();
  return parts;
}

// Joins sendmail-style continuation lines (starting with a blank) to the
// line above; blank lines end an entry.
std::vector<SourceLine> join_continuations(const std::vector<SourceLine>& lines, Diagnostics& diags) {
  std::vector<SourceLine> out;
  bool open = false;
  for (const auto& line : lines) {
    if (line.blank()) {
      open = false;
      continue;
    }
    if (core::is_blank(line.text.front())) {
      if (!open) {
        diags.error(line.where, "indented line continues nothing (an alias line starts in column 1)");
        continue;
      }
      out.back().text += " " + std::string(core::trim(line.text));
      continue;
    }
    out.push_back(line);
    open = true;
  }
  return out;
}

void expand_into(const Aliases& aliases, std::string_view address, std::string_view local_domain,
                 std::vector<const AliasEntry*>& path, std::set<std::string>& seen,
                 std::vector<std::string>& out) {
  const AliasEntry* entry = aliases.find(address, local_domain);
  if (entry && std::find(path.begin(), path.end(), entry) == path.end()) {
    path.push_back(entry);
    for (const auto& m : entry->members) expand_into(aliases, m, local_domain, path, seen, out);
    path.pop_back();
    return;
  }
  std::string final_address = qualify(address, local_domain);
  if (seen.insert(core::to_lower(final_address)).second) out.push_back(std::move(final_address));
}

}  // namespace

const AliasEntry* Aliases::find(std::string_view address, std::string_view local_domain) const {
  std::string key = core::to_lower(strip_angles(address));
  auto hit = [&](const std::string& k) -> const AliasEntry* {
    auto it = by_name.find(k);
    return it == by_name.end() ? nullptr : &entries[it->second];
  };
  if (auto e = hit(key)) return e;
  if (local_domain.empty()) return nullptr;
  auto at = rfind_at(key);
  if (at == npos) return hit(key + "@" + core::to_lower(local_domain));
  if (core::iequals(std::string_view(key).substr(at + 1), local_domain)) return hit(key.substr(0, at));
  return nullptr;
}

ReadOptions aliases_read_options() {
  ReadOptions r;
  r.comment_chars = "!";
  r.continuation = true;
  r.includes = true;
  r.max_include_depth = 3;
  return r;
}

Aliases parse_aliases(const std::vector<SourceLine>& lines, Diagnostics& diags,
                      std::string_view local_domain) {
  Aliases aliases;
  std::map<std::string, std::size_t> canonical;  // canonical name -> entry index
  for (const auto& line : join_continuations(lines, diags)) {
    std::string_view text = core::trim(line.text);
    std::size_t colon = find_unquoted(text, ':');
    if (colon == npos) {
      diags.error(line.where, "expected \"name: address, ...\", found no \":\"");
      continue;
    }
    std::string_view name = core::trim(text.substr(0, colon));
    std::string_view list = core::trim(text.substr(colon + 1));
    if (name.empty()) {
      diags.error(line.where, "empty alias name");
      continue;
    }
    if (find_unquoted(name, ' ') != npos || find_unquoted(name, '\t') != npos ||
        find_unquoted(name, ',') != npos || !quotes_balanced(name)) {
      diags.error(line.where, "malformed alias name \"" + std::string(name) + "\"");
      continue;
    }
    if (list.empty()) {
      diags.error(line.where, "alias " + std::string(name) + " expands to nothing");
      continue;
    }
    AliasEntry entry;
    entry.name = core::to_lower(name);
    entry.where = line.where;
    bool bad = false;
    for (auto member : split_members(list)) {
      if (member.empty()) {
        diags.error(line.where, "alias " + std::string(name) + ": empty address in the list");
        bad = true;
        continue;
      }
      if (auto problem = check_member(member); !problem.empty()) {
        diags.error(line.where, "alias " + std::string(name) + ": " + problem);
        bad = true;
        continue;
      }
      entry.members.emplace_back(member);
    }
    std::string key = canonical_name(name, local_domain);
    if (auto same = canonical.find(key); same != canonical.end()) {
      diags.error(line.where, "alias " + std::string(name) + " is defined twice (first at " +
                                  aliases.entries[same->second].where.str() + ")");
      continue;
    }
    if (bad) continue;
    canonical.emplace(key, aliases.entries.size());
    aliases.by_name.emplace(entry.name, aliases.entries.size());
    aliases.entries.push_back(std::move(entry));
  }
  check_alias_loops(aliases, local_domain, diags);
  return aliases;
}

void check_alias_loops(const Aliases& aliases, std::string_view local_domain, Diagnostics& diags) {
  const auto& entries = aliases.entries;
  enum class Mark { unvisited, on_path, done };
  std::vector<Mark> mark(entries.size(), Mark::unvisited);
  std::vector<std::size_t> path;
  std::set<std::vector<std::size_t>> reported;

  auto index_of = [&](const AliasEntry* e) { return static_cast<std::size_t>(e - entries.data()); };
  // Depth-first walk; an edge back to an alias on the current path closes a loop.
  auto visit = [&](auto&& self, std::size_t i) -> void {
    mark[i] = Mark::on_path;
    path.push_back(i);
    for (const auto& m : entries[i].members) {
      const AliasEntry* target = aliases.find(m, local_domain);
      if (!target) continue;
      std::size_t j = index_of(target);
      if (j == i) continue;  // naming itself: "deliver here too"
      if (mark[j] == Mark::on_path) {
        auto start = std::find(path.begin(), path.end(), j);
        std::vector<std::size_t> loop(start, path.end());
        std::vector<std::size_t> key = loop;
        std::sort(key.begin(), key.end());
        if (!reported.insert(key).second) continue;
        // Start the chain at the alias written first in the file.
        std::rotate(loop.begin(), std::min_element(loop.begin(), loop.end()), loop.end());
        std::string chain;
        for (std::size_t k : loop) chain += entries[k].name + " -> ";
        chain += entries[loop.front()].name;
        diags.error(entries[loop.front()].where, "alias loop: " + chain);
      } else if (mark[j] == Mark::unvisited) {
        self(self, j);
      }
    }
    path.pop_back();
    mark[i] = Mark::done;
  };
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (mark[i] == Mark::unvisited) visit(visit, i);
}

std::vector<std::string> expand_alias(const Aliases& aliases, std::string_view address,
                                      std::string_view local_domain) {
  std::vector<const AliasEntry*> path;
  std::set<std::string> seen;
  std::vector<std::string> out;
  expand_into(aliases, address, local_domain, path, seen, out);
  return out;
}

void write_image(ImageWriter& out, const Aliases& aliases) {
  out.list(aliases.entries, [](ImageWriter& w, const AliasEntry& e) {
    w.str(e.name);
    w.strings(e.members);
    w.location(e.where);
  });
}

Aliases read_aliases(ImageReader& in) {
  Aliases aliases;
  aliases.entries = in.list<AliasEntry>([](ImageReader& r) {
    AliasEntry e;
    e.name = r.str();
    e.members = r.strings();
    e.where = r.location();
    return e;
  });
  for (std::size_t i = 0; i < aliases.entries.size(); ++i)
    aliases.by_name.emplace(aliases.entries[i].name, i);
  return aliases;
}

}  // namespace imta::config
