// The log roll; see log_roll.hpp.
#include "core/log/log_roll.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "core/fd.hpp"
#include "core/log/roll_lock.hpp"

namespace imta::core::log {
namespace {

namespace fs = std::filesystem;

std::string errno_text(const std::string& what, const fs::path& path) {
    return what + " " + path.string() + ": " + std::strerror(errno);
}

void sync_directory(const fs::path& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd) ::fsync(fd.get());
}

// The note an interrupted roll leaves: mail.log's size before the append and
// the identity of the mail.log_yesterday being appended.
struct RollNote {
    off_t offset = 0;
    dev_t dev = 0;
    ino_t ino = 0;
};

bool read_note(const fs::path& path, RollNote& note) {
    std::ifstream in(path);
    unsigned long long offset = 0, dev = 0, ino = 0;
    if (!(in >> offset >> dev >> ino)) return false;
    note = {static_cast<off_t>(offset), static_cast<dev_t>(dev), static_cast<ino_t>(ino)};
    return true;
}

// Written to a temporary name, synced and renamed, so a crash leaves either
// no note or a whole one.
bool write_note(const fs::path& path, const RollNote& note, std::string& error) {
    const fs::path tmp = path.string() + ".tmp";
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!fd) return error = errno_text("cannot create", tmp), false;
    std::ostringstream text;
    text << static_cast<unsigned long long>(note.offset) << ' ' << static_cast<unsigned long long>(note.dev) << ' '
         << static_cast<unsigned long long>(note.ino) << '\n';
    const std::string s = text.str();
    if (::write(fd.get(), s.data(), s.size()) != static_cast<ssize_t>(s.size()) || ::fsync(fd.get()) != 0)
        return error = errno_text("cannot write", tmp), false;
    if (::rename(tmp.c_str(), path.c_str()) != 0) return error = errno_text("cannot rename", tmp), false;
    sync_directory(path.parent_path());
    return true;
}

// Copies all of `from` to `to` at `offset` (the kernel copies when it can).
bool append_file(int from, int to, off_t offset, std::string& error) {
    off_t in_offset = 0;
    for (;;) {
        ssize_t n = ::copy_file_range(from, &in_offset, to, &offset, 1 << 20, 0);
        if (n == 0) return true;
        if (n > 0) continue;
        if (errno == EINTR) continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) break;
        // Not supported here: copy through a buffer.
        std::vector<char> buf(1 << 20);
        for (;;) {
            ssize_t r = ::pread(from, buf.data(), buf.size(), in_offset);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) break;
            if (r == 0) return true;
            for (ssize_t done = 0; done < r;) {
                ssize_t w = ::pwrite(to, buf.data() + done, static_cast<std::size_t>(r - done), offset);
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) return error = std::string("write: ") + std::strerror(errno), false;
                done += w;
                offset += w;
            }
            in_offset += r;
        }
        break;
    }
    error = std::string("copy: ") + std::strerror(errno);
    return false;
}

// Rolls one log; the caller holds the roll lock exclusively.
void roll_one(const fs::path& dir, const std::string& base, RollReport& report) {
    const fs::path whole = dir / base;
    const fs::path yesterday = dir / (base + "_yesterday");
    const fs::path current = dir / (base + "_current");
    const fs::path note_path = dir / ("." + base + ".roll");
    std::string error;

    // 1. Finish or undo an interrupted roll.
    struct stat ys {};
    const bool have_yesterday = ::stat(yesterday.c_str(), &ys) == 0;
    if (RollNote note; fs::exists(note_path) && read_note(note_path, note)) {
        if (have_yesterday && ys.st_dev == note.dev && ys.st_ino == note.ino) {
            // Not renamed yet: what was appended (maybe half) goes, and is appended again below.
            if (::truncate(whole.c_str(), note.offset) != 0 && errno != ENOENT) {
                report.errors.push_back(errno_text("cannot cut back", whole));
                return;
            }
            report.done.push_back("undid the interrupted append of " + yesterday.filename().string() + " to " +
                                  base);
        }
        std::error_code ignored;
        fs::remove(note_path, ignored);
    }

    // 2. mail.log_yesterday onto the end of mail.log.
    if (have_yesterday && ys.st_size > 0) {
        Fd to(::open(whole.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640));
        if (!to) return report.errors.push_back(errno_text("cannot open", whole));
        struct stat ws {};
        if (::fstat(to.get(), &ws) != 0) return report.errors.push_back(errno_text("cannot stat", whole));
        if (!write_note(note_path, {ws.st_size, ys.st_dev, ys.st_ino}, error))
            return report.errors.push_back(error);
        Fd from(::open(yesterday.c_str(), O_RDONLY | O_CLOEXEC));
        if (!from) return report.errors.push_back(errno_text("cannot open", yesterday));
        if (!append_file(from.get(), to.get(), ws.st_size, error))
            return report.errors.push_back("cannot append " + yesterday.string() + " to " + whole.string() + ": " +
                                           error);
        if (::fdatasync(to.get()) != 0) return report.errors.push_back(errno_text("cannot sync", whole));
        report.done.push_back("appended " + yesterday.filename().string() + " (" + std::to_string(ys.st_size) +
                              " bytes) to " + base);
    }

    // 3. mail.log_current becomes mail.log_yesterday (replacing the one just
    //    appended); without a current log there is no yesterday either.
    const bool have_current = fs::exists(current);
    if (have_current) {
        if (::rename(current.c_str(), yesterday.c_str()) != 0)
            return report.errors.push_back(errno_text("cannot rename", current));
        report.done.push_back("renamed " + current.filename().string() + " to " + yesterday.filename().string());
        // The new day's file, so that `tail -F` follows at once; a writer
        // that got there first already made it.
        Fd fresh(::open(current.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640));
    } else if (have_yesterday) {
        if (::unlink(yesterday.c_str()) != 0 && errno != ENOENT)
            return report.errors.push_back(errno_text("cannot remove", yesterday));
    }
    sync_directory(dir);

    // 4. Done: the note has served.
    std::error_code ignored;
    fs::remove(note_path, ignored);
}

}  // namespace

RollReport roll_log(const fs::path& log_dir, const std::string& base) {
    RollReport report;
    RollLock lock(log_dir);
    RollLock::Guard guard(lock, true);
    if (!guard.held()) {
        report.errors.push_back("cannot lock " + lock.path().string() + ": " + std::strerror(errno));
        return report;
    }
    roll_one(log_dir, base, report);
    return report;
}

RollReport roll_logs(const fs::path& log_dir) {
    RollReport report;
    RollLock lock(log_dir);
    RollLock::Guard guard(lock, true);
    if (!guard.held()) {
        report.errors.push_back("cannot lock " + lock.path().string() + ": " + std::strerror(errno));
        return report;
    }
    for (const char* base : {"mail.log", "connection.log"}) roll_one(log_dir, base, report);
    return report;
}

}  // namespace imta::core::log
