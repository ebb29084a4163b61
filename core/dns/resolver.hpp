// DNS for the SMTP client: queries built and parsed with ldns (wire format),
// sent over Asio UDP (TCP when the answer is truncated), to the servers of
// /etc/resolv.conf or to servers given as ip:port (tests point at a DNS
// server they start on loopback). Timeouts and retries per server; answers
// cached until their TTL ends (negative answers per the SOA minimum), in one
// cache shared by every Resolver of the process (core/dns/cache.hpp).
//
// Only this header's implementation and the SMTP client include Asio here.
// Building ResolverOptions from option.dat: channels/tcp/dns_options.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/udp.hpp>

#include "core/dns/servers.hpp"  // parse_server, parse_server_list, parse_resolv_conf
#include "core/dns/status.hpp"   // Status, status_text, is_temporary

namespace imta::core::dns {

struct ResolverOptions {
  /// Empty: the nameservers of `resolv_conf` (127.0.0.1:53 if it names none).
  std::vector<asio::ip::udp::endpoint> servers;
  std::string resolv_conf = "/etc/resolv.conf";
  std::chrono::milliseconds timeout{2000};  ///< per query and server
  int attempts = 2;                         ///< rounds over the server list
  bool cache = true;                        ///< use the process-wide cache
};

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  ///< lower case, no trailing dot; "" for a null MX (RFC 7505)
  bool operator==(const MxRecord&) const = default;
};

struct MxAnswer {
  Status status = Status::servfail;
  std::vector<MxRecord> records;  ///< as received (the caller orders them)
  std::string canonical;          ///< the name after following CNAMEs
};

struct AddressAnswer {
  Status status = Status::servfail;
  /// IPv4 addresses first, then IPv6, each in the order received.
  std::vector<asio::ip::address> addresses;
  std::string canonical;
};

/// Coroutines run on the executor of the coroutine that awaits them, which
/// must not run them concurrently (a single-threaded io_context, or a strand).
/// A Resolver may serve many lookups, one after the other or interleaved.
class Resolver {
 public:
  Resolver(asio::any_io_executor executor, ResolverOptions options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// MX records of `domain`, CNAMEs followed. A name that is not a valid
  /// domain name (see normalize_name in message.hpp) is nxdomain.
  asio::awaitable<MxAnswer> mx(std::string domain);
  /// A and (if `ipv6`) AAAA records, CNAMEs followed. An IP address literal
  /// ("192.0.2.1", "::1") answers itself without a query.
  asio::awaitable<AddressAnswer> addresses(std::string host, bool ipv6 = true);

  /// The servers asked, in order (from the options or resolv.conf).
  const std::vector<asio::ip::udp::endpoint>& servers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// How the SMTP client picks the hosts for a domain (channel keywords).
enum class MxPolicy : std::uint8_t { mx, randommx, nomx };

/// One host to try, with every address it has, in order.
struct Target {
  std::string host;  ///< the MX host (or the domain itself for an implicit MX / nomx)
  std::uint16_t preference = 0;
  std::vector<asio::ip::address> addresses;
};

/// The log / DSN text for a domain that does not exist or takes no mail
/// (NXDOMAIN, null MX), as the Sun MTA logs it (seed example 21-4).
inline constexpr std::string_view illegal_domain_text = "Illegal host/domain name found";

struct TargetsAnswer {
  /// ok: try `targets` in order.
  /// Permanent (bounce): nxdomain (the domain does not exist, is not a valid
  /// name, or has a null MX: then `null_mx`), nodata (no host has an address).
  /// Temporary (retry later): servfail, timeout.
  Status status = Status::servfail;
  bool null_mx = false;
  bool implicit_mx = false;  ///< no MX records: the domain's own A/AAAA
  std::vector<Target> targets;
  std::string error;  ///< for the log / DSN when not ok, e.g. "Illegal host/domain name found"

  bool permanent() const { return status == Status::nxdomain || status == Status::nodata; }
  bool temporary() const { return is_temporary(status); }
};

/// The delivery targets of `domain`: MX in preference order (randommx
/// shuffles equal preferences), implicit MX when there is none, nomx = the
/// domain's own addresses only. A domain literal "[192.0.2.1]" or
/// "[IPv6:2001:db8::1]" (or a bare IP address) is its address. MX hosts
/// without an address are left out; AAAA records are asked only if `ipv6`.
asio::awaitable<TargetsAnswer> delivery_targets(Resolver& resolver, std::string domain, MxPolicy policy,
                                                bool ipv6 = true);

}  // namespace imta::core::dns
