// The nightly log roll of the return job (Sun's behaviour, reference §8):
//
//   mail.log_yesterday is appended to mail.log (which is never trimmed: the
//   site archives it, e.g. from bin/daily_cleanup), then mail.log_current is
//   renamed to mail.log_yesterday and an empty mail.log_current is started.
//   The same for connection.log_yesterday / connection.log_current /
//   connection.log.
//
// Writers keep writing while it runs (see roll_lock.hpp): every record ends up
// exactly once in mail.log, mail.log_yesterday or mail.log_current.
//
// Crash safety: before appending, the roll writes `.<base>.roll` holding the
// size mail.log had and the identity of the mail.log_yesterday being appended.
// A roll that finds that note finishes or undoes the interrupted one (mail.log
// is cut back to the noted size if the rename had not happened yet), so an
// interrupted roll never duplicates or loses what mail.log_yesterday held.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace imta::core::log {

struct RollReport {
    /// One line per file acted on, e.g. "appended mail.log_yesterday (1234
    /// bytes) to mail.log", for log/return.log.
    std::vector<std::string> done;
    /// What went wrong; the roll goes on with the other log where it can.
    std::vector<std::string> errors;
    bool ok() const { return errors.empty(); }
};

/// Rolls mail.log_* and connection.log_* in `log_dir`. Never throws.
/// Do not call it while holding a MailLogFile write or waiting for an
/// AsyncMailLog::flush() in the same thread: writers wait for the roll.
RollReport roll_logs(const std::filesystem::path& log_dir);

/// One base name only ("mail.log" or "connection.log"); for tests.
RollReport roll_log(const std::filesystem::path& log_dir, const std::string& base);

}  // namespace imta::core::log
