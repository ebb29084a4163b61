// The SMTP client's resolver settings from option.dat: DNS_SERVERS,
// DNS_TIMEOUT, DNS_ATTEMPTS (man option.dat(5)). Header-only and outside
// core/dns because core/ may not depend on config/.
#pragma once

#include <chrono>

#include <asio/ip/address.hpp>

#include "config/options.hpp"
#include "config/snapshot.hpp"
#include "core/dns/resolver.hpp"

namespace imta::channels::tcp {

/// An empty DNS_SERVERS leaves `servers` empty: the resolver then reads
/// /etc/resolv.conf.
inline core::dns::ResolverOptions resolver_options_from(const config::Options& option_dat) {
  core::dns::ResolverOptions options;
  for (const auto& server : config::dns_servers(option_dat)) {
    std::error_code ec;
    auto address = asio::ip::make_address(server.address, ec);
    if (!ec) options.servers.emplace_back(address, static_cast<unsigned short>(server.port));
  }
  options.timeout = std::chrono::seconds(option_dat.integer("DNS_TIMEOUT"));
  options.attempts = static_cast<int>(option_dat.integer("DNS_ATTEMPTS"));
  return options;
}

inline core::dns::ResolverOptions resolver_options_from(const config::Snapshot& snapshot) {
  return resolver_options_from(snapshot.options);
}

}  // namespace imta::channels::tcp
