// Which DNS servers to ask: ip[:port] texts (the DNS_SERVERS option, the
// tests' loopback servers) and the nameserver lines of /etc/resolv.conf.
// Pure functions over text; reading the file is the resolver's business.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include <asio/ip/udp.hpp>

namespace imta::core::dns {

/// "ip", "ip:port" or "[ipv6]:port" (default port 53); nullopt if malformed
/// (a name instead of an address, port 0 or above 65535, stray text).
std::optional<asio::ip::udp::endpoint> parse_server(std::string_view text);

/// Servers separated by commas and/or blanks, e.g. "127.0.0.1:5353, [::1]:53".
/// nullopt if any entry is malformed; an empty text gives an empty list.
std::optional<std::vector<asio::ip::udp::endpoint>> parse_server_list(std::string_view text);

/// glibc's limit: only the first three nameserver lines count.
inline constexpr std::size_t resolv_conf_max_servers = 3;

/// The `nameserver ADDRESS` lines of a resolv.conf text, port 53, in order,
/// at most resolv_conf_max_servers. Comments (`#`, `;`), other keywords and
/// malformed addresses are skipped. An IPv6 scope ("fe80::1%eth0") is kept.
std::vector<asio::ip::udp::endpoint> parse_resolv_conf(std::string_view text);

/// What the resolver uses when resolv.conf names no server (glibc does the
/// same): 127.0.0.1 port 53.
asio::ip::udp::endpoint default_server();

}  // namespace imta::core::dns
