// DNS messages on the wire, through ldns: the query the resolver sends, the
// answer it gets back as plain values, and what that answer means for the
// question asked (the CNAME chain inside it, positive or negative, how long
// it may be cached). Pure functions over bytes: tested without sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ip/address.hpp>

#include "core/dns/status.hpp"

namespace imta::core::dns {

/// The record types the MTA asks for or reads.
enum class RrType : std::uint16_t { a = 1, ns = 2, cname = 5, soa = 6, mx = 15, txt = 16, aaaa = 28 };

/// The EDNS0 buffer size the queries advertise (the DNS flag day 2020 value:
/// no IP fragmentation; bigger answers come truncated and are asked by TCP).
inline constexpr std::uint16_t edns_buffer_size = 1232;

/// A host or domain name as the resolver keeps it: lower case, no trailing
/// dot, labels of 1..63 letters, digits, '-' or '_', at most 253 characters.
/// nullopt for anything else (the caller reports it as an illegal name).
std::optional<std::string> normalize_name(std::string_view name);

/// One resource record of an answer, with the data of the types we use.
struct Record {
  std::string owner;  ///< normalized (lower case, no trailing dot)
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::uint16_t preference = 0;  ///< MX
  std::string target;            ///< MX exchange or CNAME target, normalized ("" = the root)
  std::optional<asio::ip::address> address;  ///< A, AAAA
  bool operator==(const Record&) const = default;
};

/// The wire bytes of a recursive (RD) query for `name` (already normalized)
/// and `type` with `id`, with an EDNS0 OPT record when `edns_size` > 0.
/// Empty if ldns refuses the name.
std::vector<std::uint8_t> build_query(std::string_view name, RrType type, std::uint16_t id,
                                      std::uint16_t edns_size = edns_buffer_size);

/// The parts of a received message the resolver looks at.
struct Response {
  std::uint16_t id = 0;
  bool qr = false;  ///< it is a response
  bool aa = false;  ///< authoritative
  bool tc = false;  ///< truncated: ask again over TCP
  std::uint8_t opcode = 0;
  std::uint8_t rcode = 0;  ///< 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED ...
  std::vector<std::string> question_names;  ///< normalized
  std::vector<std::uint16_t> question_types;
  std::vector<std::uint16_t> question_classes;
  std::vector<Record> answers;  ///< IN class records of the answer section
  /// From an SOA record of the authority section: min(its TTL, its MINIMUM),
  /// how long a negative answer may be cached (RFC 2308).
  std::optional<std::uint32_t> negative_ttl;
};

/// nullopt when the bytes are not a DNS message ldns can read.
std::optional<Response> parse_response(std::span<const std::uint8_t> wire);

/// True when `response` answers our query: a response (QR) to a standard
/// query with our id and exactly our question (name compared case-blind, IN
/// class). Anything else is a stray or spoofed datagram and is ignored.
bool answers_query(const Response& response, std::uint16_t id, std::string_view name, RrType type);

inline constexpr std::uint8_t rcode_noerror = 0;
inline constexpr std::uint8_t rcode_servfail = 2;
inline constexpr std::uint8_t rcode_nxdomain = 3;

/// Longest CNAME chain followed, inside one answer and across re-queries.
inline constexpr int max_cname_chain = 8;

/// What one answer (rcode NOERROR or NXDOMAIN) says about (name, type).
struct Resolution {
  Status status = Status::servfail;
  std::vector<Record> records;  ///< of `type`, owned by `canonical`
  std::string canonical;        ///< the name reached through the CNAMEs
  std::vector<std::string> chain;  ///< the names followed, `name` first, `canonical` last
  /// Seconds the result may be cached: the smallest TTL of the records and
  /// CNAMEs used, or for a negative answer the SOA's negative TTL; 0 = do not.
  std::uint32_t ttl = 0;
  /// The answer ends at a CNAME whose target it does not cover (another
  /// zone): ask again for `canonical`.
  bool follow = false;
};

/// Follows the CNAMEs of the answer section from `name` and classifies the
/// answer. A CNAME loop, or a chain longer than max_cname_chain, is servfail;
/// a NOERROR answer with no data, no SOA and no AA bit is a referral from a
/// server that does not recurse: servfail too (never mistaken for nodata).
Resolution interpret(const Response& response, std::string_view name, RrType type);

}  // namespace imta::core::dns
