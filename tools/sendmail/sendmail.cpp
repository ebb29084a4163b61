// sendmail(8): placeholder until the front end lands.
#include <iostream>

#include "tools/sendmail/front_end.hpp"
#include "tools/sendmail/sysexits.hpp"

namespace imta::tools::sendmail {

int run_sendmail(const std::vector<std::string>&) {
  std::cerr << "sendmail: not implemented yet\n";
  return software;
}

}  // namespace imta::tools::sendmail
