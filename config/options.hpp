// Typed NAME=value option files: option.dat, <channel>_option, and the option
// part of dispatcher.cnf and job_controller.cnf. One registry table per file
// kind is the single source of truth: the parser checks names, types and
// ranges against it, `imta cnbuild -options` lists it, and a test holds the
// man pages to it. Options nobody acts on yet are marked so cnbuild can say
// so instead of letting an administrator believe a setting took effect.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/image_io.hpp"
#include "config/source_lines.hpp"

namespace imta::config {

enum class OptionType : std::uint8_t {
  integer,  ///< whole number within [min, max]; Sun's `b%v` radix form accepted
  text,     ///< the rest of the line, blanks trimmed at both ends; may be empty
  list,     ///< comma-separated entries, at most `max` of them
};

/// Where an option may be written (a bit set): option.dat and <channel>_option
/// have only the global scope; dispatcher.cnf and job_controller.cnf have sections.
enum Scope : unsigned {
  scope_global = 1,   ///< before the first section (for sectioned files: defaults)
  scope_service = 2,  ///< dispatcher.cnf [SERVICE=name]
  scope_pool = 4,     ///< job_controller.cnf [POOL=name]
  scope_channel = 8,  ///< job_controller.cnf [CHANNEL=pattern]
};

/// Checks one text value or one list entry: returns what is wrong, or "" if fine.
using ValueCheck = std::string (*)(std::string_view value);

struct OptionSpec {
  std::string_view name = {};  ///< upper case
  OptionType type = OptionType::integer;
  std::int64_t default_integer = 0;
  std::string_view default_text = {};
  std::int64_t min = 0;
  std::int64_t max = 0;       ///< integers: largest value; lists: most entries
  bool implemented = false;   ///< some running code acts on the value
  std::string_view doc = {};       ///< one line, for listings
  unsigned scopes = scope_global;
  ValueCheck check = nullptr;       ///< text values and list entries
  std::string_view synonym_of = {};      ///< non-empty: another spelling of that option
  std::string_view default_note = {};    ///< replaces the default in documentation
  bool repeatable = false;          ///< lists: a repeated line appends, no warning
  bool secret = false;              ///< listings never show the value
};

enum class RegistryKind : std::uint8_t { option_dat, channel_option, dispatcher, job_controller };

struct OptionRegistry {
  RegistryKind kind;
  std::string_view noun;  ///< how messages name its options: "option", "dispatcher option"
  std::span<const OptionSpec> specs;

  /// Case-insensitive; synonyms are returned as themselves.
  const OptionSpec* find(std::string_view name) const;
  /// The closest known name to a misspelt one, or "" when nothing is close.
  std::string_view suggest(std::string_view unknown) const;
};

/// option.dat (global MTA options).
const OptionRegistry& option_dat_registry();
/// <channel>_option files (tcp_local_option ...).
const OptionRegistry& channel_option_registry();

/// The values of one option file (or one section of a sectioned file), with
/// registry defaults for everything not set. Accessors take any spelling of a
/// name; asking for an unknown name or through the wrong type is a programming
/// error and throws std::logic_error.
class Options {
 public:
  explicit Options(const OptionRegistry& registry);

  const OptionRegistry& registry() const { return *registry_; }

  std::int64_t integer(std::string_view name) const;
  const std::string& text(std::string_view name) const;
  const std::vector<std::string>& list(std::string_view name) const;
  /// True when a file set the option (a synonym counts).
  bool is_set(std::string_view name) const;
  /// Where the option was set, if it was.
  std::optional<SourceLocation> where(std::string_view name) const;

  /// Checks and stores `name=value` read at `at` in a place of kind `scope`.
  /// Unknown names, wrong scope, bad values are errors (the old value stays);
  /// setting an option twice warns and the later value wins.
  void assign(std::string_view name, std::string_view value, const SourceLocation& at,
              Scope scope, Diagnostics& diags);

  /// Options set in `over` replace the values here (section over globals).
  void overlay(const Options& over);

  struct Slot {
    std::int64_t integer = 0;
    std::string text;
    std::vector<std::string> items;
    std::optional<SourceLocation> where;  ///< set explicitly, and where
  };
  /// One slot per registry entry (synonym slots stay unused), in registry order.
  const std::vector<Slot>& slots() const { return slots_; }

 private:
  friend Options read_options(ImageReader& in, const OptionRegistry& registry);
  std::size_t index(std::string_view name) const;  // canonical slot; throws logic_error
  const Slot& slot(std::string_view name, OptionType type) const;

  const OptionRegistry* registry_;
  std::vector<Slot> slots_;
};

/// How option files are read: comment lines start with `!`, `#` or `;`, a
/// trailing `\` continues a line, `<file` includes.
ReadOptions option_file_read_options();

/// One `NAME=value` line split at the first `=`, blanks trimmed. Lines with no
/// `=`, or a name that is not letters, digits, `_` and `-`, are errors.
struct Assignment {
  std::string_view name;
  std::string_view value;
};
std::optional<Assignment> split_assignment(const SourceLine& line, Diagnostics& diags);

/// A section header of dispatcher.cnf / job_controller.cnf: `[KIND=name]`,
/// blanks allowed around the parts; kind is upper-cased, name kept as written.
struct SectionHeader {
  std::string kind;
  std::string name;
};
/// True when the first non-blank character of the line is `[`.
bool looks_like_section(const SourceLine& line);
/// Reports a malformed header (no `]`, text after it, no `=`, empty kind or
/// name, characters other than letters, digits, `_ - . * ?` in the name).
std::optional<SectionHeader> parse_section_header(const SourceLine& line, Diagnostics& diags);

/// A kind of section a sectioned file has.
struct SectionKind {
  std::string_view kind;   ///< upper case, as in [SERVICE=name]
  Scope scope;             ///< where its options may be set
  std::string_view noun;   ///< what messages call one: "service", "channel section"
  bool wildcards = false;  ///< whether its names may hold `*` and `?`
};

/// One section of a sectioned file as written, in file order.
struct OptionSection {
  const SectionKind* kind;
  std::string name;
  SourceLocation where;  ///< its header
  Options options;       ///< set in the section itself
};

/// What distinguishes dispatcher.cnf from job_controller.cnf to the reader.
struct SectionedFormat {
  const OptionRegistry& registry;
  std::span<const SectionKind> kinds;
  /// The error for a section whose kind is not in `kinds` (upper case).
  std::string (*unknown_kind)(std::string_view kind);
  /// Optional: more checks of a new section against the earlier ones, run
  /// once it is known to be accepted, before it is added.
  void (*check_new)(const SectionHeader& header, const SourceLocation& where,
                    const std::vector<OptionSection>& earlier, Diagnostics& diags) = nullptr;
};

/// Reads a sectioned option file: NAME=value lines before the first section
/// go into `globals`, later ones into their [KIND=name] section. Reports a
/// section of an unknown kind (its lines are then skipped), a wildcard in a
/// name that allows none and a name used twice for one kind (such a section
/// is dropped, but its lines are still checked). Blank lines are ignored.
std::vector<OptionSection> parse_sectioned_options(const std::vector<SourceLine>& lines,
                                                   const SectionedFormat& format, Options& globals,
                                                   Diagnostics& diags);

/// Parses an unsectioned option file (blank lines ignored).
Options parse_options(const std::vector<SourceLine>& lines, const OptionRegistry& registry,
                      Diagnostics& diags);
inline Options parse_option_dat(const std::vector<SourceLine>& lines, Diagnostics& diags) {
  return parse_options(lines, option_dat_registry(), diags);
}
inline Options parse_channel_options(const std::vector<SourceLine>& lines, Diagnostics& diags) {
  return parse_options(lines, channel_option_registry(), diags);
}

/// One warning per option that a file set explicitly but no code acts on yet,
/// at the line that set it.
void warn_unimplemented(const Options& options, Diagnostics& diags);

/// One row of `imta cnbuild -options`.
struct OptionListing {
  std::string name;
  std::string value;   ///< effective value; "(secret)" for secrets that are set
  std::string origin;  ///< "default" or "file:line"
  bool implemented = false;
  std::string_view doc;
};
/// Every option of the registry (synonyms left out) with its effective value.
std::vector<OptionListing> list_options(const Options& options);
/// The same as aligned text, one option per line, ending in a newline.
std::string format_options(const Options& options);

/// The fixed lines that follow `.It Cm NAME` in the man page: type, range and
/// default; where it may be written (sectioned files); whether it is acted on.
std::vector<std::string> man_summary(const OptionSpec& spec, const OptionRegistry& registry);

void write_image(ImageWriter& out, const Options& options);
/// Reads options written for `registry`; another registry's options are an ImageError.
Options read_options(ImageReader& in, const OptionRegistry& registry);

// ---- value checks shared by the option files -------------------------------

/// True for an IPv4 or IPv6 address literal (no brackets, no port).
bool is_ip_literal(std::string_view s);
/// Canonical text of an address literal (so "::1" and "0::1" compare equal).
std::string canonical_ip(std::string_view s);
/// "" or a problem: an IP literal, or empty / ANY for every address.
std::string check_interface_address(std::string_view value);
/// "" or a problem: an integer port 1..65535.
std::string check_port(std::string_view value);
/// "" or a problem: empty, or `local@domain` without blanks or angle brackets.
std::string check_mail_address(std::string_view value);
/// "" or a problem: one DNS_SERVERS entry (see ServerAddress).
std::string check_dns_server(std::string_view value);

/// A DNS server from DNS_SERVERS: `192.0.2.1`, `192.0.2.1:5353`, `::1`, `[::1]:5353`.
struct ServerAddress {
  std::string address;
  int port = 53;
  bool operator==(const ServerAddress&) const = default;
};
std::optional<ServerAddress> parse_server_address(std::string_view s);
/// DNS_SERVERS of option.dat; empty means "use /etc/resolv.conf".
std::vector<ServerAddress> dns_servers(const Options& option_dat);

}  // namespace imta::config
