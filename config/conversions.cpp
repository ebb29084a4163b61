#include "config/conversions.hpp"

#include "config/job_controller_cnf.hpp"
#include "core/text.hpp"

namespace imta::config {

namespace {

constexpr int max_timeout_s = 86400;

/// Splits a line into `;`-separated fields, keeping `;` inside double
/// quotes. Sets `unterminated` when a quote is left open.
std::vector<std::string_view> split_fields(std::string_view line, bool& unterminated) {
  std::vector<std::string_view> out;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"') quoted = !quoted;
    if (line[i] == ';' && !quoted) {
      out.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(line.substr(start));
  unterminated = quoted;
  return out;
}

std::optional<bool> parse_yes_no(std::string_view v) {
  if (core::iequals(v, "yes") || core::iequals(v, "true") || v == "1") return true;
  if (core::iequals(v, "no") || core::iequals(v, "false") || v == "0") return false;
  return std::nullopt;
}

}  // namespace

const ConversionEntry* Conversions::find(std::string_view source, std::string_view destination) const {
  for (const auto& e : entries)
    if (wildcard_match(e.in_chan, source) && wildcard_match(e.out_chan, destination)) return &e;
  return nullptr;
}

ReadOptions conversions_read_options() {
  ReadOptions r;
  r.comment_chars = "!#";
  r.continuation = true;
  r.includes = false;
  return r;
}

Conversions parse_conversions(const std::vector<SourceLine>& lines, Diagnostics& diags) {
  Conversions out;
  for (const auto& line : lines) {
    if (line.blank()) continue;
    bool unterminated = false;
    auto fields = split_fields(line.text, unterminated);
    if (unterminated) {
      diags.error(line.where, "unterminated double quote");
      continue;
    }
    ConversionEntry entry;
    entry.where = line.where;
    std::string command_text;
    std::optional<bool> shell;
    std::vector<std::string> seen;
    bool ok = true;
    for (auto raw : fields) {
      auto field = core::trim(raw);
      if (field.empty()) continue;
      auto eq = field.find('=');
      if (eq == std::string_view::npos) {
        diags.error(line.where, "\"" + std::string(field) + "\" is not name=value");
        ok = false;
        continue;
      }
      std::string name = core::to_lower(core::trim(field.substr(0, eq)));
      std::string_view value = core::trim(field.substr(eq + 1));
      bool repeated = false;
      for (const auto& s : seen) repeated = repeated || s == name;
      if (repeated) {
        diags.error(line.where, name + " given twice");
        ok = false;
        continue;
      }
      seen.push_back(name);
      if (name == "in-chan") {
        entry.in_chan = value.empty() ? "*" : std::string(value);
      } else if (name == "out-chan") {
        entry.out_chan = value.empty() ? "*" : std::string(value);
      } else if (name == "command") {
        command_text = std::string(value);
      } else if (name == "shell") {
        shell = parse_yes_no(value);
        if (!shell) {
          diags.error(line.where, "shell must be yes or no, not \"" + std::string(value) + "\"");
          ok = false;
        }
      } else if (name == "timeout") {
        auto n = core::parse_integer(value);
        if (!n || *n < 1 || *n > max_timeout_s) {
          diags.error(line.where, "timeout must be a number of seconds from 1 to " + std::to_string(max_timeout_s) +
                                      ", not \"" + std::string(value) + "\"");
          ok = false;
        } else {
          entry.timeout_s = static_cast<int>(*n);
        }
      } else if (name == "user") {
        entry.user = std::string(value);
      } else {
        diags.error(line.where, "unknown field \"" + name + "\" (in-chan, out-chan, command, shell, timeout, user)");
        ok = false;
      }
    }
    entry.shell = shell.value_or(false);
    if (command_text.empty()) {
      diags.error(line.where, "entry without command=");
      continue;
    }
    if (entry.shell) {
      // The whole command line may be quoted (to keep its `;`): the shell
      // gets what is inside.
      if (command_text.size() >= 2 && command_text.front() == '"' && command_text.back() == '"')
        command_text = command_text.substr(1, command_text.size() - 2);
      entry.command = {"/bin/sh", "-c", command_text};
    } else {
      entry.command = core::split_words(command_text);
      if (entry.command.empty() || !entry.command.front().starts_with('/')) {
        diags.error(line.where, "command must start with the absolute path of a program (or say shell=yes), not \"" +
                                    command_text + "\"");
        continue;
      }
    }
    if (ok) out.entries.push_back(std::move(entry));
  }
  return out;
}

void write_image(ImageWriter& out, const Conversions& conversions) {
  out.list(conversions.entries, [](ImageWriter& w, const ConversionEntry& e) {
    w.location(e.where);
    w.str(e.in_chan);
    w.str(e.out_chan);
    w.strings(e.command);
    w.boolean(e.shell);
    w.u32(static_cast<std::uint32_t>(e.timeout_s));
    w.str(e.user);
  });
}

Conversions read_conversions(ImageReader& in) {
  Conversions out;
  out.entries = in.list<ConversionEntry>([](ImageReader& r) {
    ConversionEntry e;
    e.where = r.location();
    e.in_chan = r.str();
    e.out_chan = r.str();
    e.command = r.strings();
    e.shell = r.boolean();
    e.timeout_s = static_cast<int>(r.u32());
    e.user = r.str();
    return e;
  });
  return out;
}

}  // namespace imta::config
