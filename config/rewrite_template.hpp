// The template half of a rewrite rule, split into substitutions, controls and
// literal text. cnbuild uses it to reject malformed templates with file:line;
// the rewrite engine uses it to expand a template against one address.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imta::config {

enum class TemplateOp {
  literal,        ///< text; `quoted` when it came from $$, $% or $@ (never structure)
  user,           ///< $U
  user_base,      ///< $0U: local part without +detail
  user_detail,    ///< $1U: only the +detail (without the +)
  domain,         ///< $D, or $nD (n = leftmost labels omitted)
  host,           ///< $H, or $nH
  literal_rest,   ///< $L: unmatched part of a domain literal
  matched_left,   ///< $*n: nth explicitly matched label from the left
  matched_right,  ///< $#n: ... from the right
  host_left,      ///< $&n: nth unmatched or wildcard-matched label from the left
  host_right,     ///< $!n: ... from the right
  force_lower,    ///< $\  .
  force_upper,    ///< $^
  keep_case,      ///< $_
  unique,         ///< $W
  general_lookup, ///< $(text)
  mapping_lookup, ///< ${table,text}
  // Controls: they insert nothing, they decide whether the rule applies.
  envelope_only,   ///< $E
  header_only,     ///< $B
  forward_only,    ///< $F
  backward_only,   ///< $R
  from_route,      ///< $S
  from_at,         ///< $A
  from_percent,    ///< $P
  from_bang,       ///< $X
  source_is,       ///< $Mchan
  source_is_not,   ///< $Nchan
  dest_is_not,     ///< $Cchan
  dest_is,         ///< $Qchan
  reprocess_only,  ///< $1M
  never_reprocess, ///< $1N
};

struct TemplateToken {
  TemplateOp op = TemplateOp::literal;
  std::string text;  ///< literal text, channel name ($M...), or mapping table name
  int n = 0;         ///< label / part number
  bool quoted = false;
  std::vector<TemplateToken> arg;  ///< the argument of a lookup, itself a template
};

bool is_control(TemplateOp op);

struct ParsedTemplate {
  std::vector<TemplateToken> tokens;
  std::string error;  ///< empty when the template is well formed
  bool ok() const { return error.empty(); }
};

/// Splits a template into tokens. Sequence letters are case-insensitive.
ParsedTemplate parse_template(std::string_view text);

/// What can be known about a template's result before any address is seen.
struct TemplateShape {
  bool has_at = false;       ///< a structural `@` (routing host follows)
  bool has_percent = false;  ///< a structural `%`
  bool has_mapping = false;  ///< a ${...} whose result may add structure
  /// The routing host after the final `@` when it is plain text.
  std::optional<std::string> tag;
  std::vector<std::string> channels;  ///< channel names of $M $N $C $Q
};

TemplateShape template_shape(const ParsedTemplate& parsed);

}  // namespace imta::config
