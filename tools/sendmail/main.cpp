// Entry point of the sendmail front end: picks the personality from the
// name the program was called by (argv[0]'s last path element).
#include <string>
#include <string_view>
#include <vector>

#include "tools/sendmail/front_end.hpp"

int main(int argc, char** argv) {
  std::string_view name = argc > 0 ? argv[0] : "sendmail";
  if (auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  using namespace imta::tools::sendmail;
  if (name == "mailq") return run_mailq(args);
  if (name == "newaliases") return run_newaliases(args);
  return run_sendmail(args);
}
