// Writing the databases kept from mail.log records; see derived_db.hpp.
#include "core/log/derived_db.hpp"

#include <stdexcept>

namespace imta::core::log {

DerivedDbBase::DerivedDbBase(std::filesystem::path path, const char* schema, int version,
                             std::function<void(const std::string&)> diagnostic, std::vector<const char*> upgrades)
    : path_(std::move(path)),
      schema_(schema),
      version_(version),
      upgrades_(std::move(upgrades)),
      diagnostic_(std::move(diagnostic)) {}

bool DerivedDbBase::ready(std::chrono::steady_clock::time_point now) {
    if (connection_) return true;
    if (now < retry_after_) return false;
    sqlite::Connection::Options o;
    o.create = true;
    o.create_mode = 0640;
    // Waiting costs only the batch's memory (the thread is off every mail
    // path, and its queue is bounded); giving up loses the batch. Another
    // process holds the write lock for seconds when it upgrades a large
    // file (8 s for 3,000,000 tracking rows) or prunes a day of rows.
    o.busy_timeout_ms = kBusyTimeoutMs;
    auto db = sqlite::Connection::open(path_, o);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = NORMAL");  // see the header
    // Lookups land on random pages of the key indexes once the file is
    // large; a few MB of cache keeps most of them out of the page cache calls.
    db.exec("PRAGMA cache_size = -8192");
    // Checkpoint (copy the WAL into the database) every ~40 MB of WAL rather
    // than SQLite's 4 MB: a page changed by many commits is copied once.
    db.exec("PRAGMA wal_autocheckpoint = 10000");
    {
        // Read under the write lock: two processes opening an old file at
        // once upgrade it once.
        sqlite::Transaction t(db);
        const std::int64_t found = sqlite::user_version(db);
        if (found > version_)
            throw std::runtime_error(path_.string() + " has schema version " + std::to_string(found) +
                                     ", newer than this imta's " + std::to_string(version_) + "; not written");
        for (auto v = found; v > 0 && v < version_; ++v) {
            if (static_cast<std::size_t>(v) > upgrades_.size())
                throw std::runtime_error(path_.string() + ": no upgrade from schema version " + std::to_string(v));
            db.exec(upgrades_[static_cast<std::size_t>(v - 1)]);
        }
        db.exec(schema_);
        if (version_ > 0) db.exec("PRAGMA user_version = " + std::to_string(version_));
        t.commit();
    }
    connection_.emplace(std::move(db));
    return true;
}

void DerivedDbBase::failed(std::chrono::steady_clock::time_point now, const std::string& lost, const std::exception& e) {
    connection_.reset();
    retry_after_ = now + std::chrono::seconds(10);
    if (diagnostic_ && now >= next_diagnostic_) {
        diagnostic_(lost + ": " + e.what());
        next_diagnostic_ = now + std::chrono::minutes(1);
    }
}

}  // namespace imta::core::log
