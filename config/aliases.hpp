// The aliases file: `name: address, address, ...` lines compiled into the
// image, and the recursive expansion the SMTP server and the local channel
// use. Names compare case-insensitively; a bare name and name@local-domain are
// the same alias.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/image_io.hpp"
#include "config/source_lines.hpp"

namespace imta::config {

struct AliasEntry {
  std::string name;                  ///< lower case: `user` or `user@domain`
  std::vector<std::string> members;  ///< addresses as written (quotes and case kept)
  SourceLocation where;
};

struct Aliases {
  std::vector<AliasEntry> entries;        ///< file order
  std::map<std::string, std::size_t> by_name;  ///< lower-case name -> index into entries

  /// The alias an address names: the address itself, then (for the local
  /// domain) its bare local part, or (for a bare name) name@local_domain.
  const AliasEntry* find(std::string_view address, std::string_view local_domain = {}) const;
};

/// How the aliases file is read: `!` comments, `\` continuation, `<file`
/// includes nested up to 3 levels.
ReadOptions aliases_read_options();

/// Parses the aliases file. A non-blank line that starts with a blank
/// continues the entry above it (sendmail style). Errors: no `:`, empty name,
/// a name defined twice, an empty or malformed address list, and loops
/// between aliases (check_alias_loops). `local_domain`, when given, makes
/// `name` and `name@local_domain` the same alias.
Aliases parse_aliases(const std::vector<SourceLine>& lines, Diagnostics& diags,
                      std::string_view local_domain = {});

/// One error per loop of two or more aliases ("a -> b -> a"), at the first
/// alias of the loop in file order. An alias naming itself among its own
/// members is not a loop: it means "deliver here too".
void check_alias_loops(const Aliases& aliases, std::string_view local_domain, Diagnostics& diags);

/// The final addresses `address` expands to, in order, duplicates removed
/// (ignoring case). A member that is an alias expands in turn; a member
/// already being expanded (an alias that names itself) stays as a final
/// address. An address that is not an alias expands to itself. With a
/// local_domain, bare names in the result get `@local_domain` appended.
std::vector<std::string> expand_alias(const Aliases& aliases, std::string_view address,
                                      std::string_view local_domain = {});

void write_image(ImageWriter& out, const Aliases& aliases);
Aliases read_aliases(ImageReader& in);

}  // namespace imta::config
