// The pipe channel's master (see queue/master.hpp): delivers each recipient
// by running a program registered with `imta program` (program_registry.hpp).
//
// Addressing: a recipient of the pipe channel is `NAME+ARG@pipe-daemon` or
// `NAME@pipe-daemon`. NAME is the registered program; %s in its argument
// template becomes ARG, or, without `+ARG`, the recipient's original
// address (the address the mail was sent to, before aliases). An alias is
// the usual way in:   bugs: bugtracker+bugs@pipe-daemon
//
// The program runs once per recipient, with the message on standard input
// (an unlinked temporary file, LF line ends), environment IMTA_SENDER,
// IMTA_RECIPIENT, IMTA_ORIGINAL_RECIPIENT, IMTA_ARGUMENT, IMTA_PROGRAM,
// IMTA_QUEUE_ID, IMTA_MESSAGE_ID, IMTA_SOURCE_CHANNEL, PATH, HOME, USER,
// LOGNAME. Exit 0 = delivered; 71, 74, 75, 79 = temporary failure (retried);
// any other status = permanent failure (bounced with the first line of its
// standard error). Killed by a signal, timed out (its process group is
// killed), or impossible to start = temporary. When imta runs as root the
// program runs as its registered user, or nobody.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "queue/master.hpp"

namespace imta::channels::pipe {

/// How a pipe address names its program: NAME and ARG of `NAME+ARG@host`
/// (has_argument false when there is no `+`). Pure; exposed for tests.
struct PipeAddress {
  std::string program;
  std::string argument;
  bool has_argument = false;
};
PipeAddress parse_pipe_address(std::string_view active);

/// Whether an exit status of a program means a temporary failure.
bool temporary_exit_status(int status);

std::unique_ptr<queue::Master> make_master(std::string_view channel, const queue::MasterServices& services);

}  // namespace imta::channels::pipe
