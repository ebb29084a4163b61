// The lock that keeps the log roll and the mail.log writers apart.
//
// Every process that appends to mail.log_current (or connection.log_current)
// holds this lock shared while it checks which file the name points to and
// appends one batch; the roll (log_roll.hpp) holds it exclusively while it
// appends mail.log_yesterday to mail.log and renames mail.log_current away.
// So a batch lands either wholly before the rename (in the file that becomes
// mail.log_yesterday) or wholly after it (in a new mail.log_current), and no
// writer is ever still appending to a mail.log_yesterday that the next roll is
// copying or replacing: without the lock a batch could be written to a file
// just unlinked (lost) or copied half (written twice).
//
// The lock is flock(2) on `<log_dir>/.roll.lock`, a file created on first use
// and never removed. flock belongs to the open file description, so two
// writers in one process (and the roll running in a process that also writes,
// the job controller) exclude each other correctly. SMTP sessions never wait
// for it: only the mail.log writer thread does, for as long as the roll takes.
#pragma once

#include <filesystem>
#include <string_view>

namespace imta::core::log {

inline constexpr std::string_view kRollLockName = ".roll.lock";

class RollLock {
public:
    explicit RollLock(std::filesystem::path log_dir);
    ~RollLock();
    RollLock(const RollLock&) = delete;
    RollLock& operator=(const RollLock&) = delete;

    /// Holds the lock (shared for writers, exclusive for the roll) while it lives.
    /// When the lock file cannot be opened (a log directory that is not
    /// writable), the guard holds nothing: writers then write unlocked, which
    /// is what they did before there was a roll; `held()` says which.
    class Guard {
    public:
        Guard(RollLock& lock, bool exclusive);
        ~Guard();
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;
        bool held() const { return fd_ >= 0; }

    private:
        int fd_ = -1;
    };

    const std::filesystem::path& path() const { return path_; }

private:
    int descriptor();  // opens the lock file on first use; -1 if it cannot

    std::filesystem::path path_;
    int fd_ = -1;
};

}  // namespace imta::core::log
