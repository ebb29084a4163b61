// imta init DIR -- create a working instance: the directory tree and a
// complete, commented default configuration, compiled and ready to run.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "config/default_files.hpp"
#include "config/snapshot.hpp"
#include "core/atomic_file.hpp"
#include "core/self_signed.hpp"
#include "core/text.hpp"
#include "tools/command_line.hpp"

namespace imta::tools {

namespace fs = std::filesystem;

namespace {

/// Letters, digits, hyphens and dots, labels of 1..63 characters: a host name
/// the rewrite rules and the SMTP greeting can use as it is.
bool valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

std::string system_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !valid_host_name(buf)) return "localhost";
  return buf;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size())
    text.replace(pos, from.size(), to);
  return text;
}

}  // namespace

int run_init(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta init options");
  options.add_options()
      ("dir", po::value<std::string>(), "instance root to create")
      ("domain", po::value<std::string>(), "mail domain delivered locally")
      ("hostname", po::value<std::string>(), "this host's official name");
  po::positional_options_description positional;
  positional.add("dir", 1);
  auto vm = parse_options(args, options, positional);

  fs::path root;
  if (vm.count("dir")) root = vm["dir"].as<std::string>();
  else if (context.root) root = *context.root;
  else throw UsageError("name the directory to create: imta init DIR");

  // Defaults: the system's host name and the domain part of it; a host name
  // without dots gets the domain "localdomain" (document: imta(8)).
  std::string hostname = vm.count("hostname") ? vm["hostname"].as<std::string>() : "";
  std::string domain = vm.count("domain") ? vm["domain"].as<std::string>() : "";
  if (hostname.empty()) {
    auto system = system_host_name();
    hostname = system.find('.') != std::string::npos ? system
               : !domain.empty()                     ? "mail." + domain
                                                     : system + ".localdomain";
  }
  if (domain.empty()) {
    auto dot = hostname.find('.');
    domain = dot != std::string::npos ? hostname.substr(dot + 1) : "localdomain";
  }
  hostname = core::to_lower(hostname);
  domain = core::to_lower(domain);
  if (!valid_host_name(domain)) throw UsageError("--domain \"" + domain + "\" is not a valid domain name");
  if (!valid_host_name(hostname)) throw UsageError("--hostname \"" + hostname + "\" is not a valid host name");

  std::error_code ec;
  if (fs::exists(root / "config" / "imta.cnf", ec)) {
    std::cerr << "imta init: " << root.string() << " already holds an instance (config/imta.cnf exists); "
              << "refusing to overwrite it\n";
    return exit_failure;
  }
  root = fs::absolute(root, ec);
  for (auto sub : {"config", "config/tls", "config/locale", "queue", "log", "db", "bin", "run"}) {
    fs::create_directories(root / sub, ec);
    if (ec) {
      std::cerr << "imta init: cannot create " << (root / sub).string() << ": " << ec.message() << "\n";
      return exit_failure;
    }
  }

  for (const auto& file : config::default_files()) {
    std::string text(file.contents);
    text = replace_all(std::move(text), "{{DOMAIN}}", domain);
    text = replace_all(std::move(text), "{{HOSTNAME}}", hostname);
    text = replace_all(std::move(text), "{{ROOT}}", root.string());
    // The hook sample goes to bin/ under a name the return job will not run.
    fs::path target = file.name == std::string_view("daily_cleanup.sample")
                          ? root / "bin" / file.name
                          : root / "config" / file.name;
    if (auto err = core::write_file_atomic(target, text); !err.empty()) {
      std::cerr << "imta init: " << err << "\n";
      return exit_failure;
    }
  }

  // STARTTLS and port 2465 work from the first start; replace with a real certificate.
  if (auto err = core::write_self_signed_certificate(root / "config" / "tls" / "server.pem",
                                                     root / "config" / "tls" / "server.key", hostname);
      !err.empty()) {
    std::cerr << "imta init: " << err << "\n";
    return exit_failure;
  }

  config::Diagnostics diags;
  auto snapshot = config::load_configuration(root / "config", diags);
  for (const auto& d : diags.items())
    if (d.severity == config::Severity::error) std::cerr << d.str() << "\n";
  if (!diags.ok()) {
    std::cerr << "imta init: the default configuration does not compile (a bug: please report it)\n";
    return exit_failure;
  }
  if (auto err = config::save_image(snapshot, root / "config" / "imta.image"); !err.empty()) {
    std::cerr << "imta init: " << err << "\n";
    return exit_failure;
  }

  std::cout << "created imta instance " << root.string() << " for domain " << domain << " (host "
            << hostname << ")\n"
            << "  configuration: " << (root / "config").string() << " (edit, then: imta --root "
            << root.string() << " cnbuild)\n"
            << "  try:           imta --root " << root.string() << " test -rewrite postmaster@" << domain
            << "\n";
  return exit_ok;
}

}  // namespace imta::tools
