#include "tools/command_line.hpp"
namespace imta::tools {
int run_cnbuild(const CommandContext&, const std::vector<std::string>&) { return exit_failure; }
}
