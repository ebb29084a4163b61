// imta purge -- removes old versions of the per-program log files in log/
// (core/log/log_purge.hpp says which files count): keeps the newest N of each
// (-num=N, default 5), or removes those older than N days (-day=N) or hours
// (-hour=N). mail.log* and connection.log* are never touched.
#include <iostream>

#include "core/log/log_purge.hpp"
#include "tools/command_line.hpp"

namespace imta::tools {

int run_purge(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta purge options");
  options.add_options()
      ("num", po::value<int>(), "keep the newest N versions of each log (default 5)")
      ("day", po::value<int>(), "remove versions older than N days")
      ("hour", po::value<int>(), "remove versions older than N hours")
      ("dry-run", "list what would be removed, remove nothing")
      ("dry_run", "the same, in Sun's spelling")
      ("pattern", po::value<std::string>(), "only log files whose name matches (shell pattern)");
  po::positional_options_description positional;
  positional.add("pattern", 1);
  auto vm = parse_options(args, options, positional);
  const int rules = static_cast<int>(vm.count("num") + vm.count("day") + vm.count("hour"));
  if (rules > 1) throw UsageError("choose one of -num, -day and -hour");

  core::log::PurgeRule rule;
  if (vm.count("num")) {
    const int n = vm["num"].as<int>();
    if (n < 0) throw UsageError("-num wants a number of versions, 0 or more");
    rule.keep_newest = n;
  } else if (vm.count("day") || vm.count("hour")) {
    const bool days = vm.count("day") > 0;
    const int n = vm[days ? "day" : "hour"].as<int>();
    if (n < 0) throw UsageError(std::string("-") + (days ? "day" : "hour") + " wants 0 or more");
    rule.older_than = static_cast<std::int64_t>(n) * (days ? 86400 : 3600);
  }

  auto instance = usable_instance(context);
  if (!instance) return exit_failure;
  const bool dry_run = vm.count("dry-run") + vm.count("dry_run") > 0;
  const std::string pattern = vm.count("pattern") ? vm["pattern"].as<std::string>() : "*";
  auto report = core::log::purge_log_versions(instance->log_dir(), rule, pattern, dry_run);
  for (const auto& name : report.removed) std::cout << (dry_run ? "would remove " : "removed ") << name << "\n";
  for (const auto& e : report.errors) std::cerr << "imta purge: " << e << "\n";
  return report.errors.empty() ? exit_ok : exit_failure;
}

}  // namespace imta::tools
