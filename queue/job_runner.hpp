// One step of a delivery job, the same in the job controller and in
// `imta run`: claim a queue file (another program delivering it = busy,
// skip), hand it to the channel's master, act on its report
// (queue/outcome.hpp), and say what happened in one line per recipient.
#pragma once

#include <string>

#include "queue/master.hpp"
#include "queue/outcome.hpp"
#include "queue/store.hpp"

namespace imta::queue {

struct FileAttempt {
  enum class Result {
    finished,    ///< nothing left of the file (delivered, bounced, removed)
    deferred,    ///< recipients wait for a retry: `entry` is the file's new name
    held,        ///< renamed .HELD
    busy,        ///< another program holds the file's lock
    gone,        ///< the file is not there any more (delivered or renamed by someone else)
    unreadable,  ///< incomplete or corrupt (the store's scan with cleanup deals with it)
    failed,      ///< a queue operation failed; the file stays as it was
  };
  Result result = Result::failed;
  QueueEntry entry;       ///< the file as it is after the attempt (deferred)
  OutcomeSummary summary;
  std::string error;      ///< unreadable / failed: why
};

std::string_view result_name(FileAttempt::Result r);

/// Claims `entry` and delivers it with `master`. An exception from the
/// master, or a report with too few outcomes, defers every recipient (or the
/// missing ones) with the reason as diagnostic. Lines go to services.trace.
FileAttempt attempt_file(Master& master, const MasterServices& services, const QueueEntry& entry);

}  // namespace imta::queue
