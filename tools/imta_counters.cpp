// imta counters -- the per-channel message counters of db/counters.sqlite
// (core/log/counters.hpp): -show [CHANNEL] prints them, -clear zeroes them.
#include <cstdio>
#include <iostream>

#include "core/json.hpp"
#include "core/log/counters.hpp"
#include "core/log/tracking.hpp"
#include "core/sqlite.hpp"
#include "tools/command_line.hpp"

namespace imta::tools {

namespace {

using core::log::ChannelCounters;

std::string cell(std::optional<std::int64_t> n) {
  char buf[32];
  if (n)
    std::snprintf(buf, sizeof buf, "%12lld", static_cast<long long>(*n));
  else
    std::snprintf(buf, sizeof buf, "%12s", "-");
  return buf;
}

void print_table(const ChannelCounters& c) {
  std::cout << "Channel " << c.channel << " (since " << core::log::tracking_time(c.since) << " UTC)\n";
  std::cout << "                Messages  Recipients      Blocks\n";
  auto row = [](const char* name, std::optional<std::int64_t> m, std::optional<std::int64_t> r,
                std::optional<std::int64_t> b) {
    char label[16];
    std::snprintf(label, sizeof label, "  %-10s", name);
    std::cout << label << cell(m) << cell(r) << cell(b) << "\n";
  };
  row("Received", c.messages_in, c.recipients_in, c.blocks_in);
  row("Delivered", c.messages_out, c.recipients_out, c.blocks_out);
  row("Queued", c.queued_messages, c.queued_recipients, std::nullopt);
  row("Failed", std::nullopt, c.failed, std::nullopt);
  row("Rejected", std::nullopt, c.rejected, std::nullopt);
  row("Deferred", std::nullopt, c.deferred, std::nullopt);
  row("Removed", std::nullopt, c.removed, std::nullopt);
  row("Warned", std::nullopt, c.warned, std::nullopt);
}

std::string json_of(const ChannelCounters& c) {
  core::JsonWriter w;
  w.begin_object()
      .field("channel", c.channel)
      .field("since", core::log::tracking_time(c.since))
      .field("messages_in", c.messages_in)
      .field("recipients_in", c.recipients_in)
      .field("blocks_in", c.blocks_in)
      .field("messages_out", c.messages_out)
      .field("recipients_out", c.recipients_out)
      .field("blocks_out", c.blocks_out)
      .field("queued_messages", c.queued_messages)
      .field("queued_recipients", c.queued_recipients)
      .field("failed", c.failed)
      .field("rejected", c.rejected)
      .field("deferred", c.deferred)
      .field("removed", c.removed)
      .field("warned", c.warned)
      .end_object();
  return w.str();
}

}  // namespace

int run_counters(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta counters options");
  options.add_options()
      ("show", "print the counters (the default)")
      ("clear", "zero the counters (the queued figures stay)")
      ("json", "with -show: one JSON object per channel and line")
      ("channel", po::value<std::string>(), "only this channel");
  po::positional_options_description positional;
  positional.add("channel", 1);
  auto vm = parse_options(args, options, positional);
  if (vm.count("show") && vm.count("clear")) throw UsageError("choose -show or -clear");
  std::optional<std::string> channel;
  if (vm.count("channel")) channel = vm["channel"].as<std::string>();

  auto instance = usable_instance(context);
  if (!instance) return exit_failure;
  const auto db = instance->db_dir() / core::log::kCountersDbName;
  std::error_code ec;
  if (!std::filesystem::exists(db, ec)) {
    std::cerr << "imta counters: no counters database " << db.string()
              << " (nothing logged yet, or LOG_COUNTERS=0 in option.dat)\n";
    return exit_failure;
  }
  if (vm.count("clear")) {
    core::log::clear_counters(db, channel);
    std::cout << "counters cleared" << (channel ? " for " + *channel : std::string()) << "\n";
    return exit_ok;
  }
  const auto all = core::log::read_counters(db, channel);
  if (all.empty() && channel) {
    std::cerr << "imta counters: no counters for channel " << *channel << "\n";
    return exit_failure;
  }
  const bool json = vm.count("json") > 0;
  bool first = true;
  for (const auto& c : all) {
    if (json) {
      std::cout << json_of(c) << "\n";
      continue;
    }
    if (!first) std::cout << "\n";
    first = false;
    print_table(c);
  }
  return exit_ok;
}

}  // namespace imta::tools
