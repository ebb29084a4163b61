// imta cnbuild -- check every configuration file and compile the image that
// every imta program loads. Reports all problems, writes nothing on error.
#include <iostream>

#include "config/snapshot.hpp"
#include "tools/command_line.hpp"

namespace imta::tools {

namespace {

void print_statistics(const config::Snapshot& snap, std::ostream& out) {
  std::size_t options_set = 0;
  for (const auto& slot : snap.options.slots())
    if (slot.where) ++options_set;
  auto row = [&](std::string_view what, std::size_t n) {
    out << "  " << what << std::string(24 - what.size(), ' ') << ": " << n << "\n";
  };
  out << "compiled configuration:\n";
  row("rewrite rules", snap.imta_cnf.rules.size());
  row("channels", snap.imta_cnf.channels.size());
  row("mapping tables", snap.mappings.tables.size());
  row("mapping entries", snap.mappings.entry_count());
  row("aliases", snap.aliases.entries.size());
  row("general entries", snap.general.entries.size());
  row("options set", options_set);
  row("channel option files", snap.channel_options.size());
  row("services", snap.dispatcher.services.size());
  row("pools", snap.job_controller.pools.size());
}

}  // namespace

int run_cnbuild(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta cnbuild options");
  options.add_options()
      ("statistics", "print counts of what was compiled")
      ("options", "list every option.dat option with its value and meaning")
      ("noimage_file", "check only; do not write the image");
  auto vm = parse_options(args, options, {});

  auto instance = usable_instance(context);
  if (!instance) return exit_failure;

  config::Diagnostics diags;
  auto snapshot = config::load_configuration(instance->config_dir(), diags);
  for (const auto& d : diags.items()) std::cerr << d.str() << "\n";

  if (!diags.ok()) {
    std::cerr << "imta cnbuild: " << diags.error_count() << (diags.error_count() == 1 ? " error" : " errors")
              << ", " << diags.warning_count() << (diags.warning_count() == 1 ? " warning" : " warnings")
              << "; " << instance->image_path().string() << " not changed\n";
    return exit_failure;
  }
  if (vm.count("options")) std::cout << config::format_options(snapshot.options);
  if (vm.count("statistics")) print_statistics(snapshot, std::cout);
  if (vm.count("noimage_file")) {
    std::cerr << "imta cnbuild: configuration is valid (" << diags.warning_count()
              << " warnings); image not written (-noimage_file)\n";
    return exit_ok;
  }
  if (auto err = config::save_image(snapshot, instance->image_path()); !err.empty()) {
    std::cerr << "imta cnbuild: " << err << "\n";
    return exit_failure;
  }
  std::cerr << "imta cnbuild: wrote " << instance->image_path().string() << " (" << diags.warning_count()
            << (diags.warning_count() == 1 ? " warning" : " warnings") << ")\n";
  return exit_ok;
}

}  // namespace imta::tools
