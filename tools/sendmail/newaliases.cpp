// newaliases(1) (also `sendmail -bi` and `sendmail -I`): the aliases are
// compiled into the configuration image with everything else, so rebuilding
// "the alias database" is what `imta cnbuild` does: the same
// config::load_configuration() and config::save_image(). On any error the
// old image stays. When imtad runs it is told to reload (SIGHUP, as `imta
// reload` does), so the new aliases apply at once, as with sendmail's
// newaliases; --no-reload leaves that to the administrator.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "tools/sendmail/front_end.hpp"
#include "tools/sendmail/front_end_args.hpp"
#include "tools/sendmail/sysexits.hpp"

namespace imta::tools::sendmail {

namespace {

void newaliases_usage(std::ostream& out) {
  out << "usage: newaliases [-v] [--no-reload] [--root DIR]\n"
         "  -v            also print the configuration's warnings\n"
         "  --no-reload   do not tell a running imtad to reload\n"
         "  --root DIR    the instance (default: $IMTA_ROOT, else /var/lib/imta)\n"
         "See newaliases(1).\n";
}

}  // namespace

int run_newaliases(const std::vector<std::string>& args) {
  // `-bi` and `-I` are accepted, for `sendmail -bi` handing its words over.
  bool reload = true;
  auto options = parse_front_end_args("newaliases", args, [&](const std::string& a) {
    if (a == "--no-reload") {
      reload = false;
      return true;
    }
    return a == "-bi" || a == "-I";
  }, newaliases_usage);
  if (!options) return usage;
  if (options->help) {
    newaliases_usage(std::cout);
    return ok;
  }

  auto located = locate_front_end_instance("newaliases", options->root);
  if (!located) return os_file;
  const core::Instance& instance = *located;
  const auto aliases_path = instance.config_dir() / "aliases";
  config::Diagnostics diags;
  auto snapshot = config::load_configuration(instance.config_dir(), diags);
  // Errors always (in any file: the image holds them all); warnings about the
  // aliases file always, the others (unimplemented keywords, ...) with -v.
  for (const auto& d : diags.items())
    if (d.severity == config::Severity::error || options->verbose || d.where.file == aliases_path.string())
      std::cerr << d.str() << "\n";
  if (!diags.ok()) {
    std::cerr << "newaliases: " << diags.error_count() << (diags.error_count() == 1 ? " error" : " errors")
              << "; " << instance.image_path().string() << " not changed, the aliases in force stay\n";
    return config;
  }
  if (auto err = config::save_image(snapshot, instance.image_path()); !err.empty()) {
    std::cerr << "newaliases: " << err << "\n";
    return cant_create;
  }
  std::error_code ec;
  const std::size_t n = snapshot.aliases.entries.size();
  std::cout << aliases_path.string() << ": " << n << (n == 1 ? " alias" : " aliases")
            << (std::filesystem::exists(aliases_path, ec) ? "" : " (no aliases file)") << "\n";

  const pid_t pid = instance.running_pid("imtad");
  if (!pid) return ok;  // the next start loads the new image
  if (!reload) {
    std::cout << "imtad (pid " << pid << ") still uses the aliases it loaded; run imta reload to apply them\n";
    return ok;
  }
  if (::kill(pid, SIGHUP) != 0) {
    std::cerr << "newaliases: cannot tell imtad (pid " << pid << ") to reload: " << std::strerror(errno)
              << "; run imta reload as the instance's owner\n";
    return ok;  // the image is rebuilt; applying it is a separate step that failed
  }
  std::cout << "imtad (pid " << pid << ") told to reload the configuration\n";
  return ok;
}

}  // namespace imta::tools::sendmail
