// mailq(1): placeholder until it lands.
#include <iostream>

#include "tools/sendmail/front_end.hpp"
#include "tools/sendmail/sysexits.hpp"

namespace imta::tools::sendmail {

int run_mailq(const std::vector<std::string>&) {
  std::cerr << "mailq: not implemented yet\n";
  return software;
}

}  // namespace imta::tools::sendmail
