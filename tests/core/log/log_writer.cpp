// Test helper: writes mail.log records through the library (MailLogFile, with
// the instance's compiled option.dat: LOG_*, LOG_TRACKING, LOG_COUNTERS), so
// the e2e test can give `imta track` and `imta counters` known stories.
//
//   log_writer ROOT < records
//
// One record per line, fields separated by tabs (empty = unset):
//   epoch code source dest bytes from orig active file message-ids (comma-separated)
//   diagnostics client-ip client-helo delivery-ip smtp-code
// Each line is written as one batch stamped with its epoch second.
#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "config/log_options.hpp"
#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "core/log/mail_log_file.hpp"

using namespace imta;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string field;
    std::istringstream in(s);
    while (std::getline(in, field, sep)) out.push_back(field);
    if (!s.empty() && s.back() == sep) out.emplace_back();
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: log_writer ROOT < records\n";
        return 2;
    }
    core::Instance instance(argv[1]);
    const auto snapshot = config::load_image(instance.image_path());
    std::chrono::system_clock::time_point now;
    core::log::MailLogFileOptions o;
    o.log_dir = instance.log_dir();
    o.format = config::log_options(snapshot.options);
    o.separate_connection_log = config::separate_connection_log(snapshot.options);
    o.clock = [&now] { return now; };
    core::log::MailLogFile log(o);
    for (std::string line; std::getline(std::cin, line);) {
        if (line.empty() || line[0] == '#') continue;
        auto f = split(line, '\t');
        if (f.size() != 15 || f[1].empty()) {
            std::cerr << "log_writer: bad line: " << line << "\n";
            return 1;
        }
        now = std::chrono::system_clock::time_point(std::chrono::seconds(std::stoll(f[0])));
        core::log::LogRecord r;
        r.code = static_cast<core::log::RecordCode>(f[1][0]);
        r.source_channel = f[2];
        r.dest_channel = f[3];
        r.size_bytes = f[4].empty() ? 0 : std::stoull(f[4]);
        r.env_from = f[5];
        r.orig_to = f[6];
        r.active_to = f[7];
        r.filename = f[8];
        if (!f[9].empty()) r.message_ids = split(f[9], ',');
        if (!f[10].empty()) r.diagnostics = {f[10]};
        r.client_ip = f[11];
        r.client_helo = f[12];
        r.delivery_ip = f[13];
        r.smtp_code = f[14].empty() ? 0 : std::stoi(f[14]);
        if (auto ec = log.write(r)) {
            std::cerr << "log_writer: " << ec.message() << "\n";
            return 1;
        }
    }
    return 0;
}
