// Benchmark (prints figures, asserts nothing): the log writer's cost per
// message with tracking and counters on and off, i.e. the CPU the writer
// thread spends per accepted message. A message is an E record then a D
// record, written in batches as AsyncMailLog does (one MailLogFile::Batch
// per batch).
//
//   bench_log_writer [MESSAGES] [BATCH]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "core/log/mail_log_file.hpp"

using namespace imta::core::log;
namespace fs = std::filesystem;

namespace {

LogRecord record(RecordCode code, int i) {
    LogRecord r;
    r.code = code;
    r.source_channel = code == RecordCode::Enqueue ? "tcp_local" : "l";
    r.dest_channel = code == RecordCode::Enqueue ? "l" : "";
    r.size_bytes = 1500;
    r.env_from = "sender@example.org";
    r.orig_to = r.active_to = "user" + std::to_string(i % 1000) + "@example.test";
    r.filename = "/srv/imta/queue/l/ZZ01BENCH" + std::to_string(i) + ".00";
    r.message_ids = {"<bench." + std::to_string(i) + "@example.org>"};
    r.connection_info = "client.example.org (client.example.org [192.0.2.7])";
    return r;
}

double cpu_seconds() {
    timespec t{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double run(const fs::path& dir, bool databases, int messages, int batch) {
    fs::remove_all(dir);
    MailLogFileOptions o;
    o.log_dir = dir / "log";
    o.format.filename = o.format.message_id = true;
    o.format.connection = 3;
    o.format.tracking = o.format.counters = databases;
    MailLogFile log(o);
    const double start = cpu_seconds();
    for (int i = 0; i < messages; i += batch) {
        MailLogFile::Batch b(log);
        std::vector<LogRecord> es, ds;
        for (int k = i; k < i + batch && k < messages; ++k) es.push_back(record(RecordCode::Enqueue, k));
        log.write(es);
        for (int k = i; k < i + batch && k < messages; ++k) ds.push_back(record(RecordCode::Dequeue, k));
        log.write(ds);
    }
    return cpu_seconds() - start;
}

}  // namespace

int main(int argc, char** argv) {
    const int messages = argc > 1 ? std::atoi(argv[1]) : 20000;
    const int batch = argc > 2 ? std::atoi(argv[2]) : 100;
    char templ[] = "/tmp/imta-bench-log-XXXXXX";
    if (!::mkdtemp(templ)) return 1;
    const fs::path dir = templ;
    for (int round = 1; round <= 2; ++round) {
        const double off = run(dir / "off", false, messages, batch);
        const double on = run(dir / "on", true, messages, batch);
        std::printf("round %d: %d messages (E+D), batches of %d: CPU %.1f us/message without tracking and "
                    "counters, %.1f us/message with them (+%.1f us)\n",
                    round, messages, batch, off * 1e6 / messages, on * 1e6 / messages,
                    (on - off) * 1e6 / messages);
    }
    fs::remove_all(dir);
    return 0;
}
