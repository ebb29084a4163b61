// imta -- the administrator's command: one program, one subcommand per job
// (init, cnbuild, test, ...), each in its own file. This file only finds the
// subcommand and the instance root and maps failures to exit codes.
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "tools/command_line.hpp"

namespace {

using namespace imta::tools;

struct Subcommand {
  std::string_view name;
  int (*run)(const CommandContext&, const std::vector<std::string>&);
  std::string_view summary;
};

constexpr Subcommand subcommands[] = {
    {"init", run_init, "create a new instance: imta init DIR [--domain D] [--hostname H]"},
    {"cnbuild", run_cnbuild, "check every configuration file and compile config/imta.image"},
    {"test", run_test, "test rewriting (-rewrite), mappings (-mapping) and patterns (-match)"},
    {"start", run_start, "start imtad (the dispatcher and the job controller)"},
    {"stop", run_stop, "stop imtad gracefully (sessions get time to finish)"},
    {"restart", run_restart, "stop, then start imtad"},
    {"reload", run_reload, "make imtad load the compiled configuration again (after cnbuild)"},
    {"process", run_process, "show the running imtad processes, uptime and connections"},
    {"submit", run_submit, "ask the job controller to run a channel (every channel) now"},
    {"run", run_run, "deliver a channel's queued files in the foreground, ignoring backoff"},
    {"cache", run_cache, "the job controller's queue cache: -view [CHANNEL], -sync"},
    {"user", run_user, "local users (mailboxes and SMTP AUTH): add, delete, list, passwd"},
    {"program", run_program, "programs of the pipe channel: -a NAME -p PATH, -c, -d NAME, -l"},
    {"qm", run_qm, "queue manager: directory, summarize, read, history, delete, hold, release, clean, jobs"},
    {"track", run_track, "what happened to messages: one line per message and recipient"},
    {"counters", run_counters, "per-channel message counters: -show [CHANNEL], -clear"},
    {"return", run_return, "the return job now: delay warnings, returns: [--dry-run] [--at TIME]"},
    {"purge", run_purge, "remove old versions of per-program log files: [-num=N|-day=N|-hour=N]"},
};

void usage(std::ostream& out) {
  out << "usage: imta [--root DIR] COMMAND [ARGS...]\n\ncommands:\n";
  for (const auto& c : subcommands) out << "  " << c.name << std::string(10 - c.name.size(), ' ') << c.summary << "\n";
  out << "\nThe instance is DIR from --root, else $IMTA_ROOT, else "
      << imta::core::default_instance_root << ". See imta(8).\n";
}

}  // namespace

int main(int argc, char** argv) {
  CommandContext context;
  std::vector<std::string> words;
  // --root may stand anywhere, so `imta cnbuild --root X` works like `imta --root X cnbuild`.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--root" || arg == "-root") {
      if (i + 1 >= argc) {
        std::cerr << "imta: --root needs a directory\n";
        return exit_usage;
      }
      context.root = argv[++i];
    } else if (arg.starts_with("--root=") || arg.starts_with("-root=")) {
      context.root = std::string(arg.substr(arg.find('=') + 1));
    } else {
      words.emplace_back(arg);
    }
  }
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    usage(words.empty() ? std::cerr : std::cout);
    return words.empty() ? exit_usage : exit_ok;
  }
  if (words[0] == "--version") {
    std::cout << "imta " << IMTA_VERSION << "\n";
    return exit_ok;
  }
  for (const auto& c : subcommands) {
    if (words[0] != c.name) continue;
    std::vector<std::string> args(words.begin() + 1, words.end());
    try {
      return c.run(context, args);
    } catch (const UsageError& e) {
      std::cerr << "imta " << c.name << ": " << e.what() << "\n(see imta(8) or imta --help)\n";
      return exit_usage;
    } catch (const std::exception& e) {
      std::cerr << "imta " << c.name << ": " << e.what() << "\n";
      return exit_failure;
    }
  }
  std::cerr << "imta: unknown command \"" << words[0] << "\"\n";
  usage(std::cerr);
  return exit_usage;
}
