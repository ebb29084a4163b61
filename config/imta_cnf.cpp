#include "config/imta_cnf.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include "config/channel_keywords.hpp"
#include "config/rewrite_template.hpp"
#include "core/text.hpp"

namespace imta::config {

// ---------------------------------------------------------------------------
// Lookups

const KeywordValue* Channel::keyword(std::string_view name) const {
  for (const auto& k : keywords)
    if (core::iequals(k.name, name)) return &k;
  return nullptr;
}

namespace {
/// The family of keyword `name` from the static keyword table ("" if unknown).
std::string_view family_of(std::string_view name) {
  const auto* spec = find_keyword(name);
  return spec ? std::string_view(spec->family) : std::string_view();
}
}  // namespace

const KeywordValue* Channel::family(std::string_view family_name) const {
  // A channel build_index() has not seen (made by hand) looks its families up.
  const bool indexed = keyword_families.size() == keywords.size();
  for (std::size_t i = 0; i < keywords.size(); ++i) {
    const std::string_view family = indexed ? keyword_families[i] : family_of(keywords[i].name);
    if (core::iequals(family, family_name)) return &keywords[i];
  }
  return nullptr;
}

const Channel* ImtaCnf::find_channel(std::string_view name) const {
  auto it = channel_index_.find(core::to_lower(name));
  return it == channel_index_.end() ? nullptr : &channels[it->second];
}

const Channel* ImtaCnf::channel_for_host(std::string_view host) const {
  auto it = host_index_.find(core::to_lower(host));
  return it == host_index_.end() ? nullptr : &channels[it->second];
}

namespace {

// FNV-1a over the lower-cased text.
std::uint32_t folded_hash(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ static_cast<unsigned char>(core::ascii_lower(c))) * 16777619u;
  return h;
}

// `pattern` (as written) lower-cased is exactly `lowered`.
bool lowers_to(std::string_view pattern, std::string_view lowered) {
  if (pattern.size() != lowered.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i)
    if (core::ascii_lower(pattern[i]) != lowered[i]) return false;
  return true;
}

}  // namespace

std::span<const std::uint32_t> ImtaCnf::rules_for(std::string_view lowered_pattern) const {
  if (rule_groups_.empty()) return {};
  const std::size_t mask = rule_groups_.size() - 1;
  const std::uint32_t h = folded_hash(lowered_pattern);
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const RuleGroup& g = rule_groups_[i];
    if (g.count == 0) return {};
    if (g.hash == h && lowers_to(rules[rule_order_[g.first]].pattern, lowered_pattern))
      return {rule_order_.data() + g.first, g.count};
  }
}

void ImtaCnf::build_index() {
  channel_index_.clear();
  host_index_.clear();
  for (std::uint32_t i = 0; i < channels.size(); ++i) {
    auto& families = channels[i].keyword_families;
    families.clear();
    for (const auto& k : channels[i].keywords) families.push_back(family_of(k.name));
    channel_index_.emplace(channels[i].name, i);
    // The first channel to claim a host name keeps it; the parser warns.
    for (const auto& h : channels[i].hosts) host_index_.emplace(core::to_lower(h), i);
  }

  rule_order_.assign(rules.size(), 0);
  rule_groups_.clear();
  if (rules.empty()) return;
  // At most two thirds full: probes stay short and the table small enough
  // to stay in cache while it is built.
  std::size_t slots = 8;
  while (slots < rules.size() + rules.size() / 2) slots *= 2;
  rule_groups_.assign(slots, RuleGroup{});
  // First pass: find each rule's group (`first` holds the group's first rule
  // for now) and count the group's members.
  std::vector<std::uint32_t> group_of(rules.size());
  for (std::uint32_t r = 0; r < rules.size(); ++r) {
    const std::string& pattern = rules[r].pattern;
    const std::uint32_t h = folded_hash(pattern);
    std::size_t i = h & (slots - 1);
    for (;; i = (i + 1) & (slots - 1)) {
      RuleGroup& g = rule_groups_[i];
      if (g.count == 0) {
        g = RuleGroup{h, r, 0};
        break;
      }
      if (g.hash == h && core::iequals(rules[g.first].pattern, pattern)) break;
    }
    ++rule_groups_[i].count;
    group_of[r] = static_cast<std::uint32_t>(i);
  }
  // Second pass: give each group its run of rule_order_, then fill the runs
  // in file order.
  std::vector<std::uint32_t> next(slots);
  std::uint32_t offset = 0;
  for (std::size_t i = 0; i < slots; ++i) {
    RuleGroup& g = rule_groups_[i];
    if (g.count == 0) continue;
    g.first = next[i] = offset;
    offset += g.count;
  }
  for (std::uint32_t r = 0; r < rules.size(); ++r) rule_order_[next[group_of[r]]++] = r;
}

// ---------------------------------------------------------------------------
// Parsing

namespace {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Splits a rule line on blanks; a double-quoted run stays inside its word
// with the quotes kept, since quotes may be part of a local part.
std::vector<std::string> rule_words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && core::is_blank(line[i])) ++i;
    if (i >= line.size()) break;
    std::string w;
    bool quoted = false;
    while (i < line.size() && (quoted || !core::is_blank(line[i]))) {
      if (line[i] == '"') quoted = !quoted;
      w += line[i++];
    }
    words.push_back(std::move(w));
  }
  return words;
}

bool looks_like_pattern(std::string_view p) {
  if (p.empty()) return false;
  if (p.front() == '[') return p.back() == ']';
  return p.find_first_of("[]@\"") == std::string_view::npos;
}

void parse_rule(const SourceLine& line, ImtaCnf& cnf, Diagnostics& diags) {
  auto words = rule_words(line.text);
  const auto& where = line.where;
  if (words.size() < 2) {
    diags.error(where, "rewrite rule for pattern " + quote(words[0]) + " has no template");
    return;
  }
  if (words.size() > 2) {
    diags.error(where, "unexpected text " + quote(words[2]) + " after the template of rule " +
                           quote(words[0]) + " (a rule is \"pattern template\", neither may contain blanks)");
    return;
  }
  if (!looks_like_pattern(words[0])) {
    diags.error(where, "invalid rewrite rule pattern " + quote(words[0]));
    return;
  }
  auto parsed = parse_template(words[1]);
  if (!parsed.ok()) {
    diags.error(where, "template " + quote(words[1]) + ": " + parsed.error);
    return;
  }
  auto shape = template_shape(parsed);
  if (!shape.has_at && !shape.has_percent && !shape.has_mapping) {
    diags.error(where, "template " + quote(words[1]) +
                           " names no routing host (\"@host\") and no domain (\"%domain\")" +
                           " (is the blank line before the channel blocks missing?)");
    return;
  }
  if (shape.tag && shape.tag->empty()) {
    diags.error(where, "template " + quote(words[1]) + " ends with \"@\" but names no routing host");
    return;
  }
  cnf.rules.push_back({words[0], words[1], where});
}

// Keywords of one channel line, validated against the registry.
class KeywordReader {
 public:
  KeywordReader(const std::vector<std::string>& words, const SourceLocation& where,
                Diagnostics& diags)
      : words_(words), where_(where), diags_(diags) {}

  std::vector<KeywordValue> read() {
    std::vector<KeywordValue> out;
    std::string previous;  // last keyword read, for "extra argument" messages
    while (i_ < words_.size()) {
      const auto& word = words_[i_++];
      const KeywordSpec* spec = find_keyword(word);
      if (!spec) {
        unknown(word, previous);
        skip_values();
        previous.clear();
        continue;
      }
      KeywordValue kv{spec->name, {}, where_};
      if (read_args(*spec, kv.args)) out.push_back(std::move(kv));
      previous = spec->name;
    }
    return out;
  }

 private:
  bool next_is_keyword() const { return i_ < words_.size() && find_keyword(words_[i_]); }

  void unknown(const std::string& word, const std::string& previous) {
    bool value_like = !word.empty() && (std::isdigit(static_cast<unsigned char>(word[0])) ||
                                        parse_iso8601_duration(word).has_value());
    if (value_like && !previous.empty()) {
      diags_.error(where_, "extra argument " + quote(word) + " after keyword " + quote(previous) +
                               " (it takes " + describe_args(*find_keyword(previous)) + ")");
      return;
    }
    std::string msg = "unknown channel keyword " + quote(word);
    auto near = closest_keyword(word);
    if (!near.empty()) msg += "; did you mean " + quote(near) + "?";
    if (word.find_first_of("$@") != std::string::npos)
      msg += " (rewrite rules must come before the first blank line)";
    diags_.error(where_, msg);
  }

  // What follows an unknown keyword is probably its argument; reporting it
  // as another unknown keyword would only be noise. Lower-case words are kept:
  // they are more likely a second misspelt keyword than a value.
  void skip_values() {
    while (i_ < words_.size() && !next_is_keyword()) {
      const auto& w = words_[i_];
      bool value_like = std::any_of(w.begin(), w.end(), [](char c) {
        return !((c >= 'a' && c <= 'z') || c == '_');
      });
      if (!value_like) break;
      ++i_;
    }
  }

  bool missing(const KeywordSpec& spec) {
    diags_.error(where_, "keyword " + quote(spec.name) + " needs " + describe_args(spec));
    return false;
  }

  bool read_args(const KeywordSpec& spec, std::vector<std::string>& args) {
    switch (spec.args) {
      case KeywordArgs::none:
        return true;
      case KeywordArgs::integer:
      case KeywordArgs::text:
      case KeywordArgs::host:
      case KeywordArgs::channel:
      case KeywordArgs::hosts_1_2: {
        // A following keyword means the argument was forgotten; taking the
        // keyword as the argument would hide both mistakes.
        if (i_ >= words_.size() || next_is_keyword()) return missing(spec);
        args.push_back(words_[i_++]);
        if (spec.args == KeywordArgs::hosts_1_2 && i_ < words_.size() && !next_is_keyword() &&
            valid_host_name(words_[i_]))
          args.push_back(words_[i_++]);
        return check_each(spec, args);
      }
      case KeywordArgs::durations:
      case KeywordArgs::ascending: {
        while (i_ < words_.size() && !next_is_keyword()) args.push_back(words_[i_++]);
        if (args.empty()) return missing(spec);
        return spec.args == KeywordArgs::durations ? check_each(spec, args)
                                                   : check_ascending(spec, args);
      }
    }
    return false;
  }

  // Reports every argument check_argument refuses.
  bool check_each(const KeywordSpec& spec, const std::vector<std::string>& args) {
    bool ok = true;
    for (const auto& a : args)
      if (auto problem = check_argument(spec, a); !problem.empty()) {
        diags_.error(where_, "keyword " + quote(spec.name) + ": " + problem);
        ok = false;
      }
    return ok;
  }

  bool check_ascending(const KeywordSpec& spec, const std::vector<std::string>& args) {
    std::int64_t last = 0;
    for (const auto& a : args) {
      auto v = core::parse_integer(a);
      if (!v || *v <= 0) {
        diags_.error(where_, "keyword " + quote(spec.name) + ": " + quote(a) +
                                 " is not a positive integer");
        return false;
      }
      if (*v <= last) {
        diags_.error(where_, "keyword " + quote(spec.name) + ": values must be ascending (" +
                                 quote(a) + " follows " + std::to_string(last) + ")");
        return false;
      }
      last = *v;
    }
    return true;
  }

  const std::vector<std::string>& words_;
  const SourceLocation& where_;
  Diagnostics& diags_;
  std::size_t i_ = 1;  // words_[0] is the channel name
};

// Adds `kv` to an effective keyword list: it replaces whatever member of its
// family was there (a block overrides its defaults, later defaults override
// earlier ones).
void put_keyword(std::vector<KeywordValue>& list, KeywordValue kv) {
  const auto* spec = find_keyword(kv.name);
  std::erase_if(list, [&](const KeywordValue& old) {
    const auto* o = find_keyword(old.name);
    return o && spec && o->family == spec->family;
  });
  list.push_back(std::move(kv));
}

// Within one block, two members of a family (or the same keyword twice) are
// almost certainly a mistake; the later one wins, as it does for defaults.
void warn_conflicts(const std::vector<KeywordValue>& written, const std::string& channel,
                    Diagnostics& diags) {
  std::map<std::string, std::string> seen;  // family -> first keyword
  for (const auto& kv : written) {
    const auto* spec = find_keyword(kv.name);
    if (!spec) continue;
    auto [it, fresh] = seen.emplace(spec->family, kv.name);
    if (fresh) continue;
    if (it->second == kv.name)
      diags.warning(kv.where, "keyword " + quote(kv.name) + " given twice for " + channel +
                                  "; the last one counts");
    else
      diags.warning(kv.where, "keywords " + quote(it->second) + " and " + quote(kv.name) +
                                  " conflict for " + channel + "; " + quote(kv.name) + " wins");
    it->second = kv.name;
  }
}

struct Block {
  std::vector<const SourceLine*> lines;
};

class ChannelPartParser {
 public:
  ChannelPartParser(ImtaCnf& cnf, Diagnostics& diags) : cnf_(cnf), diags_(diags) {}

  void block(const Block& b) {
    const SourceLine& first = *b.lines.front();
    auto words = core::split_words(first.text);
    const std::string& name = words.front();
    auto lowered = core::to_lower(name);
    KeywordReader reader(words, first.where, diags_);
    auto written = reader.read();
    for (const auto& kv : written) cnf_.keyword_uses.push_back(kv);

    if (lowered == "defaults" || lowered == "nodefaults") {
      pseudo_block(b, lowered, written);
      return;
    }
    if (!valid_channel_name(name)) {
      std::string msg = "invalid channel name " + quote(name) +
                        " (up to 32 characters: lower case letters, digits, _ $ -)";
      if (words.size() >= 2 && (words[1].find('$') != std::string::npos ||
                                words[1].find('@') != std::string::npos))
        msg += "; rewrite rules must come before the first blank line";
      diags_.error(first.where, msg);
      return;
    }
    warn_conflicts(written, "channel " + name, diags_);
    if (!saw_channel_ && name != "l")
      diags_.error(first.where, "the first channel block must be the local channel l, not " + name);
    saw_channel_ = true;

    Channel ch;
    ch.name = name;
    ch.where = first.where;
    ch.keywords = defaults_;
    for (auto& kv : written) put_keyword(ch.keywords, std::move(kv));
    for (std::size_t i = 1; i < b.lines.size(); ++i) host_line(*b.lines[i], ch);
    if (ch.hosts.empty()) {
      diags_.error(first.where, "no official host name for channel " + name +
                                    " (the line after the channel line names it)");
      return;
    }
    if (auto it = first_seen_.find(name); it != first_seen_.end()) {
      diags_.error(first.where, "duplicate channel " + name + " (first defined at " +
                                    it->second.str() + ")");
      return;
    }
    first_seen_.emplace(name, first.where);
    cnf_.channels.push_back(std::move(ch));
  }

  void finish() {
    // Keywords whose argument names a channel: a typo there would silently
    // disable the feature (no session ever switches), so it is an error.
    for (const auto& ch : cnf_.channels)
      for (const auto& kv : ch.keywords) {
        const auto* spec = find_keyword(kv.name);
        if (!spec || spec->args != KeywordArgs::channel || kv.args.empty()) continue;
        if (!first_seen_.count(kv.args[0]))
          diags_.error(kv.where, "keyword " + quote(kv.name) + " of channel " + ch.name +
                                       " names channel " + kv.args[0] + ", which is not defined");
      }
  }

 private:
  void pseudo_block(const Block& b, const std::string& kind, std::vector<KeywordValue>& written) {
    const SourceLine& first = *b.lines.front();
    for (std::size_t i = 1; i < b.lines.size(); ++i)
      diags_.error(b.lines[i]->where,
                   "a " + kind + " block has no host names (is a blank line missing after it?)");
    if (kind == "nodefaults") {
      if (!written.empty())
        diags_.error(first.where, "nodefaults takes no keywords");
      defaults_.clear();
      return;
    }
    warn_conflicts(written, "defaults", diags_);
    for (auto& kv : written) put_keyword(defaults_, std::move(kv));
  }

  void host_line(const SourceLine& line, Channel& ch) {
    auto words = core::split_words(line.text);
    if (words.size() > 2) {
      diags_.error(line.where, "unexpected text " + quote(words[2]) + " after host names of channel " +
                                   ch.name + " (at most two names per line)");
    }
    for (std::size_t i = 0; i < words.size() && i < 2; ++i) {
      const auto& host = words[i];
      if (!valid_host_name(host)) {
        diags_.error(line.where, "invalid host name " + quote(host) + " for channel " + ch.name);
        continue;
      }
      auto key = core::to_lower(host);
      auto [it, fresh] = host_owner_.emplace(key, ch.name);
      if (!fresh && it->second != ch.name)
        diags_.warning(line.where, "host name " + host + " already belongs to channel " +
                                       it->second + "; rewriting uses that channel");
      ch.hosts.push_back(host);
    }
  }

  ImtaCnf& cnf_;
  Diagnostics& diags_;
  std::vector<KeywordValue> defaults_;
  bool saw_channel_ = false;
  std::map<std::string, SourceLocation> first_seen_;
  std::map<std::string, std::string> host_owner_;
};

}  // namespace

ImtaCnf parse_imta_cnf(const std::vector<SourceLine>& lines, Diagnostics& diags) {
  ImtaCnf cnf;
  std::size_t i = 0;
  for (; i < lines.size() && !lines[i].blank(); ++i) parse_rule(lines[i], cnf, diags);

  ChannelPartParser channels(cnf, diags);
  Block current;
  for (; i < lines.size(); ++i) {
    if (lines[i].blank()) {
      if (!current.lines.empty()) channels.block(current);
      current.lines.clear();
      continue;
    }
    current.lines.push_back(&lines[i]);
  }
  if (!current.lines.empty()) channels.block(current);
  channels.finish();

  if (cnf.channels.empty()) {
    SourceLocation where = lines.empty() ? SourceLocation{"imta.cnf", 0}
                                         : SourceLocation{lines.back().where.file, 0};
    diags.error(where, "no channel blocks: the local channel l is required "
                       "(channel blocks follow the first blank line)");
  }
  cnf.build_index();
  return cnf;
}

void check_rule_tags(const ImtaCnf& cnf, Diagnostics& diags) {
  for (const auto& rule : cnf.rules) {
    auto parsed = parse_template(rule.templ);
    if (!parsed.ok()) continue;  // already an error
    auto shape = template_shape(parsed);
    if (shape.tag && !shape.tag->empty() && !cnf.channel_for_host(*shape.tag))
      diags.warning(rule.where, "rule " + quote(rule.pattern) + ": routing host " +
                                    quote(*shape.tag) +
                                    " is no channel's host name; addresses it matches will be "
                                    "refused as an illegal host/domain name");
    for (const auto& ch : shape.channels)
      if (!cnf.find_channel(ch))
        diags.warning(rule.where, "rule " + quote(rule.pattern) + " names channel " + quote(ch) +
                                      ", which is not defined");
  }
}

void warn_unimplemented(const ImtaCnf& cnf, Diagnostics& diags) {
  struct Use {
    SourceLocation first;
    std::size_t count = 0;
  };
  std::vector<std::string> order;
  std::map<std::string, Use> uses;
  for (const auto& kv : cnf.keyword_uses) {
    const auto* spec = find_keyword(kv.name);
    if (!spec || spec->implemented) continue;
    auto [it, fresh] = uses.emplace(kv.name, Use{kv.where, 0});
    if (fresh) order.push_back(kv.name);
    ++it->second.count;
  }
  for (const auto& name : order) {
    const auto& use = uses[name];
    diags.warning(use.first, "keyword " + quote(name) +
                                 " is recognised but not yet acted on by this version (" +
                                 std::to_string(use.count) + (use.count == 1 ? " use)" : " uses)"));
  }
  // The original requires `smtp` on tcp_* channels; here such a channel is
  // still delivered by the SMTP client, but sessions cannot be switched to it
  // and the administrator most likely forgot the keyword.
  for (const auto& ch : cnf.channels) {
    if (!ch.name.starts_with("tcp_")) continue;
    const auto* smtp = ch.family("smtp");
    if (!smtp || smtp->name == "nosmtp")
      diags.warning(ch.where, "channel " + quote(ch.name) +
                                  " has no smtp keyword: tcp_* channels speak SMTP (add smtp)");
  }
}

// ---------------------------------------------------------------------------
// Image

namespace {

void write_keyword(ImageWriter& out, const KeywordValue& kv) {
  out.str(kv.name);
  out.strings(kv.args);
  out.location(kv.where);
}

KeywordValue read_keyword(ImageReader& in) {
  KeywordValue kv;
  kv.name = in.str();
  kv.args = in.strings();
  kv.where = in.location();
  return kv;
}

}  // namespace

void write_image(ImageWriter& out, const ImtaCnf& cnf) {
  out.list(cnf.rules, [](ImageWriter& w, const RewriteRule& r) {
    w.str(r.pattern);
    w.str(r.templ);
    w.location(r.where);
  });
  out.list(cnf.channels, [](ImageWriter& w, const Channel& ch) {
    w.str(ch.name);
    w.strings(ch.hosts);
    w.list(ch.keywords, write_keyword);
    w.location(ch.where);
  });
  out.list(cnf.keyword_uses, write_keyword);
}

ImtaCnf read_imta_cnf(ImageReader& in) {
  ImtaCnf cnf;
  cnf.rules = in.list<RewriteRule>([](ImageReader& r) {
    // Braced initialisers run in order: pattern, template, location.
    return RewriteRule{r.str(), r.str(), r.location()};
  });
  cnf.channels = in.list<Channel>([](ImageReader& r) {
    Channel ch;
    ch.name = r.str();
    ch.hosts = r.strings();
    ch.keywords = r.list<KeywordValue>(read_keyword);
    ch.where = r.location();
    if (ch.hosts.empty()) throw ImageError("corrupt configuration image (channel without host)");
    return ch;
  });
  cnf.keyword_uses = in.list<KeywordValue>(read_keyword);
  cnf.build_index();
  return cnf;
}

unsigned channel_subdirs(const ImtaCnf& cnf, std::string_view channel) {
  const auto* ch = cnf.find_channel(channel);
  const auto* k = ch ? ch->keyword("subdirs") : nullptr;
  if (!k || k->args.empty()) return 0;
  auto n = core::parse_integer(k->args.front());
  return n && *n > 0 ? static_cast<unsigned>(*n) : 0;
}

}  // namespace imta::config
