// sendmail(8)'s command line, as a pure function: the flags cron, PHP,
// mailers and scripts pass (see ecosystem.md §2.2 and sendmail(8)).
//
// Parsed the way sendmail's getopt does: flags may be clustered (`-ti`), a
// flag's argument may be attached (`-FCronDaemon`, `-oi`) or the next word
// (`-F CronDaemon`); `--` ends the flags; every other word is a recipient
// (an address, or a comma-separated list of them: split by the caller). Legacy and unknown flags
// are accepted and ignored with a note (Flags::notes), never an error:
// callers written for other MTAs must keep working. Errors are reserved for
// flags whose value we would otherwise misread (-N, -R, -B, -b).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/envelope.hpp"

namespace imta::tools::sendmail {

/// What the program is asked to do (-b…, -q, -I).
enum class Mode {
  deliver,       ///< -bm (the default): read a message, enqueue it
  smtp,          ///< -bs: an SMTP dialogue on standard input/output
  verify,        ///< -bv: say where each address would go
  print_queue,   ///< -bp: mailq
  init_aliases,  ///< -bi, -I: newaliases
  queue_run,     ///< -q[…]: ask the job controller for a queue run
  daemon,        ///< -bd, -bD: not ours (imtad); refused with a hint
};

/// -B: the body type the caller declares (recorded, never enforced).
enum class BodyType { unspecified, seven_bit, eight_bit_mime };

struct Flags {
  Mode mode = Mode::deliver;
  bool recipients_from_header = false;  ///< -t
  bool ignore_dots = false;             ///< -i, -oi: a lone "." does not end the message
  bool verbose = false;                 ///< -v
  std::optional<std::string> sender;    ///< -f / -r, as given ("" or "<>": the null sender)
  std::optional<std::string> full_name; ///< -F
  unsigned notify = 0;                  ///< -N, core::NotifyFlags
  core::Ret ret = core::Ret::unspecified;  ///< -R
  std::string envid;                    ///< -V
  BodyType body = BodyType::unspecified;  ///< -B
  std::string queue_argument;           ///< what followed -q ("" for a plain -q)
  std::vector<std::string> recipients;  ///< the other words, in order
  std::vector<std::string> notes;       ///< one line per ignored flag, for standard error
};

struct FlagsResult {
  std::optional<Flags> flags;
  std::string error;  ///< when flags is empty: what is wrong (exit 64)
};

/// Parses `args` (argv without the program name).
FlagsResult parse_flags(const std::vector<std::string>& args);

/// -N's value: "never", or a comma-separated list of success, failure and
/// delay (any case); nullopt when it is neither.
std::optional<unsigned> parse_notify(std::string_view value);

}  // namespace imta::tools::sendmail
