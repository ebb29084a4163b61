#include "core/log/mail_log_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "core/log/log_databases.hpp"
#include "core/log/roll_lock.hpp"

namespace imta::core::log {
namespace {

// Whole lines are gathered up to about this much before a write(2): large
// enough that `imta qm delete -all` is a few calls, small enough to bound memory.
constexpr std::size_t kChunk = 64 * 1024;

std::error_code last_error() { return {errno, std::generic_category()}; }

// Owns one descriptor; the only place this file closes one.
class Descriptor {
public:
    Descriptor() = default;
    explicit Descriptor(int fd) : fd_(fd) {}
    Descriptor(Descriptor&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Descriptor& operator=(Descriptor&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = o.fd_;
            o.fd_ = -1;
        }
        return *this;
    }
    ~Descriptor() { reset(); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

// One log file: its path and, once opened, its descriptor and identity.
class LogTarget {
public:
    explicit LogTarget(std::filesystem::path path) : path_(std::move(path)) {}
    const std::filesystem::path& path() const { return path_; }

    // Appends `bytes` (whole lines). Reopens first if the file was renamed away.
    std::error_code append(std::string_view bytes) {
        if (bytes.empty()) return {};
        if (auto ec = ensure_open()) return ec;
        while (!bytes.empty()) {
            const ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                return last_error();
            }
            // A short write happens only when the disk is full or a signal came;
            // finishing the line beats leaving half of it.
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return {};
    }

private:
    std::error_code ensure_open() {
        struct stat at_path {};
        if (fd_ && ::stat(path_.c_str(), &at_path) == 0 && at_path.st_ino == ino_ &&
            at_path.st_dev == dev_)
            return {};
        // Not open yet, or the path is gone or now names another file (the roll).
        Descriptor fd(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
        if (!fd && errno == ENOENT) {
            std::error_code ignored;
            std::filesystem::create_directories(path_.parent_path(), ignored);
            fd = Descriptor(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
        }
        if (!fd) return last_error();
        struct stat opened {};
        if (::fstat(fd.get(), &opened) != 0) return last_error();
        fd_ = std::move(fd);
        ino_ = opened.st_ino;
        dev_ = opened.st_dev;
        return {};
    }

    std::filesystem::path path_;
    Descriptor fd_;
    ino_t ino_ = 0;
    dev_t dev_ = 0;
};

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return {};
    return buf;
}

void default_syslog(std::string_view entry) {
    ::syslog(LOG_MAIL | LOG_INFO, "%.*s", static_cast<int>(entry.size()), entry.data());
}

void default_diagnostic(const std::string& line) { std::cerr << "mail.log: " << line << std::endl; }

}  // namespace

struct MailLogFile::Impl {
    MailLogFileOptions options;
    LogTarget mail;
    LogTarget connection;
    RollLock roll_lock;
    std::string node = host_name();
    std::uint32_t pid = static_cast<std::uint32_t>(::getpid());
    std::mutex mutex;  // one writer may be shared by threads
    int batches = 0;   // open Batch objects
    // LOG_TRACKING / LOG_COUNTERS: the databases' thread, and what goes to it
    // when the last Batch ends (or the write() call, without one).
    std::unique_ptr<LogDatabases> databases;
    std::vector<WrittenRecord> to_databases;

    explicit Impl(MailLogFileOptions o)
        : options(std::move(o)),
          mail(options.log_dir / kMailLogCurrent),
          connection(options.log_dir / kConnectionLogCurrent),
          roll_lock(options.log_dir) {
        if (!options.syslog) options.syslog = default_syslog;
        if (!options.diagnostic) options.diagnostic = default_diagnostic;
        if (options.format.tracking || options.format.counters) {
            LogDatabases::Options d;
            d.db_dir = options.db_dir.empty() ? options.log_dir.parent_path() / "db" : options.db_dir;
            d.tracking = options.format.tracking;
            d.counters = options.format.counters;
            d.block_size = options.format.block_size;
            d.diagnostic = options.diagnostic;
            databases = std::make_unique<LogDatabases>(std::move(d));
        }
    }

    bool to_connection_log(RecordCode code) const {
        return options.separate_connection_log && is_connection_record(code);
    }

    // LOG_MESSAGES_SYSLOG / LOG_CONNECTIONS_SYSLOG for this kind of entry.
    int syslog_mode(RecordCode code) const {
        return is_connection_record(code) ? options.format.connections_syslog : options.format.messages_syslog;
    }

    void hand_to_databases() {
        if (databases) databases->add(to_databases);
    }
};

MailLogFile::MailLogFile(MailLogFileOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
MailLogFile::~MailLogFile() = default;

std::filesystem::path MailLogFile::path_for(RecordCode code) const {
    return impl_->to_connection_log(code) ? impl_->connection.path() : impl_->mail.path();
}

std::error_code MailLogFile::write(LogRecord record) { return write_owned(std::span<LogRecord>(&record, 1)); }

std::error_code MailLogFile::write(std::span<const LogRecord> records) {
    std::vector<LogRecord> copies(records.begin(), records.end());
    return write_owned(copies);
}

std::error_code MailLogFile::write_owned(std::span<LogRecord> records) {
    auto& d = *impl_;
    const auto now = d.options.clock ? d.options.clock() : std::chrono::system_clock::now();
    const LogTime when = local_log_time(now);

    std::lock_guard lock(d.mutex);
    std::string mail_buf, connection_buf;
    std::error_code first_error;
    // The roll waits while a batch is written, and a batch never lands in a
    // file the roll is copying (roll_lock.hpp).
    std::optional<RollLock::Guard> rolling;
    auto flush = [&](LogTarget& target, std::string& buf) {
        if (buf.empty()) return;
        if (!rolling) rolling.emplace(d.roll_lock, false);
        if (auto ec = target.append(buf); ec && !first_error) first_error = ec;
        buf.clear();
    };
    if (d.databases) d.to_databases.reserve(d.to_databases.size() + records.size());
    for (auto& r : records) {
        // A record the databases get moves to their hand-over first, and is
        // stamped and formatted there.
        const bool to_databases = d.databases && feeds_log_databases(r.code);
        LogRecord& stamped = to_databases ? d.to_databases.emplace_back(WrittenRecord{std::move(r), now}).record : r;
        stamped.when = when;
        if (stamped.node.empty()) stamped.node = d.node;
        if (stamped.pid == 0) stamped.pid = d.pid;
        auto line = format_record(stamped, d.options.format);
        if (!line) continue;
        const int to_syslog = d.syslog_mode(stamped.code);
        if (to_syslog != 0) d.options.syslog(*line);
        if (to_syslog < 0) continue;
        const bool conn = d.to_connection_log(stamped.code);
        std::string& buf = conn ? connection_buf : mail_buf;
        if (!buf.empty() && buf.size() + line->size() + 1 > kChunk)
            flush(conn ? d.connection : d.mail, buf);
        buf += *line;
        buf += '\n';
    }
    flush(d.mail, mail_buf);
    flush(d.connection, connection_buf);
    rolling.reset();
    if (d.batches == 0) d.hand_to_databases();
    return first_error;
}

void MailLogFile::flush_databases() {
    auto& d = *impl_;
    {
        std::lock_guard lock(d.mutex);
        d.hand_to_databases();
    }
    if (d.databases) d.databases->flush();
}

MailLogFile::Batch::Batch(MailLogFile& file) : file_(file) {
    std::lock_guard lock(file_.impl_->mutex);
    ++file_.impl_->batches;
}

MailLogFile::Batch::~Batch() {
    auto& d = *file_.impl_;
    std::lock_guard lock(d.mutex);
    if (--d.batches == 0) d.hand_to_databases();
}

}  // namespace imta::core::log
