// The site's nightly hook: `bin/daily_cleanup` under the instance root, run by
// the return job after the log roll (e.g. to archive or compress mail.log).
//
// The contract (documented in mail.log(5)):
//   - run only when the file exists, is a regular file and is executable;
//   - no arguments; working directory the instance root; IMTA_ROOT set to it;
//     the rest of the environment inherited; standard input /dev/null;
//   - standard output and standard error appended to log/return.log, between
//     a line saying when it started and one saying how it ended;
//   - a time limit (DAILY_CLEANUP_TIMEOUT, default one hour): then its whole
//     process group gets SIGTERM, and SIGKILL a few seconds later;
//   - its exit status is logged; a failure, a signal or the timeout is never
//     fatal to the return job.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace imta::core::log {

struct DailyCleanupOptions {
    std::filesystem::path root = {};                 ///< the instance root
    std::chrono::seconds timeout{3600};           ///< DAILY_CLEANUP_TIMEOUT
    std::chrono::seconds grace{5};                ///< from SIGTERM to SIGKILL
    std::filesystem::path program = {};              ///< empty = <root>/bin/daily_cleanup
    std::filesystem::path output = {};               ///< empty = <root>/log/return.log
};

struct DailyCleanupResult {
    enum class Status {
        absent,          ///< no hook (or not executable): nothing run
        exited,          ///< ran to the end; `exit_code` says how
        signalled,       ///< killed by a signal it did not get from us
        timed_out,       ///< killed after the time limit
        failed,          ///< could not be started
    };
    Status status = Status::absent;
    int exit_code = 0;   ///< exited: its status; signalled: the signal
    std::string summary; ///< one line, as written to return.log
    bool ok() const { return status == Status::absent || (status == Status::exited && exit_code == 0); }
};

/// Runs the hook as described above and waits for it (at most the timeout
/// plus the grace period). Never throws.
DailyCleanupResult run_daily_cleanup(const DailyCleanupOptions& options);

}  // namespace imta::core::log
