// Queue file names: two retry characters, a unique id, then ".00" (or ".HELD").
// The retry characters are the number of delivery attempts written as two
// base-36 digits (0-9A-Z), each complemented (value 35-d): ZZ for a new file,
// ZY after one failed attempt, ZX after two, ... ZA, Z9 ... Z0, YZ, ...
// This is the only code that knows the encoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imta::queue {

/// Highest attempt count two characters can express (36*36 - 1).
inline constexpr unsigned max_attempts = 36 * 36 - 1;

/// "ZZ" for 0 attempts, "ZY" for 1, ...; attempts above max_attempts saturate.
std::string retry_prefix(unsigned attempts);

/// The attempt count encoded by a two-character prefix; nullopt if malformed.
std::optional<unsigned> attempts_from_prefix(std::string_view prefix);

struct QueueFileName {
  unsigned attempts = 0;
  std::string id;     ///< the unique part, without prefix and suffix
  bool held = false;  ///< ".HELD" rather than ".00"
  std::string str() const;  ///< the file name again
  void append_to(std::string& out) const;  ///< str(), appended (no string of its own)
};

/// Parses "ZY01ISKLSKLZLI90N15M.00" or "...HELD"; nullopt for anything else
/// (temporary files, stray files).
std::optional<QueueFileName> parse_queue_file_name(std::string_view name);

}  // namespace imta::queue
