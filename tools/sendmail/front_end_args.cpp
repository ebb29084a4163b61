// See front_end_args.hpp.
#include "tools/sendmail/front_end_args.hpp"

#include <iostream>

namespace imta::tools::sendmail {

std::optional<FrontEndArgs> parse_front_end_args(std::string_view program, const std::vector<std::string>& args,
                                                 const std::function<bool(const std::string&)>& own,
                                                 void (*usage)(std::ostream&)) {
  FrontEndArgs o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (own(a)) {
    } else if (a == "-v" || a == "--verbose") {
      o.verbose = true;
    } else if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "--root" && i + 1 < args.size()) {
      o.root = args[++i];
    } else if (a.starts_with("--root=")) {
      o.root = a.substr(7);
    } else {
      std::cerr << program << ": unknown option or argument \"" << a << "\"\n";
      usage(std::cerr);
      return std::nullopt;
    }
  }
  return o;
}

std::optional<core::Instance> locate_front_end_instance(std::string_view program,
                                                        const std::optional<std::string>& root) {
  auto instance = core::Instance::locate(root);
  if (auto problem = instance.problem(); !problem.empty()) {
    std::cerr << program << ": " << problem << "\n";
    return std::nullopt;
  }
  return instance;
}

}  // namespace imta::tools::sendmail
