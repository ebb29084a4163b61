// Which host the SMTP client sends each recipient to: recipients grouped by
// the domain of their active address (a file may hold recipients in several
// domains even under single_sys: one transaction per group), and domain
// literals read as the address they name. Pure: no I/O, no DNS.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/envelope.hpp"

namespace imta::channels::tcp {

struct RecipientGroup {
  std::string domain;                   ///< lower case; "" when an address has none
  std::vector<std::size_t> recipients;  ///< indexes into the envelope's recipients, in order
};

/// The domain of an address: after the last '@', lower case ("" if none).
std::string address_domain(std::string_view address);

/// Groups in order of first appearance.
std::vector<RecipientGroup> group_by_domain(const std::vector<core::Recipient>& recipients);

/// The address text of a domain literal ("[192.0.2.1]" -> "192.0.2.1",
/// "[IPv6:2001:db8::1]" -> "2001:db8::1"), or nullopt when `domain` is not one.
/// The text is not checked here; the caller parses it as an IP address.
std::optional<std::string> domain_literal(std::string_view domain);

}  // namespace imta::channels::tcp
