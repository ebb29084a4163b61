// The pure parts of choosing delivery targets (delivery_targets in
// resolver.hpp): the order of MX records, null MX, domain literals.
#pragma once

#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include <asio/ip/address.hpp>

#include "core/dns/resolver.hpp"

namespace imta::core::dns {

/// RFC 7505: the domain's only MX record has the root as its exchange.
bool is_null_mx(const std::vector<MxRecord>& records);

/// Hosts to try in order: by preference (equal preferences kept in the
/// order received, or shuffled when `shuffle_equal`), a host named twice
/// kept once (at its best preference), null ("." ) entries dropped.
std::vector<MxRecord> order_mx(std::vector<MxRecord> records, bool shuffle_equal, std::mt19937_64& random);

/// The address of a domain literal (RFC 5321 §4.1.3): "[192.0.2.1]",
/// "[IPv6:2001:db8::1]" (the tag case-blind), or a bare IP address.
/// nullopt when `domain` is not one of those.
std::optional<asio::ip::address> parse_domain_literal(std::string_view domain);

/// True when the text looks like a domain literal ("[" ... "]"), valid or not.
bool looks_like_domain_literal(std::string_view domain);

}  // namespace imta::core::dns
