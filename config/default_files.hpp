// The default configuration files `imta init` writes into a new instance.
// Their text lives in config/defaults/ and is embedded at build time, so the
// binary needs no data directory. Placeholders {{DOMAIN}}, {{HOSTNAME}} and
// {{ROOT}} are replaced when the instance is created.
#pragma once

#include <string_view>
#include <vector>

namespace imta::config {

struct DefaultFile {
  std::string_view name;      ///< file name, e.g. "imta.cnf" or "locale/return_failure.txt"
  std::string_view contents;  ///< text with placeholders
};

const std::vector<DefaultFile>& default_files();

}  // namespace imta::config
