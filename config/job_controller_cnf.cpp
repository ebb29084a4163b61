#include "config/job_controller_cnf.hpp"

#include <algorithm>
#include <limits>

#include "core/text.hpp"

namespace imta::config {

namespace {

constexpr std::int64_t no_max = std::numeric_limits<std::int64_t>::max();

constexpr OptionSpec integer(std::string_view name, std::int64_t def, std::int64_t min,
                             std::int64_t max, unsigned scopes, std::string_view doc) {
  return OptionSpec{.name = name, .type = OptionType::integer, .default_integer = def,
                    .min = min, .max = max, .implemented = false, .doc = doc, .scopes = scopes};
}

std::optional<int> parse_clock_time(std::string_view value) {
  auto colon = value.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2) return std::nullopt;
  std::string_view hh = value.substr(0, colon), mm = value.substr(colon + 1);
  auto digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(hh) || mm.size() != 2 || !digits(mm)) return std::nullopt;
  int h = std::stoi(std::string(hh)), m = std::stoi(std::string(mm));
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

std::string check_clock_time(std::string_view value) {
  if (parse_clock_time(value)) return {};
  return "\"" + std::string(value) + "\" is not a time of day HH:MM (00:00 to 23:59)";
}

constexpr unsigned channel_scopes = scope_global | scope_channel;

/// The options the job controller (queue/job_controller.cpp) acts on.
constexpr OptionSpec acted_on(OptionSpec spec) {
  spec.implemented = true;
  return spec;
}

const OptionSpec job_controller_specs[] = {
    integer("TCP_PORT", 27442, 1, 65535, scope_global,
            "compatibility: imta is notified through run/ (a Unix socket)"),
    OptionSpec{.name = "INTERFACE_ADDRESS", .type = OptionType::text,
               .doc = "compatibility: address for TCP_PORT", .scopes = scope_global,
               .check = check_interface_address},
    OptionSpec{.name = "SECRET", .type = OptionType::text,
               .doc = "compatibility: shared secret of TCP_PORT clients (never listed)",
               .scopes = scope_global, .secret = true},
    acted_on(integer("DEBUG", 0, std::numeric_limits<std::int64_t>::min(), no_max, scope_global,
                     "nonzero: a line per delivery attempt and recipient in imtad's log")),
    integer("MAX_MESSAGES", 100000, 1, no_max, scope_global,
            "most message files kept in the queue cache"),
    acted_on(integer("SYNCH_TIME", 300, 10, 86400, scope_global,
                     "seconds between rescans of the queue folders")),
    integer("REBUILD_PARALLEL_CHANNEL", 12, 1, 100, scope_global,
            "channels scanned in parallel when the queue cache is rebuilt"),
    OptionSpec{.name = "RETURN_TIME", .type = OptionType::text, .default_text = "00:30", .implemented = true,
               .doc = "time of day (HH:MM) of the nightly return job", .scopes = scope_global,
               .check = check_clock_time},
    acted_on(integer("JOB_LIMIT", 10, 1, 10000, scope_global | scope_pool,
                     "most jobs running at once in a pool")),
    OptionSpec{.name = "MASTER_COMMAND", .type = OptionType::text,
               .doc = "program that delivers the channel's messages", .scopes = channel_scopes,
               .default_note = "empty, meaning imta's own master for the channel"},
    OptionSpec{.name = "SLAVE_COMMAND", .type = OptionType::text, .default_text = "NULL",
               .doc = "program that polls for the channel's incoming mail (NULL = none)",
               .scopes = channel_scopes},
    acted_on(integer("MAX_LIFE_AGE", 3600, 0, no_max, channel_scopes,
                     "seconds a master may keep asking for more work (0 = no limit)")),
    acted_on(integer("MAX_LIFE_CONNS", 0, 0, no_max, channel_scopes,
                     "message files a master may ask for before it exits (0 = no limit)")),
    integer("ANON_HOST", 0, 0, 1, channel_scopes,
            "1 = hide host names in the job controller's records"),
};

const OptionRegistry registry{RegistryKind::job_controller, "job controller option",
                              job_controller_specs};

constexpr SectionKind section_kinds[] = {{"POOL", scope_pool, "pool"},
                                         {"CHANNEL", scope_channel, "channel section", true}};

std::string unknown_section(std::string_view kind) {
  std::string hint = kind == "PERIODIC_JOB"
                         ? " (periodic jobs are not supported: RETURN_TIME schedules the return job)"
                         : "";
  return "unknown section [" + std::string(kind) +
         "=...]; job_controller.cnf has [POOL=name] and [CHANNEL=pattern] sections" + hint;
}

bool has_wildcard(std::string_view s) {
  return s.find_first_of("*?") != std::string_view::npos;
}

// Channel sections apply first match first: a plain name after a pattern
// that matches it can never apply.
void warn_shadowed(const SectionHeader& header, const SourceLocation& where,
                   const std::vector<OptionSection>& earlier, Diagnostics& diags) {
  if (header.kind != "CHANNEL" || has_wildcard(header.name)) return;
  for (const auto& s : earlier)
    if (s.kind->scope == scope_channel && wildcard_match(s.name, header.name))
      diags.warning(where, "section [CHANNEL=" + header.name + "] never applies: [CHANNEL=" + s.name +
                               "] at " + s.where.str() + " matches first");
}

const SectionedFormat format{registry, section_kinds, unknown_section, warn_shadowed};

ChannelJobConfig resolve_channel(std::string pattern, SourceLocation where, const Options& globals,
                                 Options section) {
  ChannelJobConfig c;
  c.pattern = std::move(pattern);
  c.where = std::move(where);
  c.section = std::move(section);
  Options o = globals;
  o.overlay(c.section);
  c.master_command = o.text("MASTER_COMMAND");
  c.slave_command = core::iequals(o.text("SLAVE_COMMAND"), "NULL") ? "" : o.text("SLAVE_COMMAND");
  c.max_life_age = o.integer("MAX_LIFE_AGE");
  c.max_life_conns = o.integer("MAX_LIFE_CONNS");
  c.anon_host = o.integer("ANON_HOST") != 0;
  return c;
}

PoolConfig resolve_pool(std::string name, SourceLocation where, const Options& globals,
                        Options section) {
  PoolConfig p;
  p.name = std::move(name);
  p.where = std::move(where);
  p.section = std::move(section);
  Options o = globals;
  o.overlay(p.section);
  p.job_limit = static_cast<int>(o.integer("JOB_LIMIT"));
  return p;
}

void resolve_globals(JobControllerConfig& c) {
  const Options& o = c.globals;
  c.tcp_port = static_cast<int>(o.integer("TCP_PORT"));
  const auto& address = o.text("INTERFACE_ADDRESS");
  c.interface_address = address.empty() || core::iequals(address, "ANY") ? "" : canonical_ip(address);
  c.secret = o.text("SECRET");
  c.debug = o.integer("DEBUG");
  c.max_messages = o.integer("MAX_MESSAGES");
  c.synch_time = static_cast<int>(o.integer("SYNCH_TIME"));
  c.rebuild_parallel_channel = static_cast<int>(o.integer("REBUILD_PARALLEL_CHANNEL"));
  c.return_time = parse_clock_time(o.text("RETURN_TIME")).value_or(30);
  c.defaults = resolve_channel("", {}, o, Options(registry));
}

std::string pool_names(const JobControllerConfig& config) {
  std::string names;
  for (const auto& p : config.pools) names += (names.empty() ? "" : ", ") + p.name;
  return names.empty() ? "none" : names;
}

}  // namespace

const OptionRegistry& job_controller_registry() { return registry; }

bool wildcard_match(std::string_view pattern, std::string_view name) {
  // Iterative match with backtracking to the last `*`: linear in practice and
  // never recursive, whatever the pattern.
  std::size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  auto same = [](char a, char b) { return core::iequals(std::string_view(&a, 1), std::string_view(&b, 1)); };
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || (pattern[p] != '*' && same(pattern[p], name[n])))) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const ChannelJobConfig* JobControllerConfig::for_channel(std::string_view channel) const {
  for (const auto& c : channels)
    if (wildcard_match(c.pattern, channel)) return &c;
  return nullptr;
}

const ChannelJobConfig& JobControllerConfig::settings_for(std::string_view channel) const {
  const ChannelJobConfig* c = for_channel(channel);
  return c ? *c : defaults;
}

const PoolConfig* JobControllerConfig::pool(std::string_view name) const {
  for (const auto& p : pools)
    if (core::iequals(p.name, name)) return &p;
  return nullptr;
}

const PoolConfig* JobControllerConfig::default_pool() const {
  return pools.empty() ? nullptr : &pools.front();
}

const PoolConfig* JobControllerConfig::pool_for(std::string_view pool_keyword) const {
  return pool_keyword.empty() ? default_pool() : pool(pool_keyword);
}

JobControllerConfig parse_job_controller_cnf(const std::vector<SourceLine>& lines,
                                             Diagnostics& diags) {
  JobControllerConfig config;
  auto sections = parse_sectioned_options(lines, format, config.globals, diags);
  resolve_globals(config);
  for (auto& s : sections) {
    if (s.kind->scope == scope_pool)
      config.pools.push_back(resolve_pool(std::move(s.name), std::move(s.where), config.globals,
                                          std::move(s.options)));
    else
      config.channels.push_back(resolve_channel(std::move(s.name), std::move(s.where),
                                                config.globals, std::move(s.options)));
  }
  bool empty_file = std::all_of(lines.begin(), lines.end(), [](const SourceLine& l) { return l.blank(); });
  if (config.pools.empty() && empty_file) {
    // No file (or nothing in it) means "nothing configured": one default pool.
    config.pools.push_back(resolve_pool("DEFAULT", {}, config.globals, Options(registry)));
  } else if (config.pools.empty()) {
    SourceLocation file{lines.empty() ? SourceFile("job_controller.cnf") : lines.front().where.file, 0};
    diags.error(file, "no [POOL=name] section: at least one pool is needed (the first is the default)");
  }
  return config;
}

void check_channel_pools(const JobControllerConfig& config,
                         const std::vector<ChannelPoolUse>& channels, Diagnostics& diags) {
  for (const auto& use : channels) {
    if (config.pool_for(use.pool)) continue;
    if (use.pool.empty()) continue;  // no pools at all: parse_job_controller_cnf said so
    diags.error(use.where, "channel " + use.channel + " names pool " + use.pool +
                               ", which job_controller.cnf does not define (pools: " +
                               pool_names(config) + ")");
  }
}

void warn_unimplemented(const JobControllerConfig& config, Diagnostics& diags) {
  warn_unimplemented(config.globals, diags);
  for (const auto& p : config.pools) warn_unimplemented(p.section, diags);
  for (const auto& c : config.channels) warn_unimplemented(c.section, diags);
}

void write_image(ImageWriter& out, const JobControllerConfig& config) {
  write_image(out, config.globals);
  auto section = [](ImageWriter& w, const std::string& name, const SourceLocation& where,
                    const Options& options) {
    w.str(name);
    w.location(where);
    write_image(w, options);
  };
  out.list(config.pools, [&](ImageWriter& w, const PoolConfig& p) { section(w, p.name, p.where, p.section); });
  out.list(config.channels,
           [&](ImageWriter& w, const ChannelJobConfig& c) { section(w, c.pattern, c.where, c.section); });
}

JobControllerConfig read_job_controller_config(ImageReader& in) {
  JobControllerConfig config;
  config.globals = read_options(in, registry);
  resolve_globals(config);
  struct Raw {
    std::string name;
    SourceLocation where;
    Options options;
  };
  auto raw = [](ImageReader& r) {
    std::string name = r.str();
    SourceLocation where = r.location();
    return Raw{std::move(name), std::move(where), read_options(r, registry)};
  };
  for (auto& p : in.list<Raw>(raw))
    config.pools.push_back(resolve_pool(std::move(p.name), std::move(p.where), config.globals,
                                        std::move(p.options)));
  for (auto& c : in.list<Raw>(raw))
    config.channels.push_back(resolve_channel(std::move(c.name), std::move(c.where),
                                              config.globals, std::move(c.options)));
  return config;
}

}  // namespace imta::config
