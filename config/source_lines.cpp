#include "config/source_lines.hpp"

#include <fstream>
#include <sstream>

#include "core/text.hpp"

namespace imta::config {

bool SourceLine::blank() const {
  for (char c : text)
    if (!core::is_blank(c) && c != '\r') return false;
  return true;
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(buf).str();
}

namespace {

bool is_comment(std::string_view line, const std::string& comment_chars) {
  for (char c : line) {
    if (core::is_blank(c)) continue;
    return comment_chars.find(c) != std::string::npos;
  }
  return false;
}

void split_into(std::string_view text, const std::string& file, const ReadOptions& options,
                Diagnostics& diags, const IncludeLoader& load, int depth,
                std::vector<SourceLine>& out) {
  int line_no = 0;
  std::optional<SourceLine> pending;  // a line being continued
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    SourceLocation where{file, line_no};

    if (is_comment(raw, options.comment_chars)) continue;  // also inside continuations

    if (!pending && options.includes && !raw.empty() && raw.front() == '<') {
      std::string name(core::trim(raw.substr(1)));
      if (name.empty()) {
        diags.error(where, "include line names no file");
        continue;
      }
      if (depth >= options.max_include_depth) {
        diags.error(where, "include \"" + name + "\" nested deeper than " +
                               std::to_string(options.max_include_depth) + " levels");
        continue;
      }
      std::filesystem::path target(name);
      if (target.is_relative()) target = std::filesystem::path(file).parent_path() / target;
      auto contents = load(target);
      if (!contents) {
        diags.error(where, "cannot read included file \"" + target.string() + "\"");
        continue;
      }
      split_into(*contents, target.string(), options, diags, load, depth + 1, out);
      continue;
    }

    bool continues = options.continuation && !raw.empty() && raw.back() == '\\';
    if (continues) raw.remove_suffix(1);
    if (pending) {
      pending->text += raw;
    } else {
      pending = SourceLine{where, std::string(raw)};
    }
    if (!continues) {
      out.push_back(std::move(*pending));
      pending.reset();
    }
  }
  if (pending) {
    diags.error(pending->where, "continuation line at end of file");
    out.push_back(std::move(*pending));
  }
}

}  // namespace

std::vector<SourceLine> split_source(std::string_view text, const std::string& file,
                                     const ReadOptions& options, Diagnostics& diags,
                                     const IncludeLoader& load) {
  std::vector<SourceLine> out;
  split_into(text, file, options, diags, load, 0, out);
  return out;
}

std::vector<SourceLine> read_source(const std::filesystem::path& path, const ReadOptions& options,
                                    Diagnostics& diags) {
  auto text = read_file(path);
  if (!text) {
    diags.error({path.string(), 0}, "cannot read file");
    return {};
  }
  return split_source(*text, path.string(), options, diags);
}

}  // namespace imta::config
