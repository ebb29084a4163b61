#include "config/dispatcher_cnf.hpp"

#include <algorithm>
#include <limits>

#include "core/text.hpp"

namespace imta::config {

namespace {

constexpr std::int64_t no_max = std::numeric_limits<std::int64_t>::max();
constexpr unsigned anywhere = scope_global | scope_service;

constexpr OptionSpec integer(std::string_view name, std::int64_t def, std::int64_t min,
                             std::int64_t max, std::string_view doc) {
  return OptionSpec{.name = name, .type = OptionType::integer, .default_integer = def,
                    .min = min, .max = max, .implemented = false, .doc = doc,
                    .scopes = anywhere};
}

/// An option some running code acts on (the rest wait for their issue).
constexpr OptionSpec acted_on(OptionSpec spec) {
  spec.implemented = true;
  return spec;
}

std::string check_parameter(std::string_view value) {
  if (!core::istarts_with(value, "CHANNEL="))
    return "\"" + std::string(value) + "\" is not of the form CHANNEL=name";
  std::string_view channel = core::trim(value.substr(8));
  if (channel.empty()) return "CHANNEL= names no channel";
  for (char c : channel)
    if (core::is_blank(c) || c == '=' || c == ',') return "malformed channel name";
  return {};
}

std::string check_domain(std::string_view value) {
  for (char c : value) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return "\"" + std::string(value) + "\" is not a domain name";
  }
  return {};
}

// Options the dispatcher and the SMTP server act on are marked acted_on.
const OptionSpec dispatcher_specs[] = {
    acted_on(OptionSpec{.name = "PORT", .type = OptionType::list, .max = 32,
               .doc = "TCP ports the service listens on", .scopes = scope_service,
               .check = check_port, .default_note = "none; every service must have one"}),
    acted_on(OptionSpec{.name = "TLS_PORT", .type = OptionType::list, .max = 32,
               .doc = "those of PORT served with implicit TLS (e.g. 465)",
               .scopes = scope_service, .check = check_port}),
    acted_on(OptionSpec{.name = "INTERFACE_ADDRESS", .type = OptionType::text,
               .doc = "IPv4 or IPv6 address to listen on (empty or ANY = every address)",
               .scopes = anywhere, .check = check_interface_address}),
    acted_on(OptionSpec{.name = "PARAMETER", .type = OptionType::text, .default_text = "CHANNEL=tcp_local",
               .doc = "CHANNEL=name: the channel whose SMTP server runs the sessions",
               .scopes = anywhere, .check = check_parameter}),
    acted_on(integer("WORKER_THREADS", 4, 1, 1024,
            "threads serving sessions, each with its own event loop")),
    OptionSpec{.name = "MAX_PROCS", .type = OptionType::integer, .min = 1, .max = 1024,
               .doc = "Sun name of WORKER_THREADS", .scopes = anywhere,
               .synonym_of = "WORKER_THREADS"},
    integer("MIN_PROCS", 0, 0, 1024, "compatibility: every worker thread starts at once"),
    integer("MIN_CONNS", 5, 1, 1000000,
            "compatibility: sessions always go to the least loaded thread"),
    acted_on(integer("MAX_CONNS", 1000, 1, 1000000, "most sessions one worker thread serves at once")),
    acted_on(OptionSpec{.name = "BACKLOG", .type = OptionType::integer, .min = 5, .max = 65535,
               .doc = "listen() backlog", .scopes = anywhere,
               .default_note = "MAX_CONNS times WORKER_THREADS, within 5 to 65535"}),
    integer("MAX_HANDOFFS", 5, 1, 10000, "most accepted sockets waiting for a worker at once"),
    integer("MAX_LIFE_TIME", 0, 0, no_max, "seconds before a worker is retired (0 = never)"),
    integer("MAX_LIFE_CONNS", 0, 0, no_max, "sessions before a worker is retired (0 = never)"),
    integer("MAX_IDLE_TIME", 0, 0, no_max, "idle seconds before a worker is retired (0 = never)"),
    integer("MAX_SHUTDOWN", 2, 0, 1024, "most workers retiring at once"),
    integer("STACKSIZE", 0, 0, no_max, "worker thread stack size in bytes (0 = system default)"),
    integer("DEBUG", 0, std::numeric_limits<std::int64_t>::min(), no_max,
            "debug bitmask for log/dispatcher.log (-1 = everything)"),
    integer("ENABLE_RBL", 0, 0, 1, "1 = check clients against DNS_VERIFY_DOMAIN blocklists"),
    OptionSpec{.name = "DNS_VERIFY_DOMAIN", .type = OptionType::list, .max = 5,
               .doc = "DNS blocklist zones checked at connect", .scopes = anywhere,
               .check = check_domain, .repeatable = true},
    integer("IDENT", 0, 0, 1, "1 = RFC 1413 ident query at connect"),
    integer("HISTORICAL_TIME", 0, 0, no_max, "seconds statistics of retired workers are kept"),
    OptionSpec{.name = "IMAGE", .type = OptionType::text,
               .doc = "compatibility: imta runs sessions inside the dispatcher",
               .scopes = anywhere},
    OptionSpec{.name = "LOGFILE", .type = OptionType::text,
               .doc = "file for the service's debug output", .scopes = anywhere,
               .default_note = "empty, meaning log/dispatcher.log"},
    acted_on(integer("COMMAND_TIMEOUT", 300, 1, 86400, "seconds to wait for the client's next command")),
    acted_on(integer("DATA_TIMEOUT", 180, 1, 86400, "seconds to wait for the next piece of DATA/BDAT")),
    acted_on(integer("DOT_TIMEOUT", 600, 1, 86400,
                     "seconds from DATA (or the first BDAT) to the end of the message data")),
};

const OptionRegistry registry{RegistryKind::dispatcher, "dispatcher option", dispatcher_specs};

constexpr SectionKind section_kinds[] = {{"SERVICE", scope_service, "service"}};

std::string unknown_section(std::string_view kind) {
  return "unknown section [" + std::string(kind) + "=...]; dispatcher.cnf has only [SERVICE=name] sections";
}

const SectionedFormat format{registry, section_kinds, unknown_section};

int as_int(std::int64_t v) { return static_cast<int>(v); }

std::vector<int> ports_of(const std::vector<std::string>& items) {
  std::vector<int> ports;
  for (const auto& item : items)
    if (auto n = core::parse_integer(item)) ports.push_back(as_int(*n));
  return ports;
}

// Values were range-checked on assignment, so only derived values are computed here.
ServiceConfig resolve(std::string name, SourceLocation where, const Options& globals,
                      Options section) {
  ServiceConfig s;
  s.name = std::move(name);
  s.where = std::move(where);
  s.section = std::move(section);
  Options o = globals;
  o.overlay(s.section);
  s.ports = ports_of(o.list("PORT"));
  s.tls_ports = ports_of(o.list("TLS_PORT"));
  const auto& address = o.text("INTERFACE_ADDRESS");
  s.interface_address = address.empty() || core::iequals(address, "ANY") ? "" : canonical_ip(address);
  const auto& parameter = o.text("PARAMETER");
  s.channel = core::to_lower(core::trim(std::string_view(parameter).substr(8)));
  s.worker_threads = as_int(o.integer("WORKER_THREADS"));
  s.min_procs = as_int(o.integer("MIN_PROCS"));
  s.min_conns = as_int(o.integer("MIN_CONNS"));
  s.max_conns = as_int(o.integer("MAX_CONNS"));
  if (o.is_set("BACKLOG")) {
    s.backlog = as_int(o.integer("BACKLOG"));
  } else {
    std::int64_t product = std::int64_t{s.max_conns} * s.worker_threads;
    s.backlog = as_int(std::clamp<std::int64_t>(product, 5, 65535));
  }
  s.max_handoffs = as_int(o.integer("MAX_HANDOFFS"));
  s.max_life_time = o.integer("MAX_LIFE_TIME");
  s.max_life_conns = o.integer("MAX_LIFE_CONNS");
  s.max_idle_time = o.integer("MAX_IDLE_TIME");
  s.max_shutdown = as_int(o.integer("MAX_SHUTDOWN"));
  s.stacksize = o.integer("STACKSIZE");
  s.debug = o.integer("DEBUG");
  s.enable_rbl = o.integer("ENABLE_RBL") != 0;
  s.dns_verify_domains = o.list("DNS_VERIFY_DOMAIN");
  s.ident = o.integer("IDENT") != 0;
  s.historical_time = o.integer("HISTORICAL_TIME");
  s.image = o.text("IMAGE");
  s.logfile = o.text("LOGFILE");
  s.command_timeout = as_int(o.integer("COMMAND_TIMEOUT"));
  s.data_timeout = as_int(o.integer("DATA_TIMEOUT"));
  s.dot_timeout = as_int(o.integer("DOT_TIMEOUT"));
  return s;
}

SourceLocation where_set(const Options& globals, const ServiceConfig& s, std::string_view name) {
  if (auto w = s.section.where(name)) return *w;
  if (auto w = globals.where(name)) return *w;
  return s.where;
}

std::string address_phrase(const std::string& address) {
  return address.empty() ? "every address" : address;
}

void check_service(const DispatcherConfig& config, const ServiceConfig& s, Diagnostics& diags) {
  if (s.ports.empty()) diags.error(s.where, "service " + s.name + " has no PORT");
  for (std::size_t i = 0; i < s.ports.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (s.ports[i] == s.ports[j])
        diags.error(where_set(config.globals, s, "PORT"),
                    "service " + s.name + " lists port " + std::to_string(s.ports[i]) + " twice");
  for (int tls : s.tls_ports)
    if (std::find(s.ports.begin(), s.ports.end(), tls) == s.ports.end())
      diags.error(where_set(config.globals, s, "TLS_PORT"),
                  "TLS_PORT " + std::to_string(tls) + " of service " + s.name +
                      " is not one of its PORT values");
}

// Two services cannot bind the same port on the same address; "every address"
// overlaps every specific address.
void check_overlaps(const DispatcherConfig& config, Diagnostics& diags) {
  const auto& services = config.services;
  for (std::size_t i = 0; i < services.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const auto& a = services[j];
      const auto& b = services[i];
      bool addresses_meet = a.interface_address.empty() || b.interface_address.empty() ||
                            a.interface_address == b.interface_address;
      if (!addresses_meet) continue;
      for (int port : b.ports) {
        if (std::find(a.ports.begin(), a.ports.end(), port) == a.ports.end()) continue;
        diags.error(where_set(config.globals, b, "PORT"),
                    "service " + b.name + " listens on port " + std::to_string(port) + " of " +
                        address_phrase(b.interface_address) + ", which service " + a.name +
                        " (" + a.where.str() + ") already uses on " +
                        address_phrase(a.interface_address));
      }
    }
  }
}

}  // namespace

const OptionRegistry& dispatcher_registry() { return registry; }

bool ServiceConfig::is_tls_port(int port) const {
  return std::find(tls_ports.begin(), tls_ports.end(), port) != tls_ports.end();
}

const ServiceConfig* DispatcherConfig::service(std::string_view name) const {
  for (const auto& s : services)
    if (core::iequals(s.name, name)) return &s;
  return nullptr;
}

Options DispatcherConfig::settings(const ServiceConfig& s) const {
  Options o = globals;
  o.overlay(s.section);
  return o;
}

DispatcherConfig parse_dispatcher_cnf(const std::vector<SourceLine>& lines, Diagnostics& diags) {
  DispatcherConfig config;
  for (auto& section : parse_sectioned_options(lines, format, config.globals, diags))
    config.services.push_back(
        resolve(std::move(section.name), std::move(section.where), config.globals,
                std::move(section.options)));
  for (const auto& s : config.services) check_service(config, s, diags);
  check_overlaps(config, diags);
  return config;
}

void check_service_channels(const DispatcherConfig& config,
                            const std::vector<std::string>& channel_names, Diagnostics& diags) {
  for (const auto& s : config.services) {
    bool known = std::any_of(channel_names.begin(), channel_names.end(),
                             [&](const std::string& c) { return core::iequals(c, s.channel); });
    if (!known)
      diags.error(where_set(config.globals, s, "PARAMETER"),
                  "service " + s.name + " names channel " + s.channel +
                      ", which imta.cnf does not define");
  }
}

void warn_unimplemented(const DispatcherConfig& config, Diagnostics& diags) {
  warn_unimplemented(config.globals, diags);
  for (const auto& s : config.services) warn_unimplemented(s.section, diags);
}

void write_image(ImageWriter& out, const DispatcherConfig& config) {
  write_image(out, config.globals);
  out.list(config.services, [](ImageWriter& w, const ServiceConfig& s) {
    w.str(s.name);
    w.location(s.where);
    write_image(w, s.section);
  });
}

DispatcherConfig read_dispatcher_config(ImageReader& in) {
  DispatcherConfig config;
  config.globals = read_options(in, registry);
  // Services are resolved again from what the files said, by the same code
  // the parser used, so a loaded image behaves exactly like the parsed files.
  config.services = in.list<ServiceConfig>([&](ImageReader& r) {
    std::string name = r.str();
    SourceLocation where = r.location();
    Options section = read_options(r, registry);
    return resolve(std::move(name), std::move(where), config.globals, std::move(section));
  });
  return config;
}

}  // namespace imta::config
