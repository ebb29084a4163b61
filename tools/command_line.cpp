#include "tools/command_line.hpp"

#include <iostream>

namespace imta::tools {

po::variables_map parse_options(const std::vector<std::string>& args,
                                const po::options_description& options,
                                const po::positional_options_description& positional) {
  namespace style = po::command_line_style;
  // Sun's single-dash long options (-table=X) need long disguise; guessing is
  // off so an abbreviation never silently means a different option.
  const int cli_style = (style::default_style | style::allow_long_disguise) & ~style::allow_guessing;
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(options).positional(positional).style(cli_style).run(), vm);
    po::notify(vm);
    return vm;
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
}

std::optional<core::Instance> usable_instance(const CommandContext& context) {
  auto instance = context.instance();
  if (auto problem = instance.problem(); !problem.empty()) {
    std::cerr << "imta: " << problem << "\n";
    return std::nullopt;
  }
  return instance;
}

}  // namespace imta::tools
