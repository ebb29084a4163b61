// The conversion channel's master (see queue/master.hpp). Copies reach this
// channel when the CONVERSIONS mapping says so (config/conversion_routing.hpp);
// here each copy passes through the external command that config/conversions
// names for its (source channel, destination channel) pair, then goes on to
// its real destination (E `conversion l`) and is dequeued here (D).
//
// Per file: the recipients are grouped by their destination channel (the
// rewrite rules applied again to each active address, from the original
// source channel). For each group the first matching conversions entry runs
// with the message on standard input (an unlinked temporary file, LF line
// ends) and the environment IMTA_SENDER, IMTA_RECIPIENTS (blank-separated),
// IMTA_IN_CHANNEL, IMTA_OUT_CHANNEL, IMTA_QUEUE_ID, IMTA_MESSAGE_ID, PATH,
// HOME, USER, LOGNAME. What its exit status means:
//
//   0   continue: standard output (LF or CRLF line ends) replaces the message
//   65  reject: the recipients are bounced (5.6.0, first line of stderr)
//   75  try again later (deferred)
//   98  discard: the recipients are removed without notice (K records)
//   99  hold: the whole file is held (.HELD) for the administrator
//   any other status, a signal, the timeout (the process group is killed),
//   no output with status 0, or a command that cannot be started: deferred.
//
// A group without a matching entry goes on unchanged. Every command runs
// before anything is enqueued, so a hold never leaves half of a file sent.
#pragma once

#include <memory>
#include <string_view>

#include "channels/pipe/child_process.hpp"
#include "queue/master.hpp"

namespace imta::channels::conversion {

enum class Verdict { proceed, reject, retry, discard, hold };

/// What a finished command asks for (see the table above). Pure.
Verdict verdict_of(const ChildResult& result);

std::unique_ptr<queue::Master> make_master(std::string_view channel, const queue::MasterServices& services);

}  // namespace imta::channels::conversion
