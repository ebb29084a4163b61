// How a DNS question ended, as the SMTP client needs to know it: a
// permanent answer (the name or its records do not exist) bounces, a
// temporary one (a server failed or none answered) is retried later.
#pragma once

#include <cstdint>
#include <string_view>

namespace imta::core::dns {

enum class Status : std::uint8_t {
  ok,
  nxdomain,  ///< the name does not exist (permanent)
  nodata,    ///< the name exists, no records of that type
  servfail,  ///< server failure, refused, or malformed answer (temporary)
  timeout,   ///< no server answered (temporary)
};

/// "ok", "nxdomain", "nodata", "servfail", "timeout".
std::string_view status_text(Status s);

/// servfail and timeout: asking again later may give another answer.
constexpr bool is_temporary(Status s) { return s == Status::servfail || s == Status::timeout; }

}  // namespace imta::core::dns
