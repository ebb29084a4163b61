// sendmail(8)'s command line; see sendmail_flags.hpp.
#include "tools/sendmail/sendmail_flags.hpp"

#include <string_view>

#include "core/text.hpp"

namespace imta::tools::sendmail {

namespace {

/// Flags that take a value (attached or the next word), as in sendmail's
/// getopt string; -q takes an optional value, attached only.
bool takes_value(char c) {
  switch (c) {
    case 'A': case 'B': case 'C': case 'D': case 'F': case 'L': case 'M': case 'N': case 'O': case 'R':
    case 'V': case 'X': case 'b': case 'd': case 'e': case 'f': case 'h': case 'o': case 'p': case 'r':
      return true;
    default: return false;
  }
}

/// What an ignored flag means, for the note.
std::string_view legacy_meaning(char c) {
  switch (c) {
    case 'A': return "submission mode";
    case 'C': return "configuration file (imta uses $IMTA_ROOT)";
    case 'D': return "debug output file";
    case 'G': return "gateway submission";
    case 'L': return "syslog label";
    case 'M': return "macro definition";
    case 'O': case 'o': return "sendmail option";
    case 'U': return "initial user submission";
    case 'X': return "traffic log file";
    case 'c': return "connection caching";
    case 'd': return "debugging";
    case 'e': return "error reporting mode";
    case 'h': return "hop count";
    case 'm': return "send to me too";
    case 'n': return "no aliasing";
    case 'p': return "protocol and host name";
    case 's': return "save From lines";
    default: return "";
  }
}

std::string ignored(std::string_view shown, char c) {
  std::string note = "sendmail: " + std::string(shown) + " ignored";
  auto meaning = legacy_meaning(c);
  note += meaning.empty() ? std::string(" (unknown flag)") : " (" + std::string(meaning) + ")";
  return note;
}

/// One -b mode letter (or word: -bm, -bs, ...).
std::optional<Mode> mode_of(std::string_view value, std::string& error) {
  if (value == "m") return Mode::deliver;
  if (value == "s") return Mode::smtp;
  if (value == "v") return Mode::verify;
  if (value == "p") return Mode::print_queue;
  if (value == "i") return Mode::init_aliases;
  if (value == "d" || value == "D") return Mode::daemon;
  error = "-b" + std::string(value) + " is not supported (known: -bm, -bs, -bv, -bp, -bi)";
  return std::nullopt;
}

}  // namespace

std::optional<unsigned> parse_notify(std::string_view value) {
  auto lower = core::to_lower(core::trim(value));
  if (lower == "never") return core::notify_never;
  unsigned bits = 0;
  std::string_view rest = lower;
  while (true) {
    auto comma = rest.find(',');
    auto word = core::trim(rest.substr(0, comma));
    if (word == "success") bits |= core::notify_success;
    else if (word == "failure") bits |= core::notify_failure;
    else if (word == "delay") bits |= core::notify_delay;
    else return std::nullopt;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return bits;
}

FlagsResult parse_flags(const std::vector<std::string>& args) {
  FlagsResult result;
  Flags f;
  bool flags_done = false;
  for (std::size_t n = 0; n < args.size(); ++n) {
    const std::string& word = args[n];
    if (flags_done || word.size() < 2 || word[0] != '-') {
      if (!word.empty()) f.recipients.push_back(word);
      continue;
    }
    if (word == "--") {
      flags_done = true;
      continue;
    }
    for (std::size_t i = 1; i < word.size(); ++i) {
      const char c = word[i];
      std::string value;
      if (takes_value(c)) {
        if (i + 1 < word.size()) {
          value = word.substr(i + 1);
        } else if (n + 1 < args.size()) {
          value = args[++n];
        } else {
          result.error = std::string("-") + c + " needs a value";
          return result;
        }
        i = word.size();  // the rest of the word was the value
      } else if (c == 'q') {
        value = word.substr(i + 1);
        i = word.size();
      }
      const std::string shown = std::string("-") + c + value;
      switch (c) {
        case 't': f.recipients_from_header = true; break;
        case 'i': f.ignore_dots = true; break;
        case 'v': f.verbose = true; break;
        case 'I': f.mode = Mode::init_aliases; break;
        case 'f':
        case 'r': f.sender = value; break;
        case 'F': f.full_name = value; break;
        case 'V': f.envid = value; break;
        case 'q':
          f.mode = Mode::queue_run;
          f.queue_argument = value;
          break;
        case 'b': {
          auto mode = mode_of(value, result.error);
          if (!mode) return result;
          f.mode = *mode;
          break;
        }
        case 'N': {
          auto bits = parse_notify(value);
          if (!bits) {
            result.error = "-N " + value + ": expected never, or a list of success, failure and delay";
            return result;
          }
          f.notify = *bits;
          break;
        }
        case 'R': {
          auto v = core::to_lower(value);
          if (v == "full") f.ret = core::Ret::full;
          else if (v == "hdrs") f.ret = core::Ret::hdrs;
          else {
            result.error = "-R " + value + ": expected full or hdrs";
            return result;
          }
          break;
        }
        case 'B': {
          auto v = core::to_upper(value);
          if (v == "8BITMIME") f.body = BodyType::eight_bit_mime;
          else if (v == "7BIT") f.body = BodyType::seven_bit;
          else {
            result.error = "-B " + value + ": expected 8BITMIME or 7BIT";
            return result;
          }
          break;
        }
        case 'o':
          // -oi is -i; every other sendmail option (-oem, -odb, -oQ...) is ignored.
          if (value == "i") f.ignore_dots = true;
          else f.notes.push_back(ignored(shown, c));
          break;
        default: f.notes.push_back(ignored(shown, c)); break;
      }
    }
  }
  result.flags = std::move(f);
  return result;
}

}  // namespace imta::tools::sendmail
