// imta track -- what happened to a message: the rows of db/tracking.sqlite
// (core/log/tracking.hpp) in the MX Front layout, one line per message and
// recipient, or as JSON objects.
#include <iostream>

#include "core/log/tracking.hpp"
#include "core/sqlite.hpp"
#include "tools/command_line.hpp"

namespace imta::tools {

int run_track(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta track options");
  options.add_options()
      ("date", po::value<std::string>(), "messages queued on this day (YYYY-MM-DD, UTC)")
      ("from", po::value<std::string>(), "envelope sender (* matches any text)")
      ("to", po::value<std::string>(), "final or original recipient (* matches any text)")
      ("message-id", po::value<std::string>(), "Message-ID, with or without <>")
      ("queue-id", po::value<std::string>(), "queue id (as in \"queued as ...\")")
      ("status", po::value<std::string>(), "queued, sent, deferred, delayed, bounced, rejected, removed, aborted")
      ("json", "one JSON object per line");
  auto vm = parse_options(args, options, {});

  core::log::TrackingQuery query;
  if (vm.count("date")) {
    query.day = core::log::parse_tracking_day(vm["date"].as<std::string>());
    if (!query.day) throw UsageError("--date wants YYYY-MM-DD, not \"" + vm["date"].as<std::string>() + "\"");
  }
  auto text = [&vm](const char* name, std::optional<std::string>& into) {
    if (vm.count(name)) into = vm[name].as<std::string>();
  };
  text("from", query.from);
  text("to", query.to);
  text("message-id", query.message_id);
  text("queue-id", query.queue_id);
  text("status", query.status);

  auto instance = usable_instance(context);
  if (!instance) return exit_failure;
  const auto db = instance->db_dir() / core::log::kTrackingDbName;
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) {
    std::cerr << "imta track: no tracking database " << db.string()
              << " (nothing logged yet, or LOG_TRACKING=0 in option.dat)\n";
    return exit_failure;
  }
  const bool json = vm.count("json") > 0;
  for (const auto& row : core::log::query_tracking(db, query))
    std::cout << (json ? core::log::tracking_json(row) : core::log::mx_front_line(row)) << '\n';
  return exit_ok;
}

}  // namespace imta::tools
