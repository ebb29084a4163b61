#include "config/mapping_engine.hpp"

#include <arpa/inet.h>

#include <array>
#include <bitset>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/text.hpp"

namespace imta::config {

namespace mapping_detail {

// Sun stops $C/$R chains "after about 10" iterations; the same bound keeps a
// table that calls itself through $|...| from recursing without end.
constexpr int kMaxIterations = 10;
constexpr int kMaxCallDepth = 10;
// Greedy backtracking over several `*` can be slow on a hostile probe; past
// this many steps the entry is treated as not matching.
constexpr std::size_t kStepBudget = 1'000'000;
// Largest failure memo (cells) kept per thread.
constexpr std::size_t kMaxMemoCells = 1u << 22;

unsigned char ufold(char c) { return static_cast<unsigned char>(core::ascii_lower(c)); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }

using CharSet = std::bitset<256>;

// ---------------------------------------------------------------- addresses

struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};

struct IpNet {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
  int prefix = 0;  // significant leading bits
};

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[48];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  a.v6 = true;
  // A v4 client on a dual-stack socket shows up as ::ffff:a.b.c.d; IPv4
  // subnets must still catch it.
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), kMapped, sizeof kMapped) == 0) {
    a.v6 = false;
    std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
    std::memset(a.bytes.data() + 4, 0, 12);
  }
  return a;
}

bool contains(const IpNet& net, const IpAddress& a) {
  if (net.v6 != a.v6) return false;
  auto full = static_cast<std::size_t>(net.prefix / 8);
  int rest = net.prefix % 8;
  if (std::memcmp(net.bytes.data(), a.bytes.data(), full) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (net.bytes[full] & mask) == (a.bytes[full] & mask);
}

bool is_ip_char(char c) {
  return is_digit(c) || c == '.' || c == ':' || (core::ascii_lower(c) >= 'a' && core::ascii_lower(c) <= 'f');
}

// ---------------------------------------------------------------- compiled forms
// Named (not anonymous) because CompiledEntry, declared in the header, holds
// these; the namespace keeps them apart from the rewrite engine's types.

struct PatternStep {
  enum class Kind : std::uint8_t { literal, one, star, backref, address };
  Kind kind = Kind::literal;
  bool any = false;   // one/star: accepts every character
  bool lazy = false;  // star: shortest first
  int capture = -1;   // saved wildcard number, -1 when not saved
  int backref = -1;
  CharSet set;        // indexed by folded character
  std::string text;   // literal, folded
  IpNet net;
};

struct CompiledPattern {
  std::vector<PatternStep> steps;
  std::string suffix;  // folded literal every match ends with
  std::size_t min_length = 0;
  int wildcards = 0;
  int branching = 0;  // steps that may try several lengths
  bool has_backref = false;
};

struct TemplateToken {
  enum class Kind : std::uint8_t { text, wildcard, call, flag, test_set, test_clear, case_mode };
  Kind kind = Kind::text;
  char letter = 0;  // flag, tested flag, or case mode (\ ^ _)
  int number = 0;
  std::string text;
  std::vector<TemplateToken> table;  // call: table name
  std::vector<TemplateToken> arg;    // call: argument
};

}  // namespace mapping_detail

using namespace mapping_detail;

struct CompiledEntry {
  CompiledPattern pattern;
  std::vector<TemplateToken> templ;
  std::vector<std::string> calls;  // literal table names called
};

namespace {

// What the matcher's shortcuts need to know about the steps: computed, never
// stored in the image, so it always agrees with the steps.
void summarise(CompiledPattern& p) {
  p.min_length = 0;
  p.branching = 0;
  p.has_backref = false;
  p.suffix.clear();
  for (const auto& st : p.steps) {
    switch (st.kind) {
      case PatternStep::Kind::literal: p.min_length += st.text.size(); break;
      case PatternStep::Kind::one: p.min_length += 1; break;
      case PatternStep::Kind::address: p.min_length += 2; ++p.branching; break;
      case PatternStep::Kind::star: ++p.branching; break;
      case PatternStep::Kind::backref: p.has_backref = true; break;
    }
  }
  if (!p.steps.empty() && p.steps.back().kind == PatternStep::Kind::literal)
    p.suffix = p.steps.back().text;
}

// ---------------------------------------------------------------- pattern compiler

class PatternCompiler {
 public:
  PatternCompiler(std::string_view text, std::vector<std::string>& errors)
      : s_(text), errors_(errors) {}

  CompiledPattern run() {
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '*') {
        add_star(CharSet{}, true);
      } else if (c == '%') {
        add_one(CharSet{}, true);
      } else if (c == '$') {
        dollar();
      } else {
        add_literal(c);
      }
    }
    if (lazy_pending_) error("$_ is not followed by a * wildcard");
    p_.wildcards = wildcards_;
    summarise(p_);
    return std::move(p_);
  }

 private:
  void error(std::string message) { errors_.push_back("pattern: " + std::move(message)); }

  int next_capture() { return saving_ ? wildcards_++ : -1; }

  void add_literal(char c) {
    if (p_.steps.empty() || p_.steps.back().kind != PatternStep::Kind::literal) {
      PatternStep st;
      st.kind = PatternStep::Kind::literal;
      p_.steps.push_back(std::move(st));
    }
    p_.steps.back().text += core::ascii_lower(c);
  }

  void add_one(const CharSet& set, bool any) {
    PatternStep st;
    st.kind = PatternStep::Kind::one;
    st.any = any;
    st.set = set;
    st.capture = next_capture();
    p_.steps.push_back(std::move(st));
  }

  void add_star(const CharSet& set, bool any) {
    PatternStep st;
    st.kind = PatternStep::Kind::star;
    st.any = any;
    st.set = set;
    st.lazy = lazy_pending_;
    lazy_pending_ = false;
    st.capture = next_capture();
    p_.steps.push_back(std::move(st));
  }

  // A class or set must say how many characters it takes: `%` one, `*` any.
  void glob(const CharSet& set, const std::string& what) {
    if (pos_ >= s_.size() || (s_[pos_] != '%' && s_[pos_] != '*')) {
      error(what + " must be followed by % or *");
      return;
    }
    if (s_[pos_++] == '%')
      add_one(set, false);
    else
      add_star(set, false);
  }

  static CharSet named_class(char c) {
    CharSet set;
    auto range = [&](char a, char b) {
      for (int x = a; x <= b; ++x) set.set(ufold(static_cast<char>(x)));
    };
    switch (c) {
      case 'A': range('a', 'z'); break;
      case 'B': range('0', '1'); break;
      case 'D': range('0', '9'); break;
      case 'H':
      case 'X': range('0', '9'); range('a', 'f'); break;
      case 'O': range('0', '7'); break;
      case 'S': range('0', '9'); range('a', 'z'); set.set('_'); set.set('$'); break;
      case 'T': set.set(' '); set.set('\t'); set.set('\v'); break;
      default: break;
    }
    return set;
  }

  void char_set() {
    auto close = s_.find(']', pos_ + 1);  // a `]` right after `[` is a member
    if (pos_ < s_.size() && s_[pos_] == '^') close = s_.find(']', pos_ + 2);
    if (close == std::string_view::npos) {
      error("$[ set without closing ]");
      pos_ = s_.size();
      return;
    }
    std::string_view body = s_.substr(pos_, close - pos_);
    pos_ = close + 1;
    bool negate = !body.empty() && body.front() == '^';
    if (negate) body.remove_prefix(1);
    if (body.empty()) {
      error("empty $[] set");
      return;
    }
    CharSet set;
    for (std::size_t i = 0; i < body.size(); ++i) {
      char a = body[i];
      if (i + 2 < body.size() && body[i + 1] == '-') {
        char b = body[i + 2];
        if (static_cast<unsigned char>(b) < static_cast<unsigned char>(a)) {
          error(std::string("backwards range ") + a + "-" + b + " in $[...]");
        } else {
          for (int x = static_cast<unsigned char>(a); x <= static_cast<unsigned char>(b); ++x)
            set.set(ufold(static_cast<char>(x)));
        }
        i += 2;
      } else {
        set.set(ufold(a));
      }
    }
    if (negate) set.flip();
    glob(set, "$[...]");
  }

  // $(net/prefix-bits), ${net/prefix-bits}, $<net/ignored-bits>
  void address(char open, char close_char, bool ignore_bits) {
    auto close = s_.find(close_char, pos_);
    std::string form = std::string("$") + open + "..." + close_char;
    if (close == std::string_view::npos) {
      error(form + " subnet without closing " + close_char);
      pos_ = s_.size();
      return;
    }
    std::string_view body = s_.substr(pos_, close - pos_);
    pos_ = close + 1;
    std::string_view addr = body, bits;
    if (auto slash = body.find('/'); slash != std::string_view::npos) {
      addr = body.substr(0, slash);
      bits = body.substr(slash + 1);
    }
    auto a = parse_ip(addr);
    if (!a) {
      error("bad IP address \"" + std::string(addr) + "\" in " + form);
      return;
    }
    int total = a->v6 ? 128 : 32;
    int n = ignore_bits ? 0 : total;
    if (!bits.empty() || body.find('/') != std::string_view::npos) {
      bool digits = !bits.empty() && bits.size() <= 3;
      for (char c : bits) digits = digits && is_digit(c);
      n = digits ? std::stoi(std::string(bits)) : -1;
      if (n < 0 || n > total) {
        error("bad bit count \"" + std::string(bits) + "\" in " + form + " (0 to " +
              std::to_string(total) + ")");
        return;
      }
    }
    PatternStep st;
    st.kind = PatternStep::Kind::address;
    st.net.v6 = a->v6;
    st.net.bytes = a->bytes;
    st.net.prefix = ignore_bits ? total - n : n;
    st.capture = next_capture();
    p_.steps.push_back(std::move(st));
  }

  void dollar() {
    if (pos_ >= s_.size()) {
      error("pattern ends with a lone $");
      return;
    }
    char c = s_[pos_++];
    switch (c) {
      case '_': lazy_pending_ = true; return;
      case '@': saving_ = false; return;
      case '^': saving_ = true; return;
      case '[': char_set(); return;
      case '(': address('(', ')', false); return;
      case '{': address('{', '}', false); return;
      case '<': address('<', '>', true); return;
      default: break;
    }
    if (is_digit(c)) {
      int n = c - '0';
      if (pos_ >= s_.size() || s_[pos_] != '*') {
        error(std::string("$") + c + " in a pattern must be a back-match $" + c + "*");
        return;
      }
      ++pos_;
      if (n >= wildcards_) {
        error(std::string("back-match $") + c + "* refers to a wildcard not saved before it");
        return;
      }
      PatternStep st;
      st.kind = PatternStep::Kind::backref;
      st.backref = n;
      p_.steps.push_back(std::move(st));
      return;
    }
    if (is_upper(c)) {
      CharSet set = named_class(c);
      if (set.none()) {
        error(std::string("unknown pattern sequence $") + c);
        return;
      }
      glob(set, std::string("$") + c);
      return;
    }
    if (is_lower(c)) {
      error(std::string("unknown pattern sequence $") + c + " (classes are upper case)");
      return;
    }
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
      error("control character after $");
      return;
    }
    add_literal(c);  // $* $% $$ $| $; $  ... stand for the character itself
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::vector<std::string>& errors_;
  CompiledPattern p_;
  int wildcards_ = 0;
  bool saving_ = true;
  bool lazy_pending_ = false;
};

// ---------------------------------------------------------------- matcher

struct MatchScratch {
  std::vector<std::pair<std::size_t, std::size_t>> caps;  // offset, length
  std::vector<std::uint32_t> memo;                        // generation stamps
  std::uint32_t generation = 0;
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

class Matcher {
 public:
  Matcher(const CompiledPattern& p, std::string_view s, MatchScratch& m) : p_(p), s_(s), m_(m) {
    m_.caps.assign(static_cast<std::size_t>(p.wildcards), {0, 0});
    if (p.branching >= 2 && !p.has_backref) {
      // A failure at (step, position) stays a failure whatever was saved
      // before, unless a back-match looks at saved values.
      std::size_t cells = (p.steps.size() + 1) * (s.size() + 1);
      if (cells <= kMaxMemoCells) {
        use_memo_ = true;
        if (m_.memo.size() < cells) m_.memo.resize(cells, 0);
        if (++m_.generation == 0) {
          std::fill(m_.memo.begin(), m_.memo.end(), 0);
          m_.generation = 1;
        }
      }
    }
  }

  bool match() {
    if (s_.size() < p_.min_length) return false;
    if (!p_.suffix.empty()) {
      auto tail = s_.substr(s_.size() - p_.suffix.size());
      for (std::size_t k = 0; k < tail.size(); ++k)
        if (core::ascii_lower(tail[k]) != p_.suffix[k]) return false;
    }
    return run(0, 0);
  }

  bool exhausted() const { return exhausted_; }

 private:
  bool known_failure(std::size_t i, std::size_t pos) const {
    return use_memo_ && m_.memo[i * (s_.size() + 1) + pos] == m_.generation;
  }
  void remember_failure(std::size_t i, std::size_t pos) {
    if (use_memo_) m_.memo[i * (s_.size() + 1) + pos] = m_.generation;
  }
  void save(const PatternStep& st, std::size_t pos, std::size_t len) {
    if (st.capture >= 0) m_.caps[static_cast<std::size_t>(st.capture)] = {pos, len};
  }
  static bool accepts(const PatternStep& st, char c) { return st.any || st.set[ufold(c)]; }

  bool run(std::size_t i, std::size_t pos) {
    const std::size_t n = p_.steps.size();
    for (;;) {
      if (exhausted_ || ++steps_ > kStepBudget) {
        exhausted_ = true;
        return false;
      }
      if (i == n) return pos == s_.size();
      const PatternStep& st = p_.steps[i];
      switch (st.kind) {
        case PatternStep::Kind::literal: {
          if (s_.size() - pos < st.text.size()) return false;
          for (std::size_t k = 0; k < st.text.size(); ++k)
            if (core::ascii_lower(s_[pos + k]) != st.text[k]) return false;
          pos += st.text.size();
          ++i;
          continue;
        }
        case PatternStep::Kind::one: {
          if (pos >= s_.size() || !accepts(st, s_[pos])) return false;
          save(st, pos, 1);
          ++pos;
          ++i;
          continue;
        }
        case PatternStep::Kind::backref: {
          auto [off, len] = m_.caps[static_cast<std::size_t>(st.backref)];
          if (s_.size() - pos < len) return false;
          for (std::size_t k = 0; k < len; ++k)
            if (core::ascii_lower(s_[pos + k]) != core::ascii_lower(s_[off + k])) return false;
          pos += len;
          ++i;
          continue;
        }
        case PatternStep::Kind::star: return star(i, pos);
        case PatternStep::Kind::address: return address(i, pos);
      }
    }
  }

  bool star(std::size_t i, std::size_t pos) {
    const PatternStep& st = p_.steps[i];
    if (known_failure(i, pos)) return false;
    std::size_t avail = s_.size() - pos;
    std::size_t maxlen = avail;
    if (!st.any) {
      maxlen = 0;
      while (maxlen < avail && st.set[ufold(s_[pos + maxlen])]) ++maxlen;
    }
    if (i + 1 == p_.steps.size()) {  // the last step takes the rest or nothing fits
      if (maxlen != avail) return false;
      save(st, pos, avail);
      return true;
    }
    // Only lengths after which the next literal can start are worth trying.
    const PatternStep& next = p_.steps[i + 1];
    const bool literal_next = next.kind == PatternStep::Kind::literal;
    auto attempt = [&](std::size_t len) {
      if (literal_next && (pos + len >= s_.size() || core::ascii_lower(s_[pos + len]) != next.text[0]))
        return false;
      save(st, pos, len);
      return run(i + 1, pos + len);
    };
    if (st.lazy) {
      for (std::size_t len = 0; len <= maxlen; ++len)
        if (attempt(len)) return true;
    } else {
      for (std::size_t len = maxlen + 1; len-- > 0;)
        if (attempt(len)) return true;
    }
    remember_failure(i, pos);
    return false;
  }

  bool address(std::size_t i, std::size_t pos) {
    const PatternStep& st = p_.steps[i];
    if (known_failure(i, pos)) return false;
    std::size_t run_len = 0;
    while (pos + run_len < s_.size() && run_len < 45 && is_ip_char(s_[pos + run_len])) ++run_len;
    for (std::size_t len = run_len; len >= 2; --len) {  // the whole address first
      auto a = parse_ip(s_.substr(pos, len));
      if (!a || !contains(st.net, *a)) continue;
      save(st, pos, len);
      if (run(i + 1, pos + len)) return true;
    }
    remember_failure(i, pos);
    return false;
  }

  const CompiledPattern& p_;
  std::string_view s_;
  MatchScratch& m_;
  bool use_memo_ = false;
  bool exhausted_ = false;
  std::size_t steps_ = 0;
};

// ---------------------------------------------------------------- template compiler

constexpr std::string_view kFlowFlags = "ECRL";
constexpr std::string_view kActionFlags = "YNFBHVZDJKUI!<>";
constexpr std::string_view kProbeFlagLetters = "ATELSFD";

std::string unsupported(char c) {
  switch (c) {
    case '#': return "$#...# (sequence numbers) is not supported";
    case ']': return "$]...[ (LDAP lookups) is not supported";
    case '{': return "${...} (database lookups) is not supported";
    case '(': return "$(...) (database lookups) is not supported";
    case '}': return "$}...{ (domain attribute lookups) is not supported";
    case '[': return "$[...] (site routines) is not supported";
    case '?': return "$?x? (random success) is not supported";
    case '=': return "$= (LDAP quoting) is not supported";
    default: return {};
  }
}

class TemplateCompiler {
 public:
  TemplateCompiler(std::string_view text, int wildcards, std::vector<std::string>& errors,
                   std::vector<std::string>& warnings, std::vector<std::string>& calls)
      : s_(text), wildcards_(wildcards), errors_(errors), warnings_(warnings), calls_(calls) {}

  std::vector<TemplateToken> run() {
    char end = 0;
    return parse(Where::top, end);
  }

 private:
  enum class Where { top, call_name, call_arg };

  void error(std::string message) { errors_.push_back("template: " + std::move(message)); }

  static void add_text(std::vector<TemplateToken>& out, char c) {
    if (out.empty() || out.back().kind != TemplateToken::Kind::text) {
      TemplateToken t;
      t.kind = TemplateToken::Kind::text;
      out.push_back(std::move(t));
    }
    out.back().text += c;
  }

  // Parses up to the terminator of `where` (`;` or `|` for a call name, `|`
  // for a call argument); `end` receives the terminator, 0 at end of text.
  std::vector<TemplateToken> parse(Where where, char& end) {
    std::vector<TemplateToken> out;
    end = 0;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (where == Where::call_name && (c == ';' || c == '|')) {
        end = c;
        return out;
      }
      if (where == Where::call_arg && c == '|') {
        end = c;
        return out;
      }
      if (c != '$') {
        add_text(out, c);
        continue;
      }
      if (pos_ >= s_.size()) {
        error("template ends with a lone $");
        break;
      }
      char d = s_[pos_++];
      if (is_digit(d)) {
        TemplateToken t;
        t.kind = TemplateToken::Kind::wildcard;
        t.number = d - '0';
        if (t.number >= wildcards_)
          warnings_.push_back(std::string("template: $") + d + " is never set: the pattern saves " +
                              std::to_string(wildcards_) + " wildcard" +
                              (wildcards_ == 1 ? "" : "s"));
        out.push_back(std::move(t));
      } else if (d == '$' || d == ' ' || d == '\t' || d == '*' || d == '%') {
        add_text(out, d);
      } else if (d == '|') {
        call(out);
      } else if (d == '\\' || d == '^' || d == '_') {
        TemplateToken t;
        t.kind = TemplateToken::Kind::case_mode;
        t.letter = d;
        out.push_back(std::move(t));
      } else if (d == ':' || d == ';') {
        if (pos_ >= s_.size()) {
          error(std::string("$") + d + " needs a flag letter");
          continue;
        }
        char x = s_[pos_++];
        if (kProbeFlagLetters.find(x) == std::string_view::npos) {
          error(std::string("unknown probe flag ") + x + " in $" + d + x +
                " (one of A T E L S F D)");
          continue;
        }
        if (where != Where::top) {
          error(std::string("test $") + d + x + " cannot be used inside $|...|");
          continue;
        }
        TemplateToken t;
        t.kind = d == ':' ? TemplateToken::Kind::test_set : TemplateToken::Kind::test_clear;
        t.letter = x;
        out.push_back(std::move(t));
      } else if (kFlowFlags.find(d) != std::string_view::npos ||
                 kActionFlags.find(d) != std::string_view::npos) {
        if (where != Where::top) {
          error(std::string("flag $") + d + " cannot be used inside $|...|");
          continue;
        }
        TemplateToken t;
        t.kind = TemplateToken::Kind::flag;
        t.letter = d;
        out.push_back(std::move(t));
      } else if (auto why = unsupported(d); !why.empty()) {
        error(why);
      } else {
        error(std::string("unknown template sequence $") + d);
      }
    }
    return out;
  }

  void call(std::vector<TemplateToken>& out) {
    TemplateToken t;
    t.kind = TemplateToken::Kind::call;
    char end = 0;
    t.table = parse(Where::call_name, end);
    if (end == 0) {
      error("$| without closing |");
      return;
    }
    if (end == '|') {
      error("$|...| call has no ;argument (write $|TABLE;argument|)");
    } else {
      t.arg = parse(Where::call_arg, end);
      if (end == 0) {
        error("$| without closing |");
        return;
      }
    }
    if (t.table.empty()) {
      error("$|...| call names no table");
      return;
    }
    if (t.table.size() == 1 && t.table.front().kind == TemplateToken::Kind::text)
      calls_.push_back(t.table.front().text);
    out.push_back(std::move(t));
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  int wildcards_;
  std::vector<std::string>& errors_;
  std::vector<std::string>& warnings_;
  std::vector<std::string>& calls_;
};

// ---------------------------------------------------------------- evaluation

enum FlagBit : unsigned {
  kY = 1u << 0, kN = 1u << 1, kB = 1u << 2, kH = 1u << 3, kV = 1u << 4, kD = 1u << 5,
  kJ = 1u << 6, kK = 1u << 7, kU = 1u << 8, kI = 1u << 9, kBang = 1u << 10,
  kSyslogMatch = 1u << 11, kSyslogRefuse = 1u << 12,
};

unsigned flag_bit(char c) {
  switch (c) {
    case 'Y': return kY;
    case 'N':
    case 'F': return kN;
    case 'B': return kB;
    case 'H': return kH;
    case 'V':
    case 'Z': return kV;
    case 'D': return kD;
    case 'J': return kJ;
    case 'K': return kK;
    case 'U': return kU;
    case 'I': return kI;
    case '!': return kBang;
    case '<': return kSyslogMatch;
    case '>': return kSyslogRefuse;
    default: return 0;
  }
}

bool probe_flag(const ProbeFlags& f, char c) {
  switch (c) {
    case 'A': return f.auth;
    case 'T': return f.tls;
    case 'E': return f.esmtp;
    case 'L': return f.lmtp;
    case 'S': return f.notify_success;
    case 'F': return f.notify_failure;
    case 'D': return f.notify_delay;
    default: return false;
  }
}

struct Evaluation {
  bool failed = false;  // a $:x/$;x test or a $|...| call failed
  std::string why;      // what failed, for the trace
  std::string error;    // evaluation must stop (loop, nesting)
  char flow = 0;        // the last of E C R L seen
  unsigned flags = 0;
  std::string output;
};

struct Context {
  const Mappings& maps;
  const ProbeFlags& flags;
  bool debug;
};

MappingResult run_table(const Context& ctx, std::string_view table, std::string_view probe,
                        int depth);

void append_cased(std::string& out, std::string_view text, char mode) {
  for (char c : text) {
    if (mode == '\\')
      out += core::ascii_lower(c);
    else if (mode == '^')
      out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    else
      out += c;
  }
}

void trace_line(MappingResult& r, int depth, std::string line) {
  r.trace.push_back(std::string(static_cast<std::size_t>(depth) * 2, ' ') + std::move(line));
}

void evaluate(const std::vector<TemplateToken>& tokens, const Context& ctx,
              const std::vector<std::string_view>& caps, int depth, Evaluation& ev,
              std::string& out, MappingResult& log) {
  char mode = '_';
  for (const auto& t : tokens) {
    if (ev.failed || !ev.error.empty()) return;
    switch (t.kind) {
      case TemplateToken::Kind::text: append_cased(out, t.text, mode); break;
      case TemplateToken::Kind::wildcard:
        if (static_cast<std::size_t>(t.number) < caps.size())
          append_cased(out, caps[static_cast<std::size_t>(t.number)], mode);
        break;
      case TemplateToken::Kind::case_mode: mode = t.letter; break;
      case TemplateToken::Kind::test_set:
      case TemplateToken::Kind::test_clear: {
        bool want = t.kind == TemplateToken::Kind::test_set;
        if (probe_flag(ctx.flags, t.letter) != want) {
          ev.failed = true;
          ev.why = std::string(want ? "$:" : "$;") + t.letter + " test failed";
        }
        break;
      }
      case TemplateToken::Kind::flag:
        if (kFlowFlags.find(t.letter) != std::string_view::npos)
          ev.flow = t.letter;
        else
          ev.flags |= flag_bit(t.letter);
        break;
      case TemplateToken::Kind::call: {
        std::string name, arg;
        evaluate(t.table, ctx, caps, depth, ev, name, log);
        evaluate(t.arg, ctx, caps, depth, ev, arg, log);
        if (ev.failed || !ev.error.empty()) return;
        if (depth + 1 > kMaxCallDepth) {
          ev.error = "mapping calls nested deeper than " + std::to_string(kMaxCallDepth);
          return;
        }
        if (ctx.debug) trace_line(log, depth + 1, "call " + name + " with \"" + arg + "\"");
        MappingResult sub = run_table(ctx, name, arg, depth + 1);
        for (auto& line : sub.trace) log.trace.push_back(std::move(line));
        if (!sub.error.empty() && ctx.maps.find(name) != nullptr) {
          ev.error = sub.error;
          return;
        }
        // Sun: the called table must match and set $Y, or the call fails.
        if (!sub.matched || !sub.allow) {
          ev.failed = true;
          ev.why = "$|" + name + ";" + arg + "| failed" +
                   (ctx.maps.find(name) ? std::string() : " (no such table)");
          return;
        }
        append_cased(out, sub.output, mode);
        break;
      }
    }
  }
}

std::string flags_text(const Evaluation& ev) {
  std::string s;
  static constexpr std::pair<unsigned, const char*> kOrder[] = {
      {kY, "$Y"}, {kN, "$N"}, {kB, "$B"}, {kH, "$H"}, {kV, "$V"}, {kBang, "$!"},
      {kU, "$U"}, {kJ, "$J"}, {kK, "$K"}, {kI, "$I"}, {kSyslogMatch, "$<"},
      {kSyslogRefuse, "$>"}, {kD, "$D"}};
  for (auto [bit, text] : kOrder)
    if (ev.flags & bit) s += text;
  if (ev.flow) s += std::string("$") + ev.flow;
  return s;
}

std::optional<int> to_int(std::string_view text) {
  auto v = core::parse_integer(text);
  if (!v || *v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max())
    return std::nullopt;
  return static_cast<int>(*v);
}

// Splits the flag arguments off the front of the output in Sun's fixed
// reading order; what is left is the rejection text or the output.
void finish(MappingResult& r, const Evaluation& ev, const MappingEntry& entry) {
  std::string_view rest = ev.output;
  auto take = [&]() {
    auto bar = rest.find('|');
    std::string field(rest.substr(0, bar));
    rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
    return field;
  };
  auto number = [&](const char* flag) -> std::optional<int> {
    std::string field = take();
    auto v = to_int(field);
    if (!v) r.error = std::string(flag) + " needs a number, got \"" + field + "\"";
    return v;
  };
  if (ev.flags & kU) r.debug = number("$U");
  if (ev.flags & kJ) r.new_from = take();
  if (ev.flags & kK) r.sender = take();
  if (ev.flags & kI) {
    std::string user = take();
    r.group = user + "|" + take();
  }
  if (ev.flags & kSyslogMatch) r.syslog_match = take();
  if (ev.flags & kSyslogRefuse) r.syslog_refuse = take();
  if (ev.flags & kD) r.delay = number("$D");
  r.entry = entry.where;
  if (!r.error.empty()) {
    r.matched = false;
    return;
  }
  r.reject = (ev.flags & kN) != 0;
  r.allow = (ev.flags & kY) != 0 && !r.reject;
  r.bitbucket = (ev.flags & kB) != 0;
  r.hold = (ev.flags & kH) != 0;
  r.discard = (ev.flags & kV) != 0;
  r.novacation = (ev.flags & kBang) != 0;
  if (r.reject)
    r.reject_text = std::string(rest);
  else
    r.output = std::string(rest);
  r.matched = true;
}

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

MappingResult run_table(const Context& ctx, std::string_view table, std::string_view probe,
                        int depth) {
  MappingResult r;
  const MappingTable* tbl = ctx.maps.find(table);
  if (!tbl) {
    r.error = "no such mapping table " + in_quotes(table);
    if (ctx.debug) trace_line(r, depth, r.error);
    return r;
  }
  std::string current(probe);
  std::optional<Evaluation> last;  // the last entry that completed with $C/$R/$L
  const MappingEntry* last_entry = nullptr;
  bool extra_pass = false;  // $L: one more pass once the table is exhausted
  int iterations = 0;
  std::vector<std::string_view> caps;
  std::size_t idx = 0;
  for (;;) {
    if (idx >= tbl->entries.size()) {
      if (!extra_pass) break;
      extra_pass = false;
      idx = 0;
    }
    const MappingEntry& entry = tbl->entries[idx];
    std::shared_ptr<const CompiledEntry> owned;
    const CompiledEntry* ce = entry.compiled.get();
    if (!ce) {
      auto check = compile_entry(entry.pattern, entry.templ);
      owned = check.compiled;
      ce = owned.get();
      if (!ce) {
        if (ctx.debug)
          trace_line(r, depth, entry.where.str() + ": invalid entry: " + check.errors.front());
        ++idx;
        continue;
      }
    }
    std::string where;  // only with debug: this runs for every entry tried
    if (ctx.debug) where = entry.where.str() + ": " + in_quotes(entry.pattern);
    MatchScratch& m = scratch();
    Matcher matcher(ce->pattern, current, m);
    if (!matcher.match()) {
      if (ctx.debug)
        trace_line(r, depth, where + (matcher.exhausted() ? " gave up (pattern too complex)"
                                                         : " no match"));
      ++idx;
      continue;
    }
    caps.clear();
    for (auto [off, len] : m.caps) caps.push_back(std::string_view(current).substr(off, len));

    Evaluation ev;
    evaluate(ce->templ, ctx, caps, depth, ev, ev.output, r);
    if (!ev.error.empty()) {
      r.error = ev.error;
      r.entry = entry.where;
      return r;
    }
    const bool continuing = ev.flow == 'C' || ev.flow == 'R' || ev.flow == 'L';
    if (ev.failed) {
      if (ctx.debug)
        trace_line(r, depth, where + " matched, " + ev.why +
                                 (continuing ? ", trying the next entry" : ", mapping fails"));
      if (!continuing) return r;
      ++idx;
      continue;
    }
    if (ctx.debug)
      trace_line(r, depth, where + " matched, output " + in_quotes(ev.output) + " " + flags_text(ev));
    if (!continuing) {
      finish(r, ev, entry);
      return r;
    }
    if (++iterations > kMaxIterations) {
      r.error = "mapping loop: more than " + std::to_string(kMaxIterations) +
                " $C/$R/$L iterations in " + tbl->name;
      r.entry = entry.where;
      return r;
    }
    current = ev.output;
    last = std::move(ev);
    last_entry = &entry;
    if (last->flow == 'R') {
      idx = 0;
      extra_pass = false;
    } else {
      extra_pass = last->flow == 'L';
      ++idx;
    }
  }
  if (last) finish(r, *last, *last_entry);
  else if (ctx.debug) trace_line(r, depth, "no entry of " + tbl->name + " matched");
  return r;
}

// ---------------------------------------------------------------- image
// The prepared form of an entry goes into the image so that loading it does
// not compile every entry again. Reading checks every number the matcher uses
// as an index, so a damaged image is refused instead of misread.

// A call nests its name and argument; templates are at most kMaxMappingText
// long, and every level takes at least three characters ("$|;").
constexpr int kMaxStoredNesting = static_cast<int>(kMaxMappingText / 3) + 1;

void write_charset(ImageWriter& out, const CharSet& set) {
  for (std::size_t byte = 0; byte < 32; ++byte) {
    std::uint8_t bits = 0;
    for (std::size_t b = 0; b < 8; ++b)
      if (set[byte * 8 + b]) bits = static_cast<std::uint8_t>(bits | (1u << b));
    out.u8(bits);
  }
}

CharSet read_charset(ImageReader& in) {
  CharSet set;
  for (std::size_t byte = 0; byte < 32; ++byte) {
    std::uint8_t bits = in.u8();
    for (std::size_t b = 0; bits != 0 && b < 8; ++b)
      if (bits & (1u << b)) set.set(byte * 8 + b);
  }
  return set;
}

// Captures are stored plus one so that "not saved" (-1) is 0.
void write_capture(ImageWriter& out, int capture) { out.u32(static_cast<std::uint32_t>(capture + 1)); }

bool read_capture(ImageReader& in, int wildcards, int& capture) {
  std::uint32_t v = in.u32();
  if (v > static_cast<std::uint32_t>(wildcards)) return false;
  capture = static_cast<int>(v) - 1;
  return true;
}

void write_pattern(ImageWriter& out, const CompiledPattern& p) {
  out.u32(static_cast<std::uint32_t>(p.wildcards));
  out.list(p.steps, [](ImageWriter& w, const PatternStep& st) {
    w.u8(static_cast<std::uint8_t>(st.kind));
    switch (st.kind) {
      case PatternStep::Kind::literal: w.str(st.text); break;
      case PatternStep::Kind::one:
      case PatternStep::Kind::star:
        w.u8(static_cast<std::uint8_t>((st.any ? 1 : 0) | (st.lazy ? 2 : 0)));
        write_capture(w, st.capture);
        if (!st.any) write_charset(w, st.set);
        break;
      case PatternStep::Kind::backref: w.u32(static_cast<std::uint32_t>(st.backref)); break;
      case PatternStep::Kind::address:
        w.boolean(st.net.v6);
        for (auto b : st.net.bytes) w.u8(b);
        w.u32(static_cast<std::uint32_t>(st.net.prefix));
        write_capture(w, st.capture);
        break;
    }
  });
}

bool read_pattern(ImageReader& in, CompiledPattern& p) {
  std::uint32_t wildcards = in.u32();
  if (wildcards > kMaxMappingText) return false;
  p.wildcards = static_cast<int>(wildcards);
  auto n = in.count();
  p.steps.resize(n);
  for (auto& st : p.steps) {
    std::uint8_t kind = in.u8();
    if (kind > static_cast<std::uint8_t>(PatternStep::Kind::address)) return false;
    st.kind = static_cast<PatternStep::Kind>(kind);
    switch (st.kind) {
      case PatternStep::Kind::literal:
        st.text = in.str();
        if (st.text.empty()) return false;
        break;
      case PatternStep::Kind::one:
      case PatternStep::Kind::star: {
        std::uint8_t bits = in.u8();
        st.any = (bits & 1) != 0;
        st.lazy = (bits & 2) != 0;
        if (!read_capture(in, p.wildcards, st.capture)) return false;
        if (!st.any) st.set = read_charset(in);
        break;
      }
      case PatternStep::Kind::backref: {
        std::uint32_t ref = in.u32();
        if (ref >= wildcards) return false;
        st.backref = static_cast<int>(ref);
        break;
      }
      case PatternStep::Kind::address: {
        st.net.v6 = in.boolean();
        for (auto& b : st.net.bytes) b = in.u8();
        std::uint32_t prefix = in.u32();
        if (prefix > (st.net.v6 ? 128u : 32u)) return false;
        st.net.prefix = static_cast<int>(prefix);
        if (!read_capture(in, p.wildcards, st.capture)) return false;
        break;
      }
    }
  }
  summarise(p);
  return true;
}

void write_tokens(ImageWriter& out, const std::vector<TemplateToken>& tokens) {
  out.list(tokens, [](ImageWriter& w, const TemplateToken& t) {
    w.u8(static_cast<std::uint8_t>(t.kind));
    switch (t.kind) {
      case TemplateToken::Kind::text: w.str(t.text); break;
      case TemplateToken::Kind::wildcard: w.u8(static_cast<std::uint8_t>(t.number)); break;
      case TemplateToken::Kind::call:
        write_tokens(w, t.table);
        write_tokens(w, t.arg);
        break;
      case TemplateToken::Kind::flag:
      case TemplateToken::Kind::test_set:
      case TemplateToken::Kind::test_clear:
      case TemplateToken::Kind::case_mode: w.u8(static_cast<std::uint8_t>(t.letter)); break;
    }
  });
}

bool read_tokens(ImageReader& in, std::vector<TemplateToken>& tokens, int depth) {
  if (depth > kMaxStoredNesting) return false;
  auto n = in.count();
  tokens.resize(n);
  for (auto& t : tokens) {
    std::uint8_t kind = in.u8();
    if (kind > static_cast<std::uint8_t>(TemplateToken::Kind::case_mode)) return false;
    t.kind = static_cast<TemplateToken::Kind>(kind);
    switch (t.kind) {
      case TemplateToken::Kind::text: t.text = in.str(); break;
      case TemplateToken::Kind::wildcard:
        t.number = in.u8();
        if (t.number > 9) return false;
        break;
      case TemplateToken::Kind::call:
        if (!read_tokens(in, t.table, depth + 1) || !read_tokens(in, t.arg, depth + 1)) return false;
        break;
      case TemplateToken::Kind::flag:
      case TemplateToken::Kind::test_set:
      case TemplateToken::Kind::test_clear:
      case TemplateToken::Kind::case_mode: t.letter = static_cast<char>(in.u8()); break;
    }
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------- public API

EntryCheck compile_entry(std::string_view pattern, std::string_view templ) {
  EntryCheck check;
  auto entry = std::make_shared<CompiledEntry>();
  entry->pattern = PatternCompiler(pattern, check.errors).run();
  entry->templ = TemplateCompiler(templ, entry->pattern.wildcards, check.errors, check.warnings,
                                  entry->calls)
                     .run();
  if (check.errors.empty()) check.compiled = std::move(entry);
  return check;
}

std::vector<std::string> called_tables(const CompiledEntry& entry) { return entry.calls; }

void write_prepared(ImageWriter& out, const std::vector<MappingEntry>& entries) {
  for (const auto& e : entries) {
    std::shared_ptr<const CompiledEntry> compiled = e.compiled;
    if (!compiled) compiled = compile_entry(e.pattern, e.templ).compiled;
    if (!compiled)  // parse_mappings never keeps such an entry
      throw ImageError("mapping entry at " + e.where.str() + " does not compile");
    write_pattern(out, compiled->pattern);
    write_tokens(out, compiled->templ);
    out.strings(compiled->calls);
  }
}

void read_prepared(ImageReader& in, std::vector<MappingEntry>& entries) {
  // Each entry is allocated on its own: one arena per table was tried and
  // loaded no faster, while freeing and the allocations after it got slower.
  for (auto& e : entries) {
    auto c = std::make_shared<CompiledEntry>();
    if (!read_pattern(in, c->pattern) || !read_tokens(in, c->templ, 0))
      throw ImageError("corrupt configuration image (bad mapping entry at " + e.where.str() + ")");
    c->calls = in.strings();
    e.compiled = std::move(c);
  }
}

std::optional<std::vector<std::string>> match_pattern(std::string_view pattern,
                                                      std::string_view subject,
                                                      std::string* error) {
  std::vector<std::string> errors;
  CompiledPattern p = PatternCompiler(pattern, errors).run();
  if (!errors.empty()) {
    if (error) *error = errors.front();
    return std::nullopt;
  }
  MatchScratch& m = scratch();
  Matcher matcher(p, subject, m);
  if (!matcher.match()) {
    if (error && matcher.exhausted()) *error = "pattern too complex for this subject";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (auto [off, len] : m.caps) out.emplace_back(subject.substr(off, len));
  return out;
}

MappingResult apply_mapping(const Mappings& mappings, std::string_view table,
                            std::string_view probe, const ProbeFlags& flags, bool debug) {
  Context ctx{mappings, flags, debug};
  return run_table(ctx, table, probe, 0);
}

std::string MappingResult::flags_string() const {
  std::string s;
  if (allow) s += "$Y";
  if (reject) s += "$N";
  if (bitbucket) s += "$B";
  if (hold) s += "$H";
  if (discard) s += "$V";
  if (novacation) s += "$!";
  std::vector<std::string> args;
  if (debug) { s += "$U"; args.push_back(std::to_string(*debug)); }
  if (new_from) { s += "$J"; args.push_back(*new_from); }
  if (sender) { s += "$K"; args.push_back(*sender); }
  if (group) { s += "$I"; args.push_back(*group); }
  if (syslog_match) { s += "$<"; args.push_back(*syslog_match); }
  if (syslog_refuse) { s += "$>"; args.push_back(*syslog_refuse); }
  if (delay) { s += "$D"; args.push_back(std::to_string(*delay)); }
  if (reject) args.push_back(reject_text);
  for (std::size_t i = 0; i < args.size(); ++i) s += (i ? "|" : "") + args[i];
  return s;
}

}  // namespace imta::config
