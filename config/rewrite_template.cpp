#include "config/rewrite_template.hpp"

namespace imta::config {

namespace {

TemplateToken make(TemplateOp op, std::string text = {}, int n = 0, bool quoted = false) {
  TemplateToken t;
  t.op = op;
  t.text = std::move(text);
  t.n = n;
  t.quoted = quoted;
  return t;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// A channel name after $M/$N/$C/$Q ends at `@`, `%`, a blank, or a `$` that
// starts another sequence. PMDF stopped only at $M $N $Q $C $T $?; since
// channel names are lower case, a `$` followed by anything but a name
// character ends the name too, so `$Mtcp_local$E` means what it looks like.
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  ParsedTemplate run() {
    ParsedTemplate out;
    out.tokens = parse_all();
    out.error = error_;
    if (!out.error.empty()) out.tokens.clear();
    return out;
  }

 private:
  std::vector<TemplateToken> parse_all() {
    std::vector<TemplateToken> tokens;
    std::string text;
    auto flush = [&] {
      if (!text.empty()) tokens.push_back(make(TemplateOp::literal, std::move(text)));
      text.clear();
    };
    while (i_ < s_.size() && error_.empty()) {
      char c = s_[i_];
      if (c != '$') {
        text += c;
        ++i_;
        continue;
      }
      flush();
      if (auto t = parse_dollar()) tokens.push_back(std::move(*t));
    }
    flush();
    return tokens;
  }

  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }

  std::string seq_text(std::size_t from) const {
    return std::string(s_.substr(from, std::min<std::size_t>(i_ - from, 12)));
  }

  std::optional<TemplateToken> parse_dollar() {
    std::size_t start = i_++;
    if (i_ >= s_.size()) {
      fail("\"$\" at the end of the template");
      return std::nullopt;
    }
    char c = s_[i_++];
    TemplateToken t;
    switch (upper(c)) {
      case '$': return make(TemplateOp::literal, "$", 0, true);
      case '%': return make(TemplateOp::literal, "%", 0, true);
      case '@': return make(TemplateOp::literal, "@", 0, true);
      case '\\': t.op = TemplateOp::force_lower; return t;
      case '^': t.op = TemplateOp::force_upper; return t;
      case '_': t.op = TemplateOp::keep_case; return t;
      case 'U': t.op = TemplateOp::user; return t;
      case 'D': t.op = TemplateOp::domain; return t;
      case 'H': t.op = TemplateOp::host; return t;
      case 'L': t.op = TemplateOp::literal_rest; return t;
      case 'W': t.op = TemplateOp::unique; return t;
      case 'E': t.op = TemplateOp::envelope_only; return t;
      case 'B': t.op = TemplateOp::header_only; return t;
      case 'F': t.op = TemplateOp::forward_only; return t;
      case 'R': t.op = TemplateOp::backward_only; return t;
      case 'S': t.op = TemplateOp::from_route; return t;
      case 'A': t.op = TemplateOp::from_at; return t;
      case 'P': t.op = TemplateOp::from_percent; return t;
      case 'X': t.op = TemplateOp::from_bang; return t;
      case 'M': return channel_control(TemplateOp::source_is, c);
      case 'N': return channel_control(TemplateOp::source_is_not, c);
      case 'C': return channel_control(TemplateOp::dest_is_not, c);
      case 'Q': return channel_control(TemplateOp::dest_is, c);
      case '*': return numbered(TemplateOp::matched_left, start);
      case '#': return numbered(TemplateOp::matched_right, start);
      case '&': return numbered(TemplateOp::host_left, start);
      case '!': return numbered(TemplateOp::host_right, start);
      case '(': return general(start);
      case '{': return mapping(start);
      default: break;
    }
    if (is_digit(c)) {
      if (i_ >= s_.size()) {
        fail("incomplete sequence \"" + seq_text(start) + "\"");
        return std::nullopt;
      }
      int n = c - '0';
      char what = upper(s_[i_++]);
      switch (what) {
        case 'U':
          if (n == 0) return make(TemplateOp::user_base);
          if (n == 1) return make(TemplateOp::user_detail);
          break;
        case 'D': return make(TemplateOp::domain, "", n);
        case 'H': return make(TemplateOp::host, "", n);
        case 'M':
          if (n == 1) return make(TemplateOp::reprocess_only);
          break;
        case 'N':
          if (n == 1) return make(TemplateOp::never_reprocess);
          break;
        default: break;
      }
      fail("unsupported sequence \"" + seq_text(start) + "\"");
      return std::nullopt;
    }
    switch (c) {
      case '[': fail("\"$[\" (site-supplied routines) is not supported"); break;
      case ']': fail("\"$]\" (LDAP URL lookups) is not supported"); break;
      case '=': fail("\"$=\" (LDAP quoting) is not supported"); break;
      case '?': fail("\"$?\" (random rule selection) is not supported"); break;
      default: fail("unknown sequence \"" + seq_text(start) + "\""); break;
    }
    return std::nullopt;
  }

  std::optional<TemplateToken> channel_control(TemplateOp op, char letter) {
    std::size_t from = i_;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '$' && (i_ + 1 >= s_.size() || !is_name_char(s_[i_ + 1]))) break;
      if (c == '@' || c == '%' || c == ' ' || c == '\t') break;
      ++i_;
    }
    if (i_ == from) {
      fail(std::string("\"$") + letter + "\" must be followed by a channel name");
      return std::nullopt;
    }
    return make(op, std::string(s_.substr(from, i_ - from)));
  }

  std::optional<TemplateToken> numbered(TemplateOp op, std::size_t start) {
    if (i_ >= s_.size() || !is_digit(s_[i_])) {
      fail("\"" + seq_text(start) + "\" must be followed by a digit");
      return std::nullopt;
    }
    return make(op, "", s_[i_++] - '0');
  }

  // Finds the closer matching the opener just consumed; nested $( and ${
  // inside the argument count, so ${MAP,$(key)} works.
  std::optional<std::size_t> find_close(char open, char close) {
    int depth = 1;
    for (std::size_t j = i_; j < s_.size(); ++j) {
      if (s_[j] == '$' && j + 1 < s_.size()) {
        if (s_[j + 1] == open) ++depth;
        ++j;
        continue;
      }
      if (s_[j] == open) ++depth;
      if (s_[j] == close && --depth == 0) return j;
    }
    return std::nullopt;
  }

  std::optional<TemplateToken> general(std::size_t start) {
    auto close = find_close('(', ')');
    if (!close) {
      fail("\"$(\" without a closing \")\"");
      return std::nullopt;
    }
    (void)start;
    TemplateToken t = make(TemplateOp::general_lookup);
    t.arg = sub_template(s_.substr(i_, *close - i_));
    i_ = *close + 1;
    return t;
  }

  std::optional<TemplateToken> mapping(std::size_t start) {
    auto close = find_close('{', '}');
    if (!close) {
      fail("\"${\" without a closing \"}\"");
      return std::nullopt;
    }
    (void)start;
    auto inner = s_.substr(i_, *close - i_);
    auto comma = inner.find(',');
    if (comma == std::string_view::npos || comma == 0) {
      fail("\"${" + std::string(inner) + "}\" needs a mapping table name and a comma");
      return std::nullopt;
    }
    TemplateToken t = make(TemplateOp::mapping_lookup, std::string(inner.substr(0, comma)));
    t.arg = sub_template(inner.substr(comma + 1));
    i_ = *close + 1;
    return t;
  }

  std::vector<TemplateToken> sub_template(std::string_view text) {
    auto inner = Parser(text).run();
    if (!inner.ok()) fail(inner.error);
    return std::move(inner.tokens);
  }

  std::string_view s_;
  std::size_t i_ = 0;
  std::string error_;
};

}  // namespace

bool is_control(TemplateOp op) { return op >= TemplateOp::envelope_only; }

ParsedTemplate parse_template(std::string_view text) { return Parser(text).run(); }

TemplateShape template_shape(const ParsedTemplate& parsed) {
  TemplateShape shape;
  bool tag_is_text = false;
  std::string tag;
  for (const auto& t : parsed.tokens) {
    switch (t.op) {
      case TemplateOp::literal:
        if (t.quoted) {
          if (shape.has_at) tag += t.text;
          break;
        }
        for (char c : t.text) {
          if (c == '@') {
            shape.has_at = true;
            tag_is_text = true;
            tag.clear();
          } else {
            if (c == '%') shape.has_percent = true;
            if (shape.has_at) tag += c;
          }
        }
        break;
      case TemplateOp::mapping_lookup:
        shape.has_mapping = true;
        tag_is_text = false;
        break;
      case TemplateOp::source_is:
      case TemplateOp::source_is_not:
      case TemplateOp::dest_is:
      case TemplateOp::dest_is_not:
        shape.channels.push_back(t.text);
        break;
      default:
        // Controls and case changes add no text; anything else after the
        // final @ makes the routing host depend on the address.
        if (!is_control(t.op) && t.op != TemplateOp::force_lower &&
            t.op != TemplateOp::force_upper && t.op != TemplateOp::keep_case && shape.has_at)
          tag_is_text = false;
        break;
    }
  }
  if (shape.has_at && tag_is_text) shape.tag = tag;
  return shape;
}

}  // namespace imta::config
