// dns_probe: the real resolver (core/dns) from the command line, for tests.
//
//   dns_probe --server 127.0.0.1:PORT [--server ...] [--timeout-ms N]
//             [--attempts N] [--no-cache] [--no-ipv6] COMMAND NAME
//   dns_probe --server ... --stdin     (one "COMMAND NAME" per input line)
//
// COMMAND: mx | addresses | targets | targets-randommx | targets-nomx.
// Prints one fact per line, then "end" (so a test reading a pipe knows the
// answer is complete):
//   status ok|nxdomain|nodata|servfail|timeout
//   canonical NAME
//   mx PREFERENCE EXCHANGE                 (mx)
//   address IP                             (addresses)
//   implicit_mx 0|1 / null_mx 0|1          (targets)
//   target HOST PREFERENCE IP...           (targets)
//   error TEXT                             (targets, when not ok)
// Never asks the machine's resolver: --server (or --resolv-conf FILE) is required.
#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include "core/dns/resolver.hpp"

namespace dns = imta::core::dns;

namespace {

std::string answer_text(dns::Resolver& resolver, const std::string& command, const std::string& name,
                        bool ipv6) {
  asio::io_context io;
  std::ostringstream out;
  auto run = [&]() -> asio::awaitable<void> {
    if (command == "mx") {
      dns::MxAnswer a = co_await resolver.mx(name);
      out << "status " << dns::status_text(a.status) << "\n";
      out << "canonical " << a.canonical << "\n";
      for (const auto& r : a.records) out << "mx " << r.preference << " " << (r.exchange.empty() ? "." : r.exchange) << "\n";
    } else if (command == "addresses") {
      dns::AddressAnswer a = co_await resolver.addresses(name, ipv6);
      out << "status " << dns::status_text(a.status) << "\n";
      out << "canonical " << a.canonical << "\n";
      for (const auto& ip : a.addresses) out << "address " << ip.to_string() << "\n";
    } else {
      auto policy = command == "targets-randommx" ? dns::MxPolicy::randommx
                    : command == "targets-nomx"   ? dns::MxPolicy::nomx
                                                  : dns::MxPolicy::mx;
      dns::TargetsAnswer a = co_await dns::delivery_targets(resolver, name, policy, ipv6);
      out << "status " << dns::status_text(a.status) << "\n";
      out << "implicit_mx " << a.implicit_mx << "\n";
      out << "null_mx " << a.null_mx << "\n";
      for (const auto& t : a.targets) {
        out << "target " << t.host << " " << t.preference;
        for (const auto& ip : t.addresses) out << " " << ip.to_string();
        out << "\n";
      }
      if (!a.error.empty()) out << "error " << a.error << "\n";
    }
    out << "end\n";
  };
  asio::co_spawn(io, run(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  return out.str();
}

bool known_command(const std::string& c) {
  return c == "mx" || c == "addresses" || c == "targets" || c == "targets-randommx" || c == "targets-nomx";
}

int usage() {
  std::cerr << "usage: dns_probe --server IP[:PORT] ... [--resolv-conf FILE] [--timeout-ms N] [--attempts N]\n"
               "                 [--no-cache] [--no-ipv6] (COMMAND NAME | --stdin)\n"
               "COMMAND: mx | addresses | targets | targets-randommx | targets-nomx\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  dns::ResolverOptions options;
  options.resolv_conf.clear();
  bool from_stdin = false;
  bool ipv6 = true;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--server") {
      auto list = dns::parse_server_list(value());
      if (!list || list->empty()) return usage();
      options.servers.insert(options.servers.end(), list->begin(), list->end());
    } else if (arg == "--resolv-conf") {
      options.resolv_conf = value();
    } else if (arg == "--timeout-ms") {
      options.timeout = std::chrono::milliseconds(std::stoi(value()));
    } else if (arg == "--attempts") {
      options.attempts = std::stoi(value());
    } else if (arg == "--no-cache") {
      options.cache = false;
    } else if (arg == "--no-ipv6") {
      ipv6 = false;
    } else if (arg == "--stdin") {
      from_stdin = true;
    } else if (!arg.empty() && arg[0] == '-') {
      return usage();
    } else {
      words.push_back(arg);
    }
  }
  if (options.servers.empty() && options.resolv_conf.empty()) return usage();
  if (from_stdin ? !words.empty() : words.size() != 2 || !known_command(words[0])) return usage();

  asio::io_context unused;
  dns::Resolver resolver(unused.get_executor(), options);
  if (!from_stdin) {
    std::cout << answer_text(resolver, words[0], words[1], ipv6) << std::flush;
    return 0;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command, name;
    if (!(in >> command >> name) || !known_command(command)) {
      std::cout << "status usage\nend\n" << std::flush;
      continue;
    }
    std::cout << answer_text(resolver, command, name, ipv6) << std::flush;
  }
  return 0;
}
