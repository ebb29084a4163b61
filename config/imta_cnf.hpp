// imta.cnf: the rewrite rules (first part, up to the first blank line) and the
// channel blocks (second part). The parser is a pure function over logical
// lines (config/source_lines.hpp has already dropped comments and expanded
// `<file` includes); it reports every problem with file:line and keeps going.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/image_io.hpp"
#include "config/source_lines.hpp"

namespace imta::config {

/// One keyword as written on a channel line, with its arguments (quotes removed).
struct KeywordValue {
  std::string name;               ///< lower case
  std::vector<std::string> args;
  SourceLocation where;
};

struct Channel {
  std::string name;
  std::vector<std::string> hosts;      ///< hosts[0] = official host name = the channel tag
  std::vector<KeywordValue> keywords;  ///< effective: defaults applied, one per family
  SourceLocation where;                ///< the channel's first line
  /// keywords[i]'s family (from the static keyword table), filled by
  /// ImtaCnf::build_index() so that family() compares names only: it runs
  /// for every message.
  std::vector<std::string_view> keyword_families;

  /// The keyword `name` if it is in effect, else nullptr.
  const KeywordValue* keyword(std::string_view name) const;
  bool has(std::string_view name) const { return keyword(name) != nullptr; }
  /// Whichever keyword of `family` is in effect (e.g. family "logging" gives
  /// `logging` or `nologging`), or nullptr when none was set.
  const KeywordValue* family(std::string_view family) const;
  const std::string& official_host() const { return hosts.front(); }
};

struct RewriteRule {
  std::string pattern;  ///< as written; matching is case-insensitive
  std::string templ;
  SourceLocation where;
};

struct ImtaCnf {
  std::vector<RewriteRule> rules;       ///< in file order
  std::vector<Channel> channels;        ///< in file order; channels[0] is `l`
  std::vector<KeywordValue> keyword_uses;  ///< every keyword as written, defaults blocks included

  const Channel* find_channel(std::string_view name) const;
  /// The channel with `host` as its official or other host name (case-insensitive).
  const Channel* channel_for_host(std::string_view host) const;
  /// Indices into `rules` of the rules whose pattern is `lowered_pattern`
  /// (already lower case), in file order; empty when there are none.
  std::span<const std::uint32_t> rules_for(std::string_view lowered_pattern) const;

  /// Rebuilds the lookup indexes; the parser and the image reader call it.
  void build_index();

 private:
  std::unordered_map<std::string, std::uint32_t> channel_index_;
  std::unordered_map<std::string, std::uint32_t> host_index_;
  // Rules by pattern, built without a node or a string per rule (there may
  // be tens of thousands): rule numbers grouped by lower-cased pattern, in
  // file order within a group, and an open-addressing table of the groups.
  // Numbers rather than pointers, so a copied ImtaCnf stays valid.
  struct RuleGroup {
    std::uint32_t hash = 0;
    std::uint32_t first = 0;  ///< into rule_order_
    std::uint32_t count = 0;  ///< 0 = free slot
  };
  std::vector<std::uint32_t> rule_order_;
  std::vector<RuleGroup> rule_groups_;  ///< size is a power of two, or 0
};

/// Parses the lines of imta.cnf. Problems (errors and warnings) go to `diags`;
/// the result is complete enough for further checks even when there are errors.
ImtaCnf parse_imta_cnf(const std::vector<SourceLine>& lines, Diagnostics& diags);

/// Warns about rules whose routing host (the tag after the final `@`) names no
/// channel — such addresses fail at rewrite time as an illegal host — and
/// about $M/$N/$C/$Q controls naming channels that do not exist.
void check_rule_tags(const ImtaCnf& cnf, Diagnostics& diags);

/// The channel's `subdirs` keyword: how many subfolders its queue is spread
/// over; 0 when it has none (or the channel is unknown).
unsigned channel_subdirs(const ImtaCnf& cnf, std::string_view channel);

/// One warning per distinct keyword that is recognised but not yet acted on by
/// this version, at its first use, with the number of uses.
void warn_unimplemented(const ImtaCnf& cnf, Diagnostics& diags);

void write_image(ImageWriter& out, const ImtaCnf& cnf);
ImtaCnf read_imta_cnf(ImageReader& in);

}  // namespace imta::config
