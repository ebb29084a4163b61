// What mailq(1) and newaliases(1) share on their command lines: --root DIR
// (or --root=DIR), -v/--verbose and -h/--help, an error naming the program
// for any other word it does not know, and the instance that --root (else
// $IMTA_ROOT, else the default) names. Each program passes the words of
// its own (mailq's --json, newaliases' --no-reload, and the sendmail flag
// that hands over to it) through a callback.
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/instance.hpp"

namespace imta::tools::sendmail {

struct FrontEndArgs {
  bool help = false;
  bool verbose = false;
  std::optional<std::string> root;
};

/// Parses `args`. `own(word)` is asked first and returns true when the word
/// is one of the program's own (and it took it). On an unknown word, says
/// "<program>: unknown option or argument" and the usage on standard error
/// and returns nullopt.
std::optional<FrontEndArgs> parse_front_end_args(std::string_view program, const std::vector<std::string>& args,
                                                 const std::function<bool(const std::string&)>& own,
                                                 void (*usage)(std::ostream&));

/// The instance named by `root` (see core::Instance::locate); nullopt after
/// saying "<program>: <problem>" on standard error when it is not usable
/// (the caller exits with EX_OSFILE).
std::optional<core::Instance> locate_front_end_instance(std::string_view program,
                                                        const std::optional<std::string>& root);

}  // namespace imta::tools::sendmail
