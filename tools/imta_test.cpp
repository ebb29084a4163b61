// imta test -- ask the configuration questions the way an administrator
// does: where does this address go (-rewrite), what does this table say about
// this probe (-mapping), does this pattern match this string (-match).
#include <iostream>

#include "config/access_probes.hpp"
#include "config/mapping_engine.hpp"
#include "config/snapshot.hpp"
#include "tools/command_line.hpp"

namespace imta::tools {

namespace {

/// One "  key        = value" line of a result block.
void field(std::ostream& out, std::string_view key, std::string_view value) {
  out << "  " << key << std::string(key.size() < 10 ? 10 - key.size() : 0, ' ') << " = " << value << "\n";
}

/// The text of the rule or entry at `where`, for showing next to its location.
std::string located(const config::SourceLocation& where, std::string_view a, std::string_view b) {
  return where.str() + ": " + std::string(a) + "  " + std::string(b);
}

/// Loads the image, or with -noimage_file the text files. Returns nullopt
/// after printing why when neither works.
std::optional<config::Snapshot> load_snapshot(const core::Instance& instance, bool from_text) {
  if (from_text) {
    config::Diagnostics diags;
    auto snap = config::load_configuration(instance.config_dir(), diags);
    for (const auto& d : diags.items())
      if (d.severity == config::Severity::error) std::cerr << d.str() << "\n";
    if (!diags.ok()) {
      std::cerr << "imta test: the configuration files have errors (see above)\n";
      return std::nullopt;
    }
    return snap;
  }
  try {
    auto snap = config::load_image(instance.image_path());
    for (const auto& path : snap.changed_sources())
      std::cerr << "imta test: note: " << path
                << " changed since the image was built; testing the image (use -noimage_file "
                   "to test the files, imta cnbuild to compile them)\n";
    return snap;
  } catch (const config::ImageError& e) {
    std::cerr << "imta test: " << e.what() << "\n";
    return std::nullopt;
  }
}

int test_rewrite(const config::Snapshot& snap, const po::variables_map& vm,
                 const std::vector<std::string>& addresses) {
  config::SnapshotLookups lookups(snap);
  int status = exit_ok;
  for (const auto& address : addresses) {
    config::RewriteRequest request;
    request.address = address;
    request.source_channel = vm["source_channel"].as<std::string>();
    const std::string sender = vm.count("from") ? vm["from"].as<std::string>() : "";
    request.forward = !(vm.count("from") && sender.empty());
    request.envelope = !vm.count("header");
    request.debug = vm.count("debug") > 0;
    auto result = config::rewrite_address(snap.imta_cnf, lookups, request);
    std::cout << address << "\n";
    for (const auto& step : result.trace) field(std::cout, "try", step);
    if (result.rule) {
      std::string text = result.rule->str();
      for (const auto& rule : snap.imta_cnf.rules)
        if (rule.where.file == result.rule->file && rule.where.line == result.rule->line)
          text = located(rule.where, rule.pattern, rule.templ);
      field(std::cout, "rule", text);
    }
    if (result.ok) {
      field(std::cout, "address", result.address);
      field(std::cout, "channel", result.channel);
      // With a sender, also answer "is it allowed?" as the SMTP server would
      // before aliases expand (ORIG_SEND_ACCESS).
      if (!sender.empty() && snap.mappings.find(config::kOrigSendAccess)) {
        auto probe = config::send_access_probe(request.source_channel, sender, result.channel, result.address);
        auto access = config::apply_mapping(snap.mappings, config::kOrigSendAccess, probe);
        field(std::cout, "access", access.matched && access.reject ? "refused: " + access.reject_text
                                                                    : std::string("allowed"));
      }
    } else {
      field(std::cout, "error", result.error);
      status = exit_failure;
    }
  }
  return status;
}

config::ProbeFlags probe_flags(const std::string& letters) {
  config::ProbeFlags f;
  for (char c : letters) {
    switch (c) {
      case 'A': case 'a': f.auth = true; break;
      case 'T': case 't': f.tls = true; break;
      case 'E': case 'e': f.esmtp = true; break;
      case 'L': case 'l': f.lmtp = true; break;
      case 'S': case 's': f.notify_success = true; break;
      case 'F': case 'f': f.notify_failure = true; break;
      case 'D': case 'd': f.notify_delay = true; break;
      default: throw UsageError(std::string("-flags: unknown probe flag '") + c + "' (use A T E L S F D)");
    }
  }
  return f;
}

std::string verdict(const config::MappingResult& r) {
  if (!r.matched) return "no entry matched (the table does not decide this probe)";
  if (r.reject) return "rejected: " + r.reject_text;
  std::string what = r.allow ? "allowed" : "matched";
  if (r.hold) what += ", held";
  if (r.bitbucket) what += ", sent to the bitbucket";
  if (r.discard) what += ", discarded";
  return what;
}

int test_mapping(const config::Snapshot& snap, const po::variables_map& vm, std::vector<std::string> probes) {
  if (!vm.count("table")) throw UsageError("-mapping needs -table=NAME");
  const auto table = vm["table"].as<std::string>();
  const auto* tab = snap.mappings.find(table);
  if (!tab) {
    std::cerr << "imta test: no mapping table \"" << table << "\" in the mappings file\n";
    return exit_failure;
  }
  const auto flags = probe_flags(vm["flags"].as<std::string>());
  const bool from_stdin = probes.empty();
  int status = exit_ok;
  auto run = [&](const std::string& probe) {
    auto r = config::apply_mapping(snap.mappings, table, probe, flags, vm.count("debug") > 0);
    std::cout << "probe " << probe << "\n";
    for (const auto& step : r.trace) field(std::cout, "try", step);
    if (r.entry) {
      std::string text = r.entry->str();
      for (const auto& e : tab->entries)
        if (e.where.file == r.entry->file && e.where.line == r.entry->line) text = located(e.where, e.pattern, e.templ);
      field(std::cout, "entry", text);
    }
    if (!r.error.empty()) {
      field(std::cout, "error", r.error);
      status = exit_failure;
    }
    if (r.matched) {
      // Like Sun's "Output string": for a rejection, the text the client sees.
      field(std::cout, "output", r.reject ? r.reject_text : r.output);
      field(std::cout, "flags", r.flags_string());
    }
    field(std::cout, "result", verdict(r));
  };
  if (from_stdin) {
    for (std::string line; std::getline(std::cin, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) run(line);
    }
  } else {
    for (const auto& p : probes) run(p);
  }
  return status;
}

int test_match(const std::vector<std::string>& words) {
  if (words.size() != 2) throw UsageError("-match needs a PATTERN and a STRING");
  std::string error;
  auto captures = config::match_pattern(words[0], words[1], &error);
  if (!error.empty()) {
    std::cerr << "imta test: bad pattern: " << error << "\n";
    return exit_usage;
  }
  if (!captures) {
    std::cout << "no match\n";
    return exit_failure;
  }
  std::cout << "match\n";
  for (std::size_t i = 0; i < captures->size(); ++i) field(std::cout, "$" + std::to_string(i), (*captures)[i]);
  return exit_ok;
}

}  // namespace

int run_test(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta test options");
  options.add_options()
      ("rewrite", "show how addresses are rewritten and routed")
      ("mapping", "map probes through a mapping table")
      ("match", "match a string against one mapping pattern")
      ("table", po::value<std::string>(), "mapping table for -mapping")
      ("flags", po::value<std::string>()->default_value(""), "probe flags for -mapping (A T E L S F D)")
      ("debug", "show every attempt")
      ("from", po::value<std::string>()->implicit_value(""),
       "-from: rewrite as a sender address; -from=ADDRESS: envelope sender for the access check")
      ("header", "rewrite as a header address")
      ("source_channel", po::value<std::string>()->default_value("l"), "channel the address comes from")
      ("noimage_file", "read the text files, not the compiled image")
      ("words", po::value<std::vector<std::string>>(), "addresses, probes or pattern and string");
  po::positional_options_description positional;
  positional.add("words", -1);
  auto vm = parse_options(args, options, positional);
  auto words = vm.count("words") ? vm["words"].as<std::vector<std::string>>() : std::vector<std::string>{};

  const int modes = static_cast<int>(vm.count("rewrite") + vm.count("mapping") + vm.count("match"));
  if (modes != 1) throw UsageError("say exactly one of -rewrite, -mapping, -match");
  if (vm.count("match")) return test_match(words);
  if (vm.count("rewrite") && words.empty()) throw UsageError("-rewrite needs at least one address");

  auto instance = usable_instance(context);
  if (!instance) return exit_failure;
  auto snap = load_snapshot(*instance, vm.count("noimage_file") > 0);
  if (!snap) return exit_failure;
  return vm.count("rewrite") ? test_rewrite(*snap, vm, words) : test_mapping(*snap, vm, words);
}

}  // namespace imta::tools
