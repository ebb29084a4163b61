// imta qm -- the queue manager: one-shot subcommands to list, inspect, hold,
// release and delete queued messages (see imta-qm(8)). This file finds the
// subcommand and holds what the subcommands share; they live in
// imta_qm_show.cpp and imta_qm_act.cpp.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "config/channel_keywords.hpp"
#include "core/text.hpp"
#include "tools/imta_qm.hpp"

namespace imta::tools {

namespace qm {

std::unique_ptr<QueueManager> open_queue(const CommandContext& context) {
  auto instance = usable_instance(context);
  if (!instance) return nullptr;
  try {
    return open_listing(*instance);
  } catch (const config::ImageError& e) {
    std::cerr << "imta qm: " << e.what() << "\n";
    return nullptr;
  }
}

std::optional<std::string> read_message(const Message& m, bool headers_only) {
  std::ifstream in(m.entry.path, std::ios::binary);
  if (!in) return std::nullopt;
  in.seekg(static_cast<std::streamoff>(m.file.message_offset));
  const std::uint64_t size = m.file.envelope.size;
  std::string bytes;
  constexpr std::size_t chunk = 64 * 1024;
  while (bytes.size() < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, size - bytes.size()));
    const std::size_t had = bytes.size();
    bytes.resize(had + want);
    in.read(bytes.data() + had, static_cast<std::streamsize>(want));
    bytes.resize(had + static_cast<std::size_t>(in.gcount()));
    if (in.gcount() == 0) break;
    if (headers_only) {
      // The empty line may straddle two chunks: search from a little before.
      const std::size_t from = had >= 3 ? had - 3 : 0;
      if (auto end = bytes.find("\r\n\r\n", from); end != std::string::npos) return bytes.substr(0, end + 2);
      if (auto end = bytes.find("\n\n", from); end != std::string::npos) return bytes.substr(0, end + 1);
    }
  }
  if (bytes.size() != size) return std::nullopt;  // shorter than its envelope says
  return bytes;
}

std::optional<std::string> header_value(std::string_view headers, std::string_view name) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    std::size_t end = headers.find('\n', pos);
    if (end == std::string_view::npos) end = headers.size();
    std::string_view line = headers.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() > name.size() && line[name.size()] == ':' && core::iequals(line.substr(0, name.size()), name)) {
      std::string value(core::trim(line.substr(name.size() + 1)));
      // Continuation lines start with a blank.
      while (pos < headers.size() && (headers[pos] == ' ' || headers[pos] == '\t')) {
        std::size_t next = headers.find('\n', pos);
        if (next == std::string_view::npos) next = headers.size();
        value += ' ';
        value += core::trim(headers.substr(pos, next - pos));
        pos = next + 1;
      }
      return value;
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.front() == 'P' || text.front() == 'p') {
    auto secs = config::parse_iso8601_duration(text);
    if (!secs) return std::nullopt;
    return *secs * 1000;
  }
  const char unit = static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
  std::int64_t factor = 0;
  switch (unit) {
    case 's': factor = 1; break;
    case 'm': factor = 60; break;
    case 'h': factor = 3600; break;
    case 'd': factor = 86400; break;
    case 'w': factor = 7 * 86400; break;
    default: return std::nullopt;
  }
  const auto digits = text.substr(0, text.size() - 1);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  auto n = core::parse_integer(digits);
  if (!n || *n > std::int64_t{1} << 40) return std::nullopt;
  return *n * factor * 1000;
}

bool contains_nocase(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != haystack.end();
}

std::vector<std::string> collect_ids(const std::vector<std::string>& words) {
  std::vector<std::string> ids;
  std::set<std::string> seen;
  auto add = [&](std::string word) {
    if (word.empty()) return;
    if (core::iequals(word, "all"))
      throw UsageError("\"" + word + "\" is not a message id; to act on every message say -all");
    // A path (queue/tcp_local/ZZ...00, or channel/file as listings show it): its file name.
    if (auto slash = word.rfind('/'); slash != std::string::npos) word = word.substr(slash + 1);
    if (seen.insert(core::to_upper(word)).second) ids.push_back(std::move(word));
  };
  bool read_stdin = false;
  for (const auto& w : words) {
    if (w == "-") {
      if (read_stdin) continue;
      read_stdin = true;
      for (std::string token; std::cin >> token;) add(token);
    } else {
      add(w);
    }
  }
  return ids;
}

std::vector<queue::QueueEntry> find_message(const QueueManager& qm, std::string_view id, std::string_view channel) {
  auto found = qm.store().find_all(id, channel);
  if (!found.empty()) return found;
  // A file name from an older listing: the retry prefix or the suffix may
  // have changed since (a retry, a hold); the id inside never does.
  if (auto name = queue::parse_queue_file_name(core::to_upper(id))) return qm.store().find_all(name->id, channel);
  // The name without its suffix (prefix + id).
  if (id.size() > 2 && queue::attempts_from_prefix(core::to_upper(id.substr(0, 2))))
    return qm.store().find_all(id.substr(2), channel);
  return found;
}

std::string channel_argument(const po::variables_map& vm, std::string_view subcommand) {
  std::string channel = vm.count("channel") ? vm["channel"].as<std::string>() : "";
  if (vm.count("words")) {
    const auto& words = vm["words"].as<std::vector<std::string>>();
    if (words.size() > 1) throw UsageError(std::string(subcommand) + " takes at most one CHANNEL");
    if (!channel.empty() && channel != words.front())
      throw UsageError("two different channels: " + words.front() + " and -channel=" + channel);
    channel = words.front();
  }
  return channel;
}

}  // namespace qm

namespace {

struct QmSubcommand {
  std::string_view name;
  int (*run)(const CommandContext&, const std::vector<std::string>&);
  std::string_view synopsis;
};

constexpr QmSubcommand qm_subcommands[] = {
    {"directory", qm::qm_directory, "[CHANNEL] [-from=S] [-to=S] [-older=D] [-newer=D] [-held] [-channel=C] [--json]"},
    {"list", qm::qm_directory, "the same as directory"},
    {"summarize", qm::qm_summarize, "[--json]"},
    {"read", qm::qm_read, "ID... [-content] [-channel=C]"},
    {"history", qm::qm_history, "ID... [-channel=C] [--json]"},
    {"delete", qm::qm_delete, "ID...|-|-all [-channel=C]"},
    {"hold", qm::qm_hold, "ID...|-|-all [-channel=C]"},
    {"release", qm::qm_release, "ID...|-|-all [-channel=C]"},
    {"clean", qm::qm_clean, "[CHANNEL] [-from=S] [-to=S] [-subject=S] [-content=S] -hold|-delete [-min_length=N]"},
    {"jobs", qm::qm_jobs, "the delivery jobs running under the job controller"},
    {"return", qm::qm_return, "ID...|- [-channel=C]  (back to the sender, as a failure notice)"},
};

void qm_usage(std::ostream& out) {
  out << "usage: imta qm SUBCOMMAND [ARGS...]\n\nsubcommands:\n";
  for (const auto& s : qm_subcommands)
    out << "  " << s.name << std::string(11 - s.name.size(), ' ') << s.synopsis << "\n";
  out << "\nIDs are the unique part of a queue file name or the whole name; - reads them\n"
         "from standard input. Exit status: 0 done, 1 partly done, 2 usage error. See imta-qm(8).\n";
}

}  // namespace

int run_qm(const CommandContext& context, const std::vector<std::string>& args) {
  if (args.empty()) {
    qm_usage(std::cerr);
    return exit_usage;
  }
  if (args[0] == "help" || args[0] == "--help" || args[0] == "-help" || args[0] == "-h") {
    qm_usage(std::cout);
    return exit_ok;
  }
  for (const auto& s : qm_subcommands)
    if (args[0] == s.name) return s.run(context, std::vector<std::string>(args.begin() + 1, args.end()));
  throw UsageError("unknown subcommand \"" + args[0] + "\" (directory, list, summarize, read, history, "
                   "delete, hold, release, clean, jobs)");
}

}  // namespace imta::tools
