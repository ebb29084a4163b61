// Command line parsing; see command.hpp.
#include "core/smtp/command.hpp"

#include <array>

#include "core/text.hpp"

namespace imta::core::smtp {
namespace {

Reply syntax(std::string text) { return {501, "5.5.4", "Syntax: " + std::move(text)}; }

// Control characters never belong in a command line; a CR here is one that
// was not followed by LF. Tab is accepted as a blank.
bool has_control(std::string_view line) {
  for (char ch : line) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool has_blank(std::string_view s) {
  return s.find_first_of(" \t") != std::string_view::npos;
}

// "FROM:" / "TO:" with optional blanks around the colon; the text after it.
std::optional<std::string_view> after_keyword(std::string_view args, std::string_view keyword) {
  if (!istarts_with(args, keyword)) return std::nullopt;
  std::string_view rest = trim_blanks(args.substr(keyword.size()));
  if (rest.empty() || rest.front() != ':') return std::nullopt;
  return trim_blanks(rest.substr(1));
}

// Splits "<path> params" at the end of the path. A bracketed path ends at
// its '>' outside quotes; a bare one at the first blank. When a '>' never
// comes, the whole text is the path and the address parser says why.
std::pair<std::string_view, std::string_view> split_path(std::string_view text) {
  std::size_t end = 0;
  if (!text.empty() && text.front() == '<') {
    bool quoted = false;
    for (end = 1; end < text.size(); ++end) {
      if (quoted && text[end] == '\\') ++end;
      else if (text[end] == '"') quoted = !quoted;
      else if (!quoted && text[end] == '>') break;
    }
    end = end < text.size() ? end + 1 : text.size();
  } else {
    while (end < text.size() && !is_blank(text[end])) ++end;
  }
  return {text.substr(0, end), text.substr(end)};
}

using Parser = Result<Command> (*)(std::string_view args, const CommandContext& context);

Result<Command> parse_helo(std::string_view args, const CommandContext&) {
  if (args.empty()) return syntax("HELO hostname");
  return Command{Helo{std::string(args)}};
}

Result<Command> parse_ehlo(std::string_view args, const CommandContext&) {
  if (args.empty()) return syntax("EHLO hostname");
  return Command{Ehlo{std::string(args)}};
}

Result<Command> parse_mail(std::string_view args, const CommandContext&) {
  auto text = after_keyword(args, "FROM");
  if (!text || text->empty()) return syntax("MAIL FROM:<address> [parameters]");
  auto [path, rest] = split_path(*text);
  if (!rest.empty() && !is_blank(rest.front())) return syntax("MAIL FROM:<address> [parameters]");
  auto params = parse_mail_params(rest);
  if (!params) return params.error();
  auto from = parse_reverse_path(path, params->smtputf8);
  if (!from) return from.error();
  return Command{Mail{std::move(*from), std::move(*params)}};
}

Result<Command> parse_rcpt(std::string_view args, const CommandContext& context) {
  auto text = after_keyword(args, "TO");
  if (!text || text->empty()) return syntax("RCPT TO:<address> [parameters]");
  auto [path, rest] = split_path(*text);
  if (!rest.empty() && !is_blank(rest.front())) return syntax("RCPT TO:<address> [parameters]");
  auto to = parse_forward_path(path, context.utf8_transaction);
  if (!to) return to.error();
  auto params = parse_rcpt_params(rest, context.utf8_transaction);
  if (!params) return params.error();
  return Command{Rcpt{std::move(*to), std::move(*params)}};
}

Result<Command> parse_bdat(std::string_view args, const CommandContext&) {
  std::size_t blank = args.find_first_of(" \t");
  std::string_view size = args.substr(0, blank);
  std::string_view rest = blank == std::string_view::npos ? std::string_view{}
                                                          : trim_blanks(args.substr(blank));
  bool digits = !size.empty() && size.size() <= 19 &&
                size.find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits || (!rest.empty() && !iequals(rest, "LAST"))) return syntax("BDAT size [LAST]");
  Bdat bdat;
  for (char c : size) bdat.size = bdat.size * 10 + static_cast<unsigned>(c - '0');
  bdat.last = !rest.empty();
  return Command{bdat};
}

bool is_mechanism(std::string_view s) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// base64 as RFC 4954 sends it: groups of four, '=' padding only at the end;
// a lone "=" stands for an empty response.
bool is_base64(std::string_view s) {
  if (s == "=") return true;
  if (s.empty() || s.size() % 4 != 0) return false;
  std::size_t pad = s.size() - s.find_last_not_of('=') - 1;
  if (pad > 2) return false;
  for (char c : s.substr(0, s.size() - pad)) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

Result<Command> parse_auth(std::string_view args, const CommandContext&) {
  std::size_t blank = args.find_first_of(" \t");
  std::string_view mechanism = args.substr(0, blank);
  if (!is_mechanism(mechanism)) return syntax("AUTH mechanism [initial-response]");
  Auth auth{to_upper(mechanism), std::nullopt};
  if (blank == std::string_view::npos) return Command{auth};
  std::string_view response = trim_blanks(args.substr(blank));
  if (has_blank(response)) return syntax("AUTH mechanism [initial-response]");
  if (!is_base64(response)) return Reply{501, "5.5.2", "Cannot decode the initial response (base64)"};
  auth.initial_response = std::string(response);
  return Command{auth};
}

template <class T>
Result<Command> parse_bare(std::string_view args, const CommandContext&) {
  if (!args.empty()) return syntax(std::string(verb_name(Command{T{}})) + " (no arguments)");
  return Command{T{}};
}

Result<Command> parse_noop(std::string_view, const CommandContext&) { return Command{Noop{}}; }

Result<Command> parse_help(std::string_view args, const CommandContext&) {
  return Command{Help{std::string(args)}};
}

Result<Command> parse_vrfy(std::string_view args, const CommandContext&) {
  if (args.empty()) return syntax("VRFY address");
  return Command{Vrfy{std::string(args)}};
}

Result<Command> parse_expn(std::string_view args, const CommandContext&) {
  if (args.empty()) return syntax("EXPN list");
  return Command{Expn{std::string(args)}};
}

Result<Command> parse_etrn(std::string_view args, const CommandContext&) {
  if (args.empty() || has_blank(args)) return syntax("ETRN domain");
  return Command{Etrn{std::string(args)}};
}

struct Verb {
  std::string_view name;
  Parser parse;
};

constexpr std::array<Verb, 15> verbs{{
    {"HELO", parse_helo},
    {"EHLO", parse_ehlo},
    {"MAIL", parse_mail},
    {"RCPT", parse_rcpt},
    {"DATA", parse_bare<Data>},
    {"BDAT", parse_bdat},
    {"RSET", parse_bare<Rset>},
    {"NOOP", parse_noop},
    {"QUIT", parse_bare<Quit>},
    {"HELP", parse_help},
    {"VRFY", parse_vrfy},
    {"EXPN", parse_expn},
    {"STARTTLS", parse_bare<Starttls>},
    {"AUTH", parse_auth},
    {"ETRN", parse_etrn},
}};

}  // namespace

Result<Command> parse_command(std::string_view line, const CommandContext& context) {
  if (has_control(line)) return Reply{500, "5.5.2", "Syntax error: control character in command"};
  line = trim_blanks(line);
  if (line.empty()) return Reply{500, "5.5.2", "Syntax error: empty command"};
  std::size_t blank = line.find_first_of(" \t");
  std::string_view verb = line.substr(0, blank);
  std::string_view args = blank == std::string_view::npos ? std::string_view{}
                                                          : trim_blanks(line.substr(blank));
  for (const Verb& v : verbs)
    if (iequals(v.name, verb)) return v.parse(args, context);
  return Reply{500, "5.5.2", "Command unrecognized"};
}

std::string_view verb_name(const Command& command) {
  // The variant's alternatives are listed in the same order as `verbs`.
  static_assert(std::variant_size_v<Command> == verbs.size());
  return verbs[command.index()].name;
}

}  // namespace imta::core::smtp
