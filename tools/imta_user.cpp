// placeholder: filled in by its owner
#include "tools/command_line.hpp"
namespace imta::tools {
int run_user(const CommandContext&, const std::vector<std::string>&) { return exit_failure; }
}
