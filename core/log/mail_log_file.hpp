// The mail.log writer: appends formatted entries to <log_dir>/mail.log_current
// (connection entries to connection.log_current when SEPARATE_CONNECTION_LOG=1).
//
// Many processes write the same file at once (SMTP servers, channel masters,
// `imta qm`), so each batch goes out in write(2) calls on an O_APPEND
// descriptor that carry whole lines only: the kernel appends each call as one
// piece, so lines from different writers never interleave within a line.
//
// The nightly roll (log_roll.hpp) renames mail.log_current away. Every batch
// is written holding the roll lock shared (roll_lock.hpp), and before writing
// the writer compares the path's inode with that of its open descriptor (one
// stat(2)) and reopens, creating a new mail.log_current, when they differ or
// the path is gone. So a batch lands whole either in the file the roll renames
// away or in the new one, never lost, torn or written twice.
//
// Besides the files, each batch goes where option.dat says: syslog
// (LOG_MESSAGES_SYSLOG, LOG_CONNECTIONS_SYSLOG: >0 also, <0 only syslog,
// facility mail, priority info, the entry as it would be in the file), the
// tracking database (LOG_TRACKING, tracking.hpp) and the channel counters
// (LOG_COUNTERS, counters.hpp), both in <db_dir>: the records of a write()
// call, or of everything written while a Batch lives, are handed in one go
// to the databases' own thread (log_databases.hpp), which commits them a
// little later; the destructor waits for that.
//
// Each entry is stamped when written: the time from the writer's clock (the
// local time zone, as administrators read mail.log), the host name when the
// record has none (LOG_NODE), and this process's id when the record has none
// (LOG_PROCESS).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "core/log/mail_log.hpp"

namespace imta::core::log {

inline constexpr std::string_view kMailLogCurrent = "mail.log_current";
inline constexpr std::string_view kConnectionLogCurrent = "connection.log_current";

struct MailLogFileOptions {
    std::filesystem::path log_dir;  ///< the instance's log/ directory
    LogOptions format;              ///< option.dat LOG_* and BLOCK_SIZE
    bool separate_connection_log = false;  ///< SEPARATE_CONNECTION_LOG
    /// The clock entries are stamped with; empty = std::chrono::system_clock::now.
    std::function<std::chrono::system_clock::time_point()> clock;
    /// Where tracking.sqlite and counters.sqlite live (format.tracking,
    /// format.counters); empty = the instance's db/, beside log_dir.
    std::filesystem::path db_dir;
    /// Where syslog entries go; empty = syslog(3) with LOG_MAIL | LOG_INFO.
    std::function<void(std::string_view entry)> syslog;
    /// Problems with the databases (rate-limited); empty = standard error.
    std::function<void(const std::string&)> diagnostic;
};

class MailLogFile {
public:
    explicit MailLogFile(MailLogFileOptions options);
    ~MailLogFile();
    MailLogFile(const MailLogFile&) = delete;
    MailLogFile& operator=(const MailLogFile&) = delete;

    /// Stamps, formats and appends one entry. An entry the options do not log
    /// (connection records without LOG_CONNECTION bit 2) is skipped.
    std::error_code write(LogRecord record);
    /// The same for several entries, written together (fewer system calls).
    std::error_code write(std::span<const LogRecord> records);
    /// The same for records the caller no longer needs: they are moved from
    /// (the databases' hand-over takes them without a copy).
    std::error_code write_owned(std::span<LogRecord> records);

    /// The file an entry of `code` goes to.
    std::filesystem::path path_for(RecordCode code) const;

    /// Blocks until the databases have committed what was written so far
    /// (tests, tools; the destructor does it too).
    void flush_databases();

    /// While one lives, the records of every write() are gathered for the
    /// databases and handed over when it ends (AsyncMailLog: one per batch).
    class Batch {
    public:
        explicit Batch(MailLogFile& file);
        ~Batch();
        Batch(const Batch&) = delete;
        Batch& operator=(const Batch&) = delete;

    private:
        MailLogFile& file_;
    };

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace imta::core::log
