// Running an external program for a channel (pipe: the registered programs;
// conversion: the filters of config/conversions): fork/exec without a shell,
// the message on standard input, standard output and error captured, a
// deadline after which the whole process group is killed, and, when imta
// runs as root, the program run as an unprivileged user.
//
// Standard input is an unlinked temporary file holding the input (Sun's
// "the program gets a temp file"): a program may read it in any order, seek
// or stop early, and no writer can block on a program that does not read.
//
// Safe in a multi-threaded process: everything the child needs is prepared
// before fork(), and the child calls only async-signal-safe functions
// before execve(). Every descriptor made here is close-on-exec, and the
// child closes every descriptor above 2, so programs inherit nothing else.
// The child is reaped with waitpid(pid): nothing else in the process may
// reap children it did not start, nor set SIGCHLD to SIG_IGN.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imta::channels {

/// The identity a program runs under.
struct RunAs {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  ///< supplementary groups
  std::string home;
};

/// The user `name` from the password database (with its groups); nullopt,
/// and `error` says why, when there is no such user.
std::optional<RunAs> resolve_user(const std::string& name, std::string* error);

/// Who a program of imta should run as: nullopt when imta is not root (it
/// runs as imta's own user, which cannot switch), else `name`, or `nobody`
/// when `name` is empty. Sets `error` and returns nullopt when that user
/// does not exist (check `error` to tell the two apart).
std::optional<RunAs> choose_run_as(const std::string& name, std::string* error);

struct ChildSpec {
  std::vector<std::string> argv;  ///< argv[0] is the absolute path of the program
  std::vector<std::string> env;   ///< the whole environment, "NAME=value"
  std::string input;              ///< standard input
  std::chrono::milliseconds timeout{60000};
  std::optional<RunAs> run_as;  ///< switch to this user (needs root)
  /// More standard output than this kills the program (output_too_large).
  std::size_t max_output = std::size_t(1) << 30;
  /// Standard error beyond this is read and dropped.
  std::size_t max_errors = 4096;
  /// When set and it becomes true, the program is killed (stopped).
  const std::atomic<bool>* stopping = nullptr;
};

struct ChildResult {
  enum class End {
    exited,             ///< exit_code is valid
    signaled,           ///< killed by signal `signal` (not by us)
    timed_out,          ///< ran past the timeout: the process group was killed
    output_too_large,   ///< wrote more than max_output: killed
    stopped,            ///< the daemon stopped: killed
    start_failed,       ///< fork, exec or the user switch failed; `error` says why
  };
  End end = End::start_failed;
  int exit_code = -1;
  int signal = 0;
  std::string output;  ///< standard output
  std::string errors;  ///< standard error (at most max_errors bytes)
  std::string error;   ///< for start_failed: "execve /x/y: No such file or directory"
};

/// Runs the program to its end (or the deadline). Never throws for what the
/// program does; throws std::system_error only when no temporary file or
/// pipe can be made.
ChildResult run_child(const ChildSpec& spec);

/// What happened, for diagnostics: "exited with status 3",
/// "killed by signal 9", "timed out after 30 s", ...
std::string describe(const ChildResult& result, const ChildSpec& spec);

/// The first non-empty line of `text`, trimmed, at most `limit` characters
/// (control characters replaced by spaces): a program's stderr for a DSN.
std::string first_line(std::string_view text, std::size_t limit = 200);

}  // namespace imta::channels
