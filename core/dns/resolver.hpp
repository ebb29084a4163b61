// DNS for the SMTP client: queries built and parsed with ldns (wire format),
// sent over Asio UDP (TCP when the answer is truncated), to the servers of
// /etc/resolv.conf or to servers given as ip:port (tests point at a DNS
// server they start on loopback). Timeouts and retries per server; answers
// cached until their TTL ends (negative answers per the SOA minimum).
//
// Only this header's implementation and the SMTP client include Asio here.
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

namespace imta::core::dns {

struct ResolverOptions {
  /// Empty: the nameservers of `resolv_conf`.
  std::vector<asio::ip::udp::endpoint> servers;
  std::string resolv_conf = "/etc/resolv.conf";
  std::chrono::milliseconds timeout{2000};  ///< per query and server
  int attempts = 2;                         ///< rounds over the server list
  bool cache = true;
};

/// "ip", "ip:port" or "[ipv6]:port" (default port 53); nullopt if malformed.
std::optional<asio::ip::udp::endpoint> parse_server(std::string_view text);

enum class Status : std::uint8_t {
  ok,
  nxdomain,  ///< the name does not exist (permanent)
  nodata,    ///< the name exists, no records of that type
  servfail,  ///< server failure, refused, or malformed answer (temporary)
  timeout,   ///< no server answered (temporary)
};
std::string_view status_text(Status s);

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  ///< lower case, no trailing dot; "" for a null MX (RFC 7505)
};

struct MxAnswer {
  Status status = Status::servfail;
  std::vector<MxRecord> records;  ///< as received (the caller orders them)
  std::string canonical;          ///< the name after following CNAMEs
};

struct AddressAnswer {
  Status status = Status::servfail;
  std::vector<asio::ip::address> addresses;
  std::string canonical;
};

class Resolver {
 public:
  Resolver(asio::any_io_executor executor, ResolverOptions options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  asio::awaitable<MxAnswer> mx(std::string domain);
  /// A and (if `ipv6`) AAAA records, CNAMEs followed.
  asio::awaitable<AddressAnswer> addresses(std::string host, bool ipv6 = true);

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

struct TargetsAnswer {
  /// ok: try `targets` in order. Permanent: nxdomain, or a null MX
  /// (`null_mx`), or no address at all for any host. Temporary otherwise.
  Status status = Status::servfail;
  bool null_mx = false;
  bool implicit_mx = false;  ///< no MX records: the domain's own A/AAAA
  std::vector<Target> targets;
  std::string error;  ///< for the log / DSN when not ok, e.g. "Illegal host/domain name found"
};

/// The delivery targets of `domain`: MX in preference order (randommx
/// shuffles equal preferences), implicit MX when there is none, nomx = the
/// domain's own addresses only. A domain literal "[192.0.2.1]" is its address.
asio::awaitable<TargetsAnswer> delivery_targets(Resolver& resolver, std::string domain, MxPolicy policy);

}  // namespace imta::core::dns
