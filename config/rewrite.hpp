// The rewrite engine: given an address and the parsed imta.cnf, find the
// rewrite rule for the address's host, expand its template, and name the
// destination channel and the rewritten ("active") address. A pure function
// over the configuration; database and mapping lookups come in through
// RewriteLookups so this file does not depend on the mapping engine.
//
// Behaviour follows Sun/PMDF (see imta.cnf(5), section REWRITING):
//  - host extraction: first source-route host, else right of `@`, else right
//    of the last `%`, else left of the first `!` (`%`/`!` swap with the source
//    channel's `bangoverpercent`);
//  - candidates: host, *.rest, .rest, *.*.rest2, .rest2, ..., *.*...*, `.`;
//    domain literals [a.b.c.d], [a.b.c.], [a.b.], [a.], [], `.`;
//  - the first rule whose template succeeds wins; a failing control or lookup
//    moves on to the next rule with the same pattern, then the next pattern;
//  - when the routing host selects the local channel `l` (or a `routelocal`
//    channel) and the address still holds another host (`u%h@local`,
//    `h!u@local`, `@local,@x:u@y`), the local host is dropped and the rest is
//    rewritten again: `user%other.org@local` becomes user@other.org.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostics.hpp"
#include "config/imta_cnf.hpp"

namespace imta::config {

struct RewriteLookups {
  virtual ~RewriteLookups() = default;
  /// $(key): the general database; nullopt when the key is absent (the rule fails).
  virtual std::optional<std::string> general(std::string_view key) const = 0;
  /// ${table,probe}: nullopt when the table does not exist or does not set $Y.
  virtual std::optional<std::string> mapping(std::string_view table,
                                             std::string_view probe) const = 0;
};

/// Lookups that always fail: for callers without databases or mappings.
struct NoRewriteLookups final : RewriteLookups {
  std::optional<std::string> general(std::string_view) const override { return std::nullopt; }
  std::optional<std::string> mapping(std::string_view, std::string_view) const override {
    return std::nullopt;
  }
};

struct RewriteRequest {
  std::string address;
  std::string source_channel = "l";  ///< the channel doing the rewriting ($M/$N, defaulthost)
  bool envelope = true;              ///< envelope address (else header/body): $E/$B
  bool forward = true;               ///< To:-like (else From:-like): $F/$R
  bool debug = false;                ///< fill RewriteResult::trace
  /// The channel the message is being enqueued to, for $C/$Q when rewriting
  /// header or backward-pointing addresses; empty = compare with the channel
  /// the rule's own routing host selects.
  std::string destination_channel;
};

struct RewriteResult {
  bool ok = false;
  std::string address;  ///< rewritten address (U@D, or @route:U@D)
  std::string channel;  ///< destination channel name
  std::optional<SourceLocation> rule;  ///< the rule that decided
  std::string error;                   ///< why, when !ok
  std::vector<std::string> trace;      ///< with debug: each step, human readable
};

/// Most passes one address may take (template `U%D`, or dropping a local
/// host); beyond it the result is a "rewrite loop" error.
inline constexpr int kMaxRewritePasses = 20;

RewriteResult rewrite_address(const ImtaCnf& cnf, const RewriteLookups& lookups,
                              const RewriteRequest& request);

}  // namespace imta::config
