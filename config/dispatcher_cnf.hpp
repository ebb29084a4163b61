// dispatcher.cnf: the services the dispatcher listens for. Options before the
// first [SERVICE=name] section are defaults for every service; a section's own
// options override them. The option table is a registry like option.dat's, so
// names, types, ranges and documentation stay in one place.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/image_io.hpp"
#include "config/options.hpp"
#include "config/source_lines.hpp"

namespace imta::config {

/// The dispatcher.cnf option table.
const OptionRegistry& dispatcher_registry();

/// One listening service with every value resolved (section, else global
/// default, else registry default).
struct ServiceConfig {
  std::string name;                ///< as written in [SERVICE=name]; compared case-insensitively
  std::vector<int> ports;          ///< PORT, in file order
  std::vector<int> tls_ports;      ///< TLS_PORT: the ports of `ports` served with implicit TLS
  std::string interface_address;   ///< canonical IP literal; empty = every address
  std::string channel;             ///< PARAMETER=CHANNEL=name, lower case; default tcp_local
  int worker_threads = 0;          ///< WORKER_THREADS (MAX_PROCS)
  int min_procs = 0;
  int min_conns = 0;
  int max_conns = 0;
  int backlog = 0;                 ///< BACKLOG, or MAX_CONNS x WORKER_THREADS within 5..65535
  int max_handoffs = 0;
  std::int64_t max_life_time = 0;  ///< seconds, 0 = unlimited
  std::int64_t max_life_conns = 0; ///< 0 = unlimited
  std::int64_t max_idle_time = 0;  ///< seconds, 0 = unlimited
  int max_shutdown = 0;
  std::int64_t stacksize = 0;      ///< bytes, 0 = system default
  std::int64_t debug = 0;
  bool enable_rbl = false;
  std::vector<std::string> dns_verify_domains;
  bool ident = false;
  std::int64_t historical_time = 0;
  std::string image;
  std::string logfile;
  int command_timeout = 0;         ///< seconds waiting for the next command
  int data_timeout = 0;            ///< seconds waiting for the next piece of message data
  int dot_timeout = 0;             ///< seconds allowed between the final dot and our reply
  SourceLocation where;            ///< the [SERVICE=name] line
  Options section{dispatcher_registry()};  ///< only what the section itself set

  bool is_tls_port(int port) const;
};

struct DispatcherConfig {
  Options globals{dispatcher_registry()};  ///< what came before the first section
  std::vector<ServiceConfig> services;     ///< in file order

  const ServiceConfig* service(std::string_view name) const;
  /// A service's effective settings: registry defaults, globals, its section.
  Options settings(const ServiceConfig& service) const;
};

/// Reads dispatcher.cnf with option_file_read_options().
DispatcherConfig parse_dispatcher_cnf(const std::vector<SourceLine>& lines, Diagnostics& diags);

/// Errors for services whose PARAMETER=CHANNEL= names a channel that is not
/// in `channel_names` (the channels of imta.cnf).
void check_service_channels(const DispatcherConfig& config,
                            const std::vector<std::string>& channel_names, Diagnostics& diags);

/// One warning per option set explicitly (globals and sections) that the
/// dispatcher does not act on yet.
void warn_unimplemented(const DispatcherConfig& config, Diagnostics& diags);

void write_image(ImageWriter& out, const DispatcherConfig& config);
DispatcherConfig read_dispatcher_config(ImageReader& in);

}  // namespace imta::config
