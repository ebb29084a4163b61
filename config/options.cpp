#include "config/options.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <tuple>

#include "core/text.hpp"

namespace imta::config {

namespace {

bool is_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-';
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      bool same = core::iequals(a.substr(i - 1, 1), b.substr(j - 1, 1));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string scope_phrase(Scope scope) {
  switch (scope) {
    case scope_global: return "before the first section";
    case scope_service: return "in a [SERVICE=...] section";
    case scope_pool: return "in a [POOL=...] section";
    case scope_channel: return "in a [CHANNEL=...] section";
  }
  return "here";
}

std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> items;
  std::size_t pos = 0;
  while (pos <= value.size()) {
    std::size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    items.emplace_back(core::trim(value.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  return items;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

std::string value_text(const OptionSpec& spec, const Options::Slot& slot) {
  switch (spec.type) {
    case OptionType::integer: return std::to_string(slot.integer);
    case OptionType::text: return slot.text;
    case OptionType::list: return join(slot.items);
  }
  return {};
}

Options::Slot default_slot(const OptionSpec& spec) {
  Options::Slot slot;
  slot.integer = spec.default_integer;
  slot.text = std::string(spec.default_text);
  if (spec.type == OptionType::list && !spec.default_text.empty())
    slot.items = split_list(spec.default_text);
  return slot;
}

}  // namespace

// ---- registry ---------------------------------------------------------------

const OptionSpec* OptionRegistry::find(std::string_view name) const {
  for (const auto& spec : specs)
    if (core::iequals(spec.name, name)) return &spec;
  return nullptr;
}

std::string_view OptionRegistry::suggest(std::string_view unknown) const {
  // Allow about one slip per three characters, never more than three: closer
  // than that, a suggestion helps; further, it only confuses.
  std::size_t limit = std::clamp<std::size_t>(unknown.size() / 3, 1, 3);
  std::string_view best;
  std::size_t best_distance = limit + 1;
  for (const auto& spec : specs) {
    std::size_t d = edit_distance(unknown, spec.name);
    if (d < best_distance) {
      best = spec.name;
      best_distance = d;
    }
  }
  return best;
}

// ---- Options ----------------------------------------------------------------

Options::Options(const OptionRegistry& registry) : registry_(&registry) {
  slots_.reserve(registry.specs.size());
  for (const auto& spec : registry.specs) slots_.push_back(default_slot(spec));
}

std::size_t Options::index(std::string_view name) const {
  const OptionSpec* spec = registry_->find(name);
  if (spec && !spec->synonym_of.empty()) spec = registry_->find(spec->synonym_of);
  if (!spec)
    throw std::logic_error("no " + std::string(registry_->noun) + " " + std::string(name));
  return static_cast<std::size_t>(spec - registry_->specs.data());
}

const Options::Slot& Options::slot(std::string_view name, OptionType type) const {
  std::size_t i = index(name);
  if (registry_->specs[i].type != type)
    throw std::logic_error("option " + std::string(name) + " read through the wrong type");
  return slots_[i];
}

std::int64_t Options::integer(std::string_view name) const {
  return slot(name, OptionType::integer).integer;
}

const std::string& Options::text(std::string_view name) const {
  return slot(name, OptionType::text).text;
}

const std::vector<std::string>& Options::list(std::string_view name) const {
  return slot(name, OptionType::list).items;
}

bool Options::is_set(std::string_view name) const { return slots_[index(name)].where.has_value(); }

std::optional<SourceLocation> Options::where(std::string_view name) const {
  return slots_[index(name)].where;
}

void Options::assign(std::string_view name, std::string_view value, const SourceLocation& at,
                     Scope scope, Diagnostics& diags) {
  const OptionSpec* written = registry_->find(name);
  if (!written) {
    std::string message = "unknown " + std::string(registry_->noun) + " " + core::to_upper(name);
    // LOG_BANNER in option.dat, BLOCK_SIZE in tcp_local_option: say where it belongs.
    bool global_file = registry_->kind == RegistryKind::option_dat;
    bool channel_file = registry_->kind == RegistryKind::channel_option;
    if (global_file && channel_option_registry().find(name))
      message += " (it is a <channel>_option option)";
    else if (channel_file && option_dat_registry().find(name))
      message += " (it is an option.dat option)";
    else if (auto close = registry_->suggest(name); !close.empty())
      message += " (did you mean " + std::string(close) + "?)";
    diags.error(at, std::move(message));
    return;
  }
  if (!(written->scopes & scope)) {
    diags.error(at, std::string(written->name) + " is not allowed " + scope_phrase(scope));
    return;
  }
  std::size_t i = index(written->name);
  const OptionSpec& spec = registry_->specs[i];
  Slot& slot = slots_[i];
  std::string label(written->name);
  value = core::trim(value);

  Slot parsed = slot;
  switch (spec.type) {
    case OptionType::integer: {
      auto number = core::parse_integer(value);
      if (!number) {
        diags.error(at, label + ": \"" + std::string(value) + "\" is not an integer");
        return;
      }
      if (*number < spec.min || *number > spec.max) {
        std::string range = spec.max == std::numeric_limits<std::int64_t>::max()
                                ? "at least " + std::to_string(spec.min)
                                : std::to_string(spec.min) + " to " + std::to_string(spec.max);
        diags.error(at, label + "=" + std::to_string(*number) + " is out of range (" + range + ")");
        return;
      }
      parsed.integer = *number;
      break;
    }
    case OptionType::text:
      if (spec.check) {
        if (auto problem = spec.check(value); !problem.empty()) {
          diags.error(at, label + ": " + problem);
          return;
        }
      }
      parsed.text = std::string(value);
      break;
    case OptionType::list: {
      std::vector<std::string> items;
      if (!value.empty()) items = split_list(value);
      bool bad = false;
      for (const auto& item : items) {
        if (item.empty()) {
          diags.error(at, label + ": empty entry in the list");
          bad = true;
        } else if (spec.check) {
          if (auto problem = spec.check(item); !problem.empty()) {
            diags.error(at, label + ": " + problem);
            bad = true;
          }
        }
      }
      if (bad) return;
      if (spec.repeatable && slot.where)
        items.insert(items.begin(), slot.items.begin(), slot.items.end());
      if (static_cast<std::int64_t>(items.size()) > spec.max) {
        diags.error(at, label + ": more than " + std::to_string(spec.max) + " entries");
        return;
      }
      parsed.items = std::move(items);
      break;
    }
  }
  if (slot.where && !(spec.type == OptionType::list && spec.repeatable)) {
    std::string same = written == &spec ? "" : " (" + std::string(spec.name) + ")";
    diags.warning(at, label + same + " is set again (first at " + slot.where->str() +
                          "); the later value wins");
  }
  parsed.where = at;
  slot = std::move(parsed);
}

void Options::overlay(const Options& over) {
  if (over.registry_ != registry_) throw std::logic_error("overlay of another registry");
  for (std::size_t i = 0; i < slots_.size(); ++i)
    if (over.slots_[i].where) slots_[i] = over.slots_[i];
}

// ---- reading files ----------------------------------------------------------

ReadOptions option_file_read_options() {
  ReadOptions r;
  r.comment_chars = "!#;";
  r.continuation = true;
  return r;
}

std::optional<Assignment> split_assignment(const SourceLine& line, Diagnostics& diags) {
  std::string_view text = line.text;
  auto eq = text.find('=');
  if (eq == std::string_view::npos) {
    diags.error(line.where, "expected NAME=value, found \"" + std::string(core::trim(text)) + "\"");
    return std::nullopt;
  }
  std::string_view name = core::trim(text.substr(0, eq));
  if (name.empty()) {
    diags.error(line.where, "option name missing before \"=\"");
    return std::nullopt;
  }
  if (!std::all_of(name.begin(), name.end(), is_name_char)) {
    diags.error(line.where, "malformed option name \"" + std::string(name) + "\"");
    return std::nullopt;
  }
  return Assignment{name, core::trim(text.substr(eq + 1))};
}

bool looks_like_section(const SourceLine& line) {
  auto text = core::trim(line.text);
  return !text.empty() && text.front() == '[';
}

std::optional<SectionHeader> parse_section_header(const SourceLine& line, Diagnostics& diags) {
  std::string_view text = core::trim(line.text);
  auto fail = [&](const std::string& why) {
    diags.error(line.where, "malformed section header \"" + std::string(text) + "\": " + why);
    return std::nullopt;
  };
  auto close = text.find(']');
  if (close == std::string_view::npos) return fail("no closing \"]\"");
  if (!core::trim(text.substr(close + 1)).empty()) return fail("text after \"]\"");
  std::string_view inside = text.substr(1, close - 1);
  auto eq = inside.find('=');
  if (eq == std::string_view::npos) return fail("expected [KIND=name]");
  std::string_view kind = core::trim(inside.substr(0, eq));
  std::string_view name = core::trim(inside.substr(eq + 1));
  if (kind.empty() || !std::all_of(kind.begin(), kind.end(), is_name_char))
    return fail("expected [KIND=name]");
  if (name.empty()) return fail("the section has no name");
  auto ok = [](char c) { return is_name_char(c) || c == '.' || c == '*' || c == '?'; };
  if (!std::all_of(name.begin(), name.end(), ok)) return fail("unexpected character in the name");
  return SectionHeader{core::to_upper(kind), std::string(name)};
}

std::vector<OptionSection> parse_sectioned_options(const std::vector<SourceLine>& lines,
                                                   const SectionedFormat& format, Options& globals,
                                                   Diagnostics& diags) {
  std::vector<OptionSection> sections;
  Options discard(format.registry);  // the lines of a rejected section are still checked
  Options* current = &globals;
  Scope scope = scope_global;
  for (const auto& line : lines) {
    if (line.blank()) continue;
    if (!looks_like_section(line)) {
      if (!current) continue;  // inside a section whose kind is unknown: one error is enough
      if (auto a = split_assignment(line, diags)) current->assign(a->name, a->value, line.where, scope, diags);
      continue;
    }
    auto header = parse_section_header(line, diags);
    discard = Options(format.registry);
    current = nullptr;
    if (!header) continue;
    auto kind = std::find_if(format.kinds.begin(), format.kinds.end(),
                             [&](const SectionKind& k) { return k.kind == header->kind; });
    if (kind == format.kinds.end()) {
      diags.error(line.where, format.unknown_kind(header->kind));
      continue;
    }
    scope = kind->scope;
    current = &discard;
    if (!kind->wildcards && header->name.find_first_of("*?") != std::string::npos) {
      diags.error(line.where, std::string(kind->noun) + " name " + header->name + " contains a wildcard");
      continue;
    }
    auto same = std::find_if(sections.begin(), sections.end(), [&](const OptionSection& s) {
      return s.kind == &*kind && core::iequals(s.name, header->name);
    });
    if (same != sections.end()) {
      diags.error(line.where, std::string(kind->noun) + " " + header->name +
                                  " is defined twice (first at " + same->where.str() + ")");
      continue;
    }
    if (format.check_new) format.check_new(*header, line.where, sections, diags);
    sections.push_back(OptionSection{&*kind, header->name, line.where, Options(format.registry)});
    current = &sections.back().options;
  }
  return sections;
}

Options parse_options(const std::vector<SourceLine>& lines, const OptionRegistry& registry,
                      Diagnostics& diags) {
  Options options(registry);
  for (const auto& line : lines) {
    if (line.blank()) continue;
    if (auto a = split_assignment(line, diags))
      options.assign(a->name, a->value, line.where, scope_global, diags);
  }
  return options;
}

void warn_unimplemented(const Options& options, Diagnostics& diags) {
  const auto& specs = options.registry().specs;
  std::vector<std::pair<SourceLocation, std::string_view>> found;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& slot = options.slots()[i];
    if (slot.where && !specs[i].implemented) found.emplace_back(*slot.where, specs[i].name);
  }
  // In the order of the file, as an administrator reads it.
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.file, a.first.line) < std::tie(b.first.file, b.first.line);
  });
  for (const auto& [where, name] : found)
    diags.warning(where, std::string(name) + " is accepted but not acted on yet by this version of imta");
}

// ---- listing and documentation ----------------------------------------------

std::vector<OptionListing> list_options(const Options& options) {
  std::vector<OptionListing> rows;
  const auto& specs = options.registry().specs;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& spec = specs[i];
    if (!spec.synonym_of.empty()) continue;
    const auto& slot = options.slots()[i];
    OptionListing row;
    row.name = std::string(spec.name);
    row.value = spec.secret && !value_text(spec, slot).empty() ? "(secret)" : value_text(spec, slot);
    row.origin = slot.where ? slot.where->str() : "default";
    row.implemented = spec.implemented;
    row.doc = spec.doc;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string format_options(const Options& options) {
  auto rows = list_options(options);
  std::size_t setting_width = 0, origin_width = 0;
  for (const auto& r : rows) {
    setting_width = std::max(setting_width, r.name.size() + 1 + r.value.size());
    origin_width = std::max(origin_width, r.origin.size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string setting = r.name + "=" + r.value;
    out += setting + std::string(setting_width - setting.size() + 2, ' ');
    out += r.origin + std::string(origin_width - r.origin.size() + 2, ' ');
    if (!r.implemented) out += "(not acted on yet) ";
    out += std::string(r.doc) + "\n";
  }
  return out;
}

std::vector<std::string> man_summary(const OptionSpec& spec, const OptionRegistry& registry) {
  if (!spec.synonym_of.empty()) return {"Another name for " + std::string(spec.synonym_of) + "."};
  std::vector<std::string> lines;
  std::string kind;
  std::string def;
  switch (spec.type) {
    case OptionType::integer:
      if (spec.min == std::numeric_limits<std::int64_t>::min())
        kind = "Integer";
      else if (spec.max == std::numeric_limits<std::int64_t>::max())
        kind = "Integer, at least " + std::to_string(spec.min);
      else
        kind = "Integer from " + std::to_string(spec.min) + " to " + std::to_string(spec.max);
      def = std::to_string(spec.default_integer);
      break;
    case OptionType::text:
      kind = "Text";
      def = spec.default_text.empty() ? "empty" : "\"" + std::string(spec.default_text) + "\"";
      break;
    case OptionType::list:
      kind = "Comma-separated list of at most " + std::to_string(spec.max) + " entries";
      def = spec.default_text.empty() ? "empty" : "\"" + std::string(spec.default_text) + "\"";
      break;
  }
  if (!spec.default_note.empty()) def = std::string(spec.default_note);
  lines.push_back(kind + "; default " + def + ".");
  if (registry.kind == RegistryKind::dispatcher || registry.kind == RegistryKind::job_controller) {
    std::vector<std::string> places;
    if (spec.scopes & scope_global) places.push_back("before the first section");
    if (spec.scopes & scope_service) places.push_back("in [SERVICE=...]");
    if (spec.scopes & scope_pool) places.push_back("in [POOL=...]");
    if (spec.scopes & scope_channel) places.push_back("in [CHANNEL=...]");
    std::string where = places.size() == 1 ? "Allowed only " : "Allowed ";
    for (std::size_t i = 0; i < places.size(); ++i)
      where += (i == 0 ? "" : i + 1 == places.size() ? " and " : ", ") + places[i];
    lines.push_back(where + ".");
  }
  lines.push_back(spec.implemented ? "Acted on." : "Not acted on yet.");
  return lines;
}

// ---- image ------------------------------------------------------------------

void write_image(ImageWriter& out, const Options& options) {
  out.u8(static_cast<std::uint8_t>(options.registry().kind));
  const auto& specs = options.registry().specs;
  std::uint32_t count = 0;
  for (const auto& slot : options.slots()) count += slot.where ? 1 : 0;
  out.u32(count);
  // Names, not positions: an image stays readable when the registry grows.
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& slot = options.slots()[i];
    if (!slot.where) continue;
    out.str(specs[i].name);
    out.i64(slot.integer);
    out.str(slot.text);
    out.strings(slot.items);
    out.location(*slot.where);
  }
}

Options read_options(ImageReader& in, const OptionRegistry& registry) {
  if (in.u8() != static_cast<std::uint8_t>(registry.kind))
    throw ImageError("corrupt configuration image (option registry mismatch)");
  Options options(registry);
  std::uint32_t count = in.u32();
  for (std::uint32_t n = 0; n < count; ++n) {
    std::string_view name = in.view();
    Options::Slot slot;
    slot.integer = in.i64();
    slot.text = in.str();
    slot.items = in.strings();
    slot.where = in.location();
    const OptionSpec* spec = registry.find(name);
    if (!spec || !spec->synonym_of.empty())
      throw ImageError("configuration image names unknown option " + std::string(name));
    // The image was written from checked values, so they are stored as they are.
    options.slots_[static_cast<std::size_t>(spec - registry.specs.data())] = std::move(slot);
  }
  return options;
}

// ---- value checks -----------------------------------------------------------

bool is_ip_literal(std::string_view s) {
  std::string z(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, z.c_str(), buf) == 1 || inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

std::string canonical_ip(std::string_view s) {
  std::string z(s);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, z.c_str(), buf) == 1 && inet_ntop(AF_INET, buf, out, sizeof out))
    return out;
  if (inet_pton(AF_INET6, z.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, out, sizeof out))
    return out;
  return core::to_lower(s);
}

std::string check_interface_address(std::string_view value) {
  if (value.empty() || core::iequals(value, "ANY") || is_ip_literal(value)) return {};
  return "\"" + std::string(value) + "\" is not an IPv4 or IPv6 address (or ANY)";
}

std::string check_port(std::string_view value) {
  auto n = core::parse_integer(value);
  if (!n) return "\"" + std::string(value) + "\" is not a port number";
  if (*n < 1 || *n > 65535) return "port " + std::to_string(*n) + " is out of range (1 to 65535)";
  return {};
}

std::string check_mail_address(std::string_view value) {
  if (value.empty()) return {};
  auto at = value.rfind('@');
  bool blanks = std::any_of(value.begin(), value.end(),
                            [](char c) { return core::is_blank(c) || c == '<' || c == '>'; });
  if (at == std::string_view::npos || at == 0 || at + 1 == value.size() || blanks)
    return "\"" + std::string(value) + "\" is not an address of the form local@domain";
  return {};
}

std::optional<ServerAddress> parse_server_address(std::string_view s) {
  s = core::trim(s);
  ServerAddress server;
  std::string_view host = s, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {  // IPv4 with a port
    auto colon = s.find(':');
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  }
  if (!is_ip_literal(host)) return std::nullopt;
  server.address = canonical_ip(host);
  if (!port.empty()) {
    auto n = core::parse_integer(port);
    if (!n || *n < 1 || *n > 65535) return std::nullopt;
    server.port = static_cast<int>(*n);
  }
  return server;
}

std::string check_dns_server(std::string_view value) {
  if (parse_server_address(value)) return {};
  return "\"" + std::string(value) +
         "\" is not an address[:port] (IPv6 with a port: [address]:port)";
}

std::vector<ServerAddress> dns_servers(const Options& option_dat) {
  std::vector<ServerAddress> servers;
  for (const auto& item : option_dat.list("DNS_SERVERS"))
    if (auto s = parse_server_address(item)) servers.push_back(*s);
  return servers;
}

}  // namespace imta::config
