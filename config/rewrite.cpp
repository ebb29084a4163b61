#include "config/rewrite.hpp"

#include <random>

#include "config/channel_keywords.hpp"
#include "config/rewrite_template.hpp"
#include "core/text.hpp"

namespace imta::config {

namespace {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// ---------------------------------------------------------------------------
// Taking an address apart. Quoted strings and backslash escapes in the local
// part hide `@`, `%`, `!` and `:` from the scanner.

template <typename F>
void scan_unquoted(std::string_view s, F each) {
  bool quoted = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (!quoted && !each(i, c)) return;
  }
}

std::size_t find_first_unquoted(std::string_view s, char wanted) {
  std::size_t at = std::string_view::npos;
  scan_unquoted(s, [&](std::size_t i, char c) {
    if (c != wanted) return true;
    at = i;
    return false;
  });
  return at;
}

std::size_t find_last_unquoted(std::string_view s, char wanted) {
  std::size_t at = std::string_view::npos;
  scan_unquoted(s, [&](std::size_t i, char c) {
    if (c == wanted) at = i;
    return true;
  });
  return at;
}

bool names_another_host(std::string_view local) {
  return find_first_unquoted(local, '%') != std::string_view::npos ||
         find_first_unquoted(local, '!') != std::string_view::npos;
}

enum class Location { route, at, percent, bang };

const char* location_name(Location l) {
  switch (l) {
    case Location::route: return "first host of a source route";
    case Location::at: return "right of @";
    case Location::percent: return "right of %";
    case Location::bang: return "left of !";
  }
  return "";
}

unsigned location_bit(Location l) { return 1u << static_cast<unsigned>(l); }

// The host one pass rewrites, and what is left of the address without it.
struct HostSpec {
  std::string host;
  Location location = Location::at;
  std::string user;        ///< $U
  std::string remainder;   ///< the address with this host removed
  bool more_hosts = false; ///< the remainder still names a host
  std::string route_tail;  ///< for a source route: ",@b:u@c" or ":u@c"
};

// nullopt with an empty `error` means the address names no host at all.
std::optional<HostSpec> extract_host(std::string_view addr, bool bang_over_percent,
                                     std::string& error) {
  HostSpec spec;
  if (!addr.empty() && addr.front() == '@') {
    auto colon = find_first_unquoted(addr, ':');
    if (colon == std::string_view::npos) {
      error = "source route without \":\" in " + quote(addr);
      return std::nullopt;
    }
    auto route = addr.substr(1, colon - 1);
    auto mailbox = addr.substr(colon + 1);
    auto comma = route.find(',');
    std::string rest(comma == std::string_view::npos ? std::string_view{} : route.substr(comma + 1));
    if (!rest.empty() && rest.front() != '@') rest.insert(rest.begin(), '@');
    spec.host = std::string(route.substr(0, comma));
    spec.location = Location::route;
    auto at = find_last_unquoted(mailbox, '@');
    spec.user = std::string(at == std::string_view::npos ? mailbox : mailbox.substr(0, at));
    spec.remainder = rest.empty() ? std::string(mailbox) : rest + ":" + std::string(mailbox);
    spec.more_hosts = true;
    spec.route_tail = (rest.empty() ? "" : "," + rest) + ":" + std::string(mailbox);
    return spec;
  }
  if (auto at = find_last_unquoted(addr, '@'); at != std::string_view::npos) {
    spec.host = std::string(addr.substr(at + 1));
    spec.user = std::string(addr.substr(0, at));
    spec.location = Location::at;
  } else {
    auto pct = find_last_unquoted(addr, '%');
    auto bang = find_first_unquoted(addr, '!');
    bool use_bang = bang != std::string_view::npos &&
                    (bang_over_percent || pct == std::string_view::npos);
    if (use_bang) {
      spec.host = std::string(addr.substr(0, bang));
      spec.user = std::string(addr.substr(bang + 1));
      spec.location = Location::bang;
    } else if (pct != std::string_view::npos) {
      spec.host = std::string(addr.substr(pct + 1));
      spec.user = std::string(addr.substr(0, pct));
      spec.location = Location::percent;
    } else {
      return std::nullopt;
    }
  }
  spec.remainder = spec.user;
  spec.more_hosts = names_another_host(spec.user);
  return spec;
}

// ---------------------------------------------------------------------------
// The patterns one host is looked up under, most specific first.

struct Candidate {
  std::string pattern;  ///< lower case: the rule index key
  std::string d, h, l;  ///< $D $H $L, original case
  std::vector<std::string> explicit_labels;  ///< matched by explicit pattern text ($* $#)
  std::vector<std::string> loose_labels;     ///< unmatched or wildcard-matched ($& $!)
};

std::vector<std::string> split_labels(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    out.emplace_back(s.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::size_t from, std::size_t to,
                 std::string_view sep = ".") {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) out += sep;
    out += parts[i];
  }
  return out;
}

std::vector<std::string> slice(const std::vector<std::string>& v, std::size_t from, std::size_t to) {
  return {v.begin() + static_cast<std::ptrdiff_t>(from), v.begin() + static_cast<std::ptrdiff_t>(to)};
}

std::vector<Candidate> literal_candidates(const std::string& host) {
  std::vector<Candidate> out;
  std::string content = host.substr(1, host.size() - 2);
  auto parts = split_labels(content);
  out.push_back({core::to_lower(host), host, "", "", parts, {}});
  // IPv6 and other non-dotted literals have no meaningful prefixes.
  bool dotted = content.find(':') == std::string::npos && parts.size() > 1;
  std::size_t n = parts.size();
  for (std::size_t j = dotted ? 1 : n; j <= n; ++j) {
    std::string prefix = join(parts, 0, n - j);
    std::string pattern = "[" + prefix + (prefix.empty() ? "" : ".") + "]";
    out.push_back({core::to_lower(pattern), pattern, "", join(parts, n - j, n),
                   slice(parts, 0, n - j), slice(parts, n - j, n)});
  }
  out.push_back({".", "", host, content, {}, parts});
  return out;
}

std::vector<Candidate> host_candidates(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return literal_candidates(host);
  std::vector<Candidate> out;
  auto labels = split_labels(host);
  std::size_t k = labels.size();
  out.push_back({core::to_lower(host), host, "", "", labels, {}});
  for (std::size_t j = 1; j <= k; ++j) {
    std::string suffix = join(labels, j, k);
    std::string stars;
    for (std::size_t s = 0; s < j; ++s) stars += s ? ".*" : "*";
    std::string star_pattern = suffix.empty() ? stars : stars + "." + suffix;
    out.push_back({core::to_lower(star_pattern), host, "", "", slice(labels, j, k),
                   slice(labels, 0, j)});
    if (j < k)
      out.push_back({"." + core::to_lower(suffix), "." + suffix, join(labels, 0, j), "",
                     slice(labels, j, k), slice(labels, 0, j)});
  }
  out.push_back({".", "", host, "", {}, labels});
  return out;
}

// ---------------------------------------------------------------------------
// Expanding a template.

enum class CaseMode { keep, lower, upper };

// Template text with a flag per character: only `@` and `%` written in the
// template itself give the result its structure; the same characters coming
// from $U, a lookup, $% or $@ are part of a name.
struct Expansion {
  std::string text;
  std::vector<bool> structural;
  void add(std::string_view s, bool is_structure, CaseMode mode) {
    std::string piece = mode == CaseMode::lower   ? core::to_lower(s)
                        : mode == CaseMode::upper ? core::to_upper(s)
                                                  : std::string(s);
    text += piece;
    structural.insert(structural.end(), piece.size(), is_structure);
  }
};

struct Controls {
  bool envelope_only = false, header_only = false, forward_only = false, backward_only = false;
  bool reprocess_only = false, never_reprocess = false;
  unsigned locations = 0;
  std::vector<std::string> source_is, source_is_not, dest_is, dest_is_not;
};

std::string unique_string() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s;
  for (int i = 0; i < 16; ++i) s += digits[gen() % 36];
  return s;
}

std::string drop_labels(std::string_view s, int n) {
  if (n == 0) return std::string(s);
  if (!s.empty() && s.front() == '.') s.remove_prefix(1);
  auto labels = split_labels(s);
  if (static_cast<std::size_t>(n) >= labels.size()) return "";
  return join(labels, static_cast<std::size_t>(n), labels.size());
}

class Expander {
 public:
  Expander(const Candidate& match, const HostSpec& spec, const RewriteLookups& lookups)
      : match_(match), spec_(spec), lookups_(lookups) {}

  Controls controls;

  // Returns "" on success, else why the rule fails.
  std::string expand(const std::vector<TemplateToken>& tokens, Expansion& out, int depth = 0) {
    for (const auto& t : tokens) {
      auto why = one(t, out, depth);
      if (!why.empty()) return why;
    }
    return "";
  }

 private:
  std::string one(const TemplateToken& t, Expansion& out, int depth) {
    std::string value;
    switch (t.op) {
      case TemplateOp::literal: out.add(t.text, !t.quoted, mode_); return "";
      case TemplateOp::user: value = spec_.user; break;
      case TemplateOp::user_base: value = spec_.user.substr(0, spec_.user.find('+')); break;
      case TemplateOp::user_detail: {
        auto plus = spec_.user.find('+');
        value = plus == std::string::npos ? "" : spec_.user.substr(plus + 1);
        break;
      }
      case TemplateOp::domain: value = drop_labels(match_.d, t.n); break;
      case TemplateOp::host: value = drop_labels(match_.h, t.n); break;
      case TemplateOp::literal_rest: value = match_.l; break;
      case TemplateOp::matched_left:
      case TemplateOp::matched_right:
      case TemplateOp::host_left:
      case TemplateOp::host_right: {
        bool matched = t.op == TemplateOp::matched_left || t.op == TemplateOp::matched_right;
        bool right = t.op == TemplateOp::matched_right || t.op == TemplateOp::host_right;
        const auto& labels = matched ? match_.explicit_labels : match_.loose_labels;
        auto count = static_cast<int>(labels.size());
        if (t.n >= count) {
          static const char* names[] = {"$*", "$#", "$&", "$!"};
          int which = (matched ? 0 : 2) + (right ? 1 : 0);
          return std::string(names[which]) + std::to_string(t.n) + ": no such label";
        }
        value = labels[static_cast<std::size_t>(right ? count - 1 - t.n : t.n)];
        break;
      }
      case TemplateOp::force_lower: mode_ = CaseMode::lower; return "";
      case TemplateOp::force_upper: mode_ = CaseMode::upper; return "";
      case TemplateOp::keep_case: mode_ = CaseMode::keep; return "";
      case TemplateOp::unique: value = unique_string(); break;
      case TemplateOp::general_lookup: {
        Expansion key;
        if (auto why = expand(t.arg, key, depth); !why.empty()) return why;
        auto found = lookups_.general(key.text);
        if (!found) return "$(" + key.text + "): not in the general database";
        value = *found;
        break;
      }
      case TemplateOp::mapping_lookup: {
        Expansion probe;
        if (auto why = expand(t.arg, probe, depth); !why.empty()) return why;
        auto found = lookups_.mapping(t.text, probe.text);
        if (!found) return "${" + t.text + "," + probe.text + "}: the mapping did not succeed";
        // PMDF merges a mapping's result into the template and expands it
        // again, so a mapping can supply substitutions and structure.
        if (depth >= 8) return "${" + t.text + "}: mapping results nest too deeply";
        auto parsed = parse_template(*found);
        if (!parsed.ok())
          return "${" + t.text + "," + probe.text + "}: result " + quote(*found) + ": " + parsed.error;
        return expand(parsed.tokens, out, depth + 1);
      }
      case TemplateOp::envelope_only: controls.envelope_only = true; return "";
      case TemplateOp::header_only: controls.header_only = true; return "";
      case TemplateOp::forward_only: controls.forward_only = true; return "";
      case TemplateOp::backward_only: controls.backward_only = true; return "";
      case TemplateOp::from_route: controls.locations |= location_bit(Location::route); return "";
      case TemplateOp::from_at: controls.locations |= location_bit(Location::at); return "";
      case TemplateOp::from_percent: controls.locations |= location_bit(Location::percent); return "";
      case TemplateOp::from_bang: controls.locations |= location_bit(Location::bang); return "";
      case TemplateOp::source_is: controls.source_is.push_back(t.text); return "";
      case TemplateOp::source_is_not: controls.source_is_not.push_back(t.text); return "";
      case TemplateOp::dest_is_not: controls.dest_is_not.push_back(t.text); return "";
      case TemplateOp::dest_is: controls.dest_is.push_back(t.text); return "";
      case TemplateOp::reprocess_only: controls.reprocess_only = true; return "";
      case TemplateOp::never_reprocess: controls.never_reprocess = true; return "";
    }
    out.add(value, false, mode_);
    return "";
  }

  const Candidate& match_;
  const HostSpec& spec_;
  const RewriteLookups& lookups_;
  CaseMode mode_ = CaseMode::keep;
};

bool contains(const std::vector<std::string>& v, std::string_view s) {
  for (const auto& x : v)
    if (core::iequals(x, s)) return true;
  return false;
}

// Controls that depend only on the request and the source channel.
std::string check_controls(const Controls& c, const RewriteRequest& req, Location loc,
                           bool source_rules) {
  if (c.envelope_only && !req.envelope) return "$E: not an envelope address";
  if (c.header_only && req.envelope) return "$B: not a header address";
  if (c.forward_only && !req.forward) return "$F: not a forward-pointing address";
  if (c.backward_only && req.forward) return "$R: not a backward-pointing address";
  if (c.locations && !(c.locations & location_bit(loc)))
    return std::string("$S/$A/$P/$X: the host is ") + location_name(loc);
  bool reprocessing = core::iequals(req.source_channel, "reprocess");
  if (c.reprocess_only && !reprocessing) return "$1M: not reprocessing";
  if (c.never_reprocess && reprocessing) return "$1N: reprocessing";
  // `norules` on the channel doing the rewriting switches these checks off.
  if (source_rules) {
    if (!c.source_is.empty() && !contains(c.source_is, req.source_channel))
      return "$M: the source channel is " + req.source_channel;
    if (contains(c.source_is_not, req.source_channel))
      return "$N: the source channel is " + req.source_channel;
  }
  return "";
}

// ---------------------------------------------------------------------------
// One rule against one host.

enum class Verdict { success, again, failed, illegal };

struct Attempt {
  Verdict verdict = Verdict::failed;
  std::string reason;        ///< failed / illegal: why
  std::string user, domain;  ///< success / again
  std::vector<std::string> route;  ///< template source-route forms
  std::string tag;
  const Channel* channel = nullptr;
};

struct Env {
  const ImtaCnf& cnf;
  const RewriteLookups& lookups;
  const RewriteRequest& req;
  bool source_rules;
};

Attempt try_rule(const RewriteRule& rule, const Candidate& match, const HostSpec& spec, Env& env) {
  Attempt a;
  auto parsed = parse_template(rule.templ);
  if (!parsed.ok()) {
    a.reason = "invalid template: " + parsed.error;
    return a;
  }
  Expander ex(match, spec, env.lookups);
  // Controls are checked before anything is looked up, then again after
  // expansion in case a mapping result brought more of them.
  for (const auto& t : parsed.tokens) {
    if (!is_control(t.op)) continue;
    Expansion ignored;
    ex.expand({t}, ignored);
  }
  if (a.reason = check_controls(ex.controls, env.req, spec.location, env.source_rules);
      !a.reason.empty())
    return a;
  ex.controls = {};
  Expansion out;
  if (a.reason = ex.expand(parsed.tokens, out); !a.reason.empty()) return a;
  if (a.reason = check_controls(ex.controls, env.req, spec.location, env.source_rules);
      !a.reason.empty())
    return a;

  std::vector<std::size_t> ats, percents;
  for (std::size_t i = 0; i < out.text.size(); ++i) {
    if (!out.structural[i]) continue;
    if (out.text[i] == '@') ats.push_back(i);
    if (out.text[i] == '%') percents.push_back(i);
  }
  const std::string& s = out.text;
  if (ats.empty()) {
    if (percents.empty()) {
      a.reason = "the template's result " + quote(s) + " has neither @ nor %";
      return a;
    }
    a.verdict = Verdict::again;
    a.user = s.substr(0, percents.back());
    a.domain = s.substr(percents.back() + 1);
    return a;
  }
  a.tag = s.substr(ats.back() + 1);
  if (ats.size() == 1) {
    std::size_t pct = std::string::npos;
    for (auto p : percents)
      if (p < ats[0]) pct = p;
    if (pct != std::string::npos) {
      a.user = s.substr(0, pct);
      a.domain = s.substr(pct + 1, ats[0] - pct - 1);
    } else {
      a.user = s.substr(0, ats[0]);
      a.domain = a.tag;
    }
  } else {
    // U@D@Tag and U@D@Route...@Tag insert a source route (the tag alone
    // when no route is written).
    a.user = s.substr(0, ats[0]);
    a.domain = s.substr(ats[0] + 1, ats[1] - ats[0] - 1);
    for (std::size_t i = 1; i + 1 < ats.size(); ++i)
      a.route.push_back(s.substr(ats[i] + 1, ats[i + 1] - ats[i] - 1));
    if (a.route.empty()) a.route.push_back(a.tag);
  }
  a.channel = env.cnf.channel_for_host(a.tag);
  if (!a.channel) {
    a.verdict = Verdict::illegal;
    a.reason = "illegal host/domain name: routing host " + quote(a.tag) + " of rule " +
               rule.where.str() + " is no channel's host name";
    return a;
  }
  // $C/$Q concern the channel a message is being enqueued to; for envelope
  // recipients that is what is being decided, so they do not apply.
  if (!(env.req.envelope && env.req.forward)) {
    const std::string& dest =
        env.req.destination_channel.empty() ? a.channel->name : env.req.destination_channel;
    if (contains(ex.controls.dest_is_not, dest)) {
      a.reason = "$C: the destination channel is " + dest;
      return a;
    }
    if (!ex.controls.dest_is.empty() && !contains(ex.controls.dest_is, dest)) {
      a.reason = "$Q: the destination channel is " + dest;
      return a;
    }
  }
  a.verdict = Verdict::success;
  return a;
}

std::string strip_brackets(std::string_view s) {
  s = core::trim(s);
  if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = core::trim(s.substr(1, s.size() - 2));
  return std::string(s);
}

std::string default_host(const ImtaCnf& cnf, const Channel& source) {
  if (const auto* kv = source.keyword("defaulthost"); kv && !kv->args.empty()) return kv->args[0];
  if (const auto* local = cnf.find_channel("l")) return local->official_host();
  return "";
}

}  // namespace

RewriteResult rewrite_address(const ImtaCnf& cnf, const RewriteLookups& lookups,
                              const RewriteRequest& request) {
  RewriteResult result;
  auto trace = [&](std::string line) {
    if (request.debug) result.trace.push_back(std::move(line));
  };
  auto fail = [&](std::string why) {
    result.ok = false;
    result.error = std::move(why);
    trace("error: " + result.error);
    return result;
  };

  std::string address = strip_brackets(request.address);
  trace("rewriting " + quote(address) + " from channel " + request.source_channel + " (" +
        (request.envelope ? "envelope" : "header") + ", " +
        (request.forward ? "forward" : "backward") + ")");
  if (address.empty()) return fail("empty address");
  const Channel* source = cnf.find_channel(request.source_channel);
  if (!source) return fail("unknown source channel " + quote(request.source_channel));
  bool bang_over_percent = source->has("bangoverpercent");
  Env env{cnf, lookups, request, !source->has("norules")};

  for (int pass = 0; pass < kMaxRewritePasses; ++pass) {
    std::string error;
    auto spec = extract_host(address, bang_over_percent, error);
    if (!spec && !error.empty()) return fail(error);
    if (!spec) {
      auto host = default_host(cnf, *source);
      if (host.empty())
        return fail("address " + quote(address) + " has no domain and there is no default host");
      trace(quote(address) + " has no domain: adding " + host);
      address += "@" + host;
      spec = extract_host(address, bang_over_percent, error);
    }
    if (!spec->host.empty() && spec->host.back() == '.') spec->host.pop_back();
    if (spec->host.empty()) return fail("empty host name in " + quote(address));
    trace("host " + quote(spec->host) + " (" + location_name(spec->location) + "), user " +
          quote(spec->user));

    std::optional<Attempt> decided;
    const RewriteRule* decided_rule = nullptr;
    for (const auto& cand : host_candidates(spec->host)) {
      const auto indices = cnf.rules_for(cand.pattern);
      if (indices.empty()) {
        trace("  pattern " + quote(cand.pattern) + ": no rule");
        continue;
      }
      for (auto idx : indices) {
        const auto& rule = cnf.rules[idx];
        auto a = try_rule(rule, cand, *spec, env);
        std::string head = "  pattern " + quote(cand.pattern) + ": rule " + rule.where.str() + " " +
                           quote(rule.templ);
        if (a.verdict == Verdict::failed) {
          trace(head + " fails: " + a.reason);
          continue;
        }
        if (a.verdict == Verdict::illegal) {
          result.rule = rule.where;
          return fail(a.reason);
        }
        if (a.verdict == Verdict::again)
          trace(head + " -> " + a.user + "@" + a.domain + ", rewritten again");
        else
          trace(head + " -> " + a.user + "@" + a.domain + " via " + a.tag + " = channel " +
                a.channel->name);
        decided = std::move(a);
        decided_rule = &rule;
        break;
      }
      if (decided) break;
    }
    if (!decided)
      return fail("illegal host/domain name " + quote(spec->host) + ": no rewrite rule applies");
    result.rule = decided_rule->where;

    if (decided->verdict == Verdict::again) {
      address = decided->user + "@" + decided->domain;
      continue;
    }
    const Channel& dest = *decided->channel;
    if ((dest.name == "l" || dest.has("routelocal")) && spec->more_hosts) {
      trace("  channel " + dest.name + " is local and " + quote(spec->remainder) +
            " names another host: dropping " + spec->host);
      address = spec->remainder;
      continue;
    }
    result.ok = true;
    result.channel = dest.name;
    if (spec->location == Location::route) {
      // The route stays; its first host becomes what the template made of it.
      result.address = "@" + decided->domain + spec->route_tail;
    } else if (!decided->route.empty()) {
      result.address = "@" + join(decided->route, 0, decided->route.size(), ",@") + ":" +
                       decided->user + "@" + decided->domain;
    } else {
      result.address = decided->user + "@" + decided->domain;
    }
    trace("result: " + result.address + " on channel " + result.channel);
    return result;
  }
  return fail("rewrite loop: still rewriting after " + std::to_string(kMaxRewritePasses) +
              " passes (last address " + quote(address) + ")");
}

}  // namespace imta::config
