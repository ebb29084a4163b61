// Whether a message copy passes through the conversion channel on its way
// from one channel to another: the CONVERSIONS mapping (mappings(5)) is
// probed with `IN-CHAN=<source>;OUT-CHAN=<destination>;CONVERT` and a result
// of `Yes` sends the copy to the `conversion` channel first (seed example
// 21-8: `tcp_local conversion E`, then `conversion l E`). Used wherever
// recipients are routed: the SMTP server and queue::Submitter.
#pragma once

#include <string>
#include <string_view>

#include "config/snapshot.hpp"

namespace imta::config {

/// The channel that runs the external filters of config/conversions.
inline constexpr std::string_view conversion_channel_name = "conversion";

/// The channel a copy from `source` to `destination` is enqueued to:
/// "conversion" when the CONVERSIONS mapping answers Yes (case-insensitive)
/// for the pair, else `destination` unchanged. Never diverts what comes from
/// the conversion channel itself (its output goes on to the real
/// destination), nor copies to the conversion, bitbucket or hold channels;
/// nothing is diverted when there is no CONVERSIONS table or no channel
/// named conversion in imta.cnf.
std::string conversion_diversion(const Snapshot& snapshot, std::string_view source, std::string_view destination);

}  // namespace imta::config
