// Helpers shared by the tests of core/log's lifecycle, tracking and counters.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/log/mail_log.hpp"

namespace logtest {

namespace fs = std::filesystem;

// A fresh directory under the system's temporary folder, removed afterwards.
class TempDir {
public:
    TempDir() {
        std::string templ = (fs::temp_directory_path() / "imta-logs-XXXXXX").string();
        REQUIRE(::mkdtemp(templ.data()) != nullptr);
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

inline std::vector<std::string> lines_of(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

inline std::string contents(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

// 2026-11-21 10:31:05 UTC plus `seconds`.
inline std::chrono::system_clock::time_point utc(std::int64_t seconds = 0) {
    std::tm tm{};
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 10;
    tm.tm_mday = 21;
    tm.tm_hour = 10;
    tm.tm_min = 31;
    tm.tm_sec = 5;
    return std::chrono::system_clock::from_time_t(::timegm(&tm)) + std::chrono::seconds(seconds);
}

// When the messages of message_record() arrived (utc(), in ms): the
// envelope's received_ms, which every record of a message carries.
inline constexpr std::int64_t kArrivalMs = 1'795'257'065'000;

// A message record as the queue code writes it.
inline imta::core::log::LogRecord message_record(imta::core::log::RecordCode code, const std::string& source,
                                                 const std::string& dest, const std::string& to,
                                                 const std::string& file, const std::string& message_id) {
    imta::core::log::LogRecord r;
    r.code = code;
    r.source_channel = source;
    r.dest_channel = dest;
    r.size_bytes = 2048;
    r.env_from = "alice@example.org";
    r.orig_to = to;
    r.active_to = to;
    r.filename = file;
    if (!message_id.empty()) r.message_ids = {message_id};
    r.arrival_ms = kArrivalMs;
    return r;
}

}  // namespace logtest
