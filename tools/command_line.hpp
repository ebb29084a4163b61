// What every `imta` subcommand shares: the instance it works on and the
// option syntax. Options are accepted in Sun's form (-table=NAME, -debug) and
// in GNU form (--table=NAME, --table NAME, --debug), parsed by
// Boost.Program_options.
#pragma once

#include <boost/program_options.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/instance.hpp"

namespace imta::tools {

namespace po = boost::program_options;

/// Exit codes of every imta command.
enum Exit : int { exit_ok = 0, exit_failure = 1, exit_usage = 2 };

/// A mistake in how the command was called; main prints it with a usage hint
/// and exits with exit_usage.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct CommandContext {
  std::optional<std::string> root;  ///< --root DIR, if given
  /// The instance named by --root / IMTA_ROOT / the default.
  core::Instance instance() const { return core::Instance::locate(root); }
};

/// Parses `args` (the words after the subcommand name) against `options`,
/// with `positional` collecting the remaining words. Throws UsageError.
po::variables_map parse_options(const std::vector<std::string>& args,
                                const po::options_description& options,
                                const po::positional_options_description& positional);

/// Returns the instance if it is usable; otherwise prints its problem to
/// stderr and returns nullopt (the caller exits with exit_failure).
std::optional<core::Instance> usable_instance(const CommandContext& context);

int run_init(const CommandContext& context, const std::vector<std::string>& args);
int run_cnbuild(const CommandContext& context, const std::vector<std::string>& args);
int run_test(const CommandContext& context, const std::vector<std::string>& args);
int run_qm(const CommandContext& context, const std::vector<std::string>& args);
int run_user(const CommandContext& context, const std::vector<std::string>& args);
int run_program(const CommandContext& context, const std::vector<std::string>& args);
int run_start(const CommandContext& context, const std::vector<std::string>& args);
int run_stop(const CommandContext& context, const std::vector<std::string>& args);
int run_restart(const CommandContext& context, const std::vector<std::string>& args);
int run_reload(const CommandContext& context, const std::vector<std::string>& args);
int run_process(const CommandContext& context, const std::vector<std::string>& args);
int run_submit(const CommandContext& context, const std::vector<std::string>& args);
int run_run(const CommandContext& context, const std::vector<std::string>& args);
int run_cache(const CommandContext& context, const std::vector<std::string>& args);
int run_track(const CommandContext& context, const std::vector<std::string>& args);
int run_counters(const CommandContext& context, const std::vector<std::string>& args);
int run_purge(const CommandContext& context, const std::vector<std::string>& args);
int run_return(const CommandContext& context, const std::vector<std::string>& args);

}  // namespace imta::tools
