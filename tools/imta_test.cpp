#include "tools/command_line.hpp"
namespace imta::tools {
int run_test(const CommandContext&, const std::vector<std::string>&) { return exit_failure; }
}
