// The way both databases kept from mail.log records (tracking.hpp,
// counters.hpp) are written, in one place: opened on first use (created
// 0640, WAL, the schema), prepared statements made once per connection and
// reused, each batch in one transaction. A file of an older schema version
// is brought up to date on opening, in the same transaction as the schema
// (`upgrades`); one of a newer version is left alone (a failure, below), so
// an older imta never writes a database a newer one has changed. When
// anything fails (the file cannot be opened, another process holds the
// write lock for over a minute, the disk is full, a newer version), the
// batch is dropped, the connection closed and nothing is tried for the next
// 10 seconds (batches meanwhile are dropped too); a diagnostic says so, at
// most once a minute. These databases are derived
// data: losing a batch loses tracking or counting, never a log line or mail.
//
// Durability: WAL with synchronous=NORMAL. A commit is never synced (only a
// checkpoint syncs, about every 4 MB of changes), so a commit costs no
// fsync; a crash of the process loses nothing committed, a power cut may
// lose the last commits but leaves the file consistent. synchronous=OFF
// would save only the checkpoints' fsync, which happen off the mail.log path
// (log_databases.hpp), at the price of a file that a power cut may corrupt.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/sqlite.hpp"

namespace imta::core::log {

/// The part that does not depend on the statements: opening, failure
/// bookkeeping, diagnostics. Use DerivedDb.
class DerivedDbBase {
public:
    /// How long a batch waits for another process's write lock.
    static constexpr int kBusyTimeoutMs = 60'000;

    /// `upgrades[i]` is the SQL that takes a file of schema version i + 1
    /// to version i + 2, run before `schema`; version 0 is a new file.
    DerivedDbBase(std::filesystem::path path, const char* schema, int version,
                  std::function<void(const std::string&)> diagnostic, std::vector<const char*> upgrades = {});

protected:
    /// Opens the connection unless it is open; false while a failure's pause lasts.
    bool ready(std::chrono::steady_clock::time_point now);
    /// After a failure: closes (`close` first drops the statements), pauses,
    /// tells the diagnostic `lost: <what SQLite said>`.
    void failed(std::chrono::steady_clock::time_point now, const std::string& lost, const std::exception& e);

    std::filesystem::path path_;
    const char* schema_;
    int version_;
    std::vector<const char*> upgrades_;
    std::function<void(const std::string&)> diagnostic_;
    std::optional<sqlite::Connection> connection_;
    std::chrono::steady_clock::time_point retry_after_{};
    std::chrono::steady_clock::time_point next_diagnostic_{};
};

/// One database and its prepared `Statements` (constructed from a
/// sqlite::Connection&, which outlives them). One thread at a time.
template <class Statements>
class DerivedDb : private DerivedDbBase {
public:
    using DerivedDbBase::DerivedDbBase;
    ~DerivedDb() { statements_.reset(); }

    /// Runs `apply(Statements&)` in one transaction. On failure the batch is
    /// dropped as described above; `lost` (called only then) says what was
    /// lost, e.g. "tracking: 12 updates lost". Returns false when dropped.
    template <class Apply, class Lost>
    bool write(Apply&& apply, Lost&& lost) {
        const auto now = std::chrono::steady_clock::now();
        try {
            if (!statements_) {
                if (!ready(now)) return false;
                statements_ = std::make_unique<Statements>(*connection_);
            }
            sqlite::Transaction t(*connection_);
            apply(*statements_);
            t.commit();
            return true;
        } catch (const std::exception& e) {
            statements_.reset();  // before the connection they were prepared on
            failed(now, lost(), e);
            return false;
        }
    }

private:
    std::unique_ptr<Statements> statements_;
};

}  // namespace imta::core::log
