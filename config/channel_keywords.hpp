// The registry of every channel keyword imta.cnf knows: its argument shape,
// the family of mutually exclusive alternatives it belongs to, whether running
// code acts on it yet, and a one-line description. The parser validates every
// keyword against this table, so a typo is an error instead of silently
// becoming something else (on Sun's UNIX MTA an unknown word was taken as a
// group id).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imta::config {

/// What follows a keyword on the channel line.
enum class KeywordArgs {
  none,          ///< a flag: `logging`
  integer,       ///< one integer within [min, max]: `maxjobs 7`
  text,          ///< one word (quotes allowed): `pool SMTP_POOL`, `returnpersonal "Mail System"`
  host,          ///< one host name or domain literal: `daemon relay.example.com`
  channel,       ///< one channel name: `saslswitchchannel tcp_auth`
  hosts_1_2,     ///< one or two host names: `defaulthost example.com example.net`
  durations,     ///< one or more ISO 8601 durations: `backoff "pt5m" "pt1h"`
  ascending,     ///< one or more strictly ascending positive integers: `notices 1 2 4 7`
};

struct KeywordSpec {
  std::string name;       ///< lower case, as written in imta.cnf
  KeywordArgs args = KeywordArgs::none;
  std::string family;     ///< alternatives that replace each other; never empty
  bool implemented = false;  ///< running code acts on it in this version
  std::string doc;        ///< one line for the man page and `imta test`
  std::int64_t min = 0;   ///< bounds for KeywordArgs::integer
  std::int64_t max = 2147483647;
};

/// Every keyword, in the order of the man page.
const std::vector<KeywordSpec>& channel_keywords();

/// The keyword named `name` (case-insensitive), or nullptr.
const KeywordSpec* find_keyword(std::string_view name);

/// The known keyword closest in spelling to `name`, or "" when none is near
/// enough to be a plausible typo.
std::string closest_keyword(std::string_view name);

/// A human description of what `args` expects, e.g. "an integer from 1 to 65535".
std::string describe_args(const KeywordSpec& spec);

/// Checks one argument word of `spec` (not for KeywordArgs::ascending, whose
/// values are checked as a list). Returns "" when valid, else the problem.
std::string check_argument(const KeywordSpec& spec, std::string_view word);

/// Parses an ISO 8601 duration such as `PT5M`, `pt1h30m`, `P1D`, `P1W`
/// (case-insensitive) into seconds. Years count 365 days, months 30 days.
/// nullopt when the text is not such a duration or names no time at all.
std::optional<std::int64_t> parse_iso8601_duration(std::string_view text);

/// True when `name` is a valid channel name: 1 to 32 characters from lower
/// case letters, digits, `_`, `$` and `-`.
bool valid_channel_name(std::string_view name);

/// True when `host` looks like a host name, a channel tag (`tcp_local-daemon`)
/// or a domain literal (`[192.0.2.1]`).
bool valid_host_name(std::string_view host);

}  // namespace imta::config
