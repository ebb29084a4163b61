// Benchmark (prints figures, asserts nothing): the log writer's cost per
// message with tracking and counters on and off, i.e. the CPU the process
// spends per message, split between the thread that writes mail.log (the
// caller of MailLogFile::write) and everything else (the databases' thread).
// Records are written in batches as AsyncMailLog does (one
// MailLogFile::Batch per batch).
//
//   bench_log_writer [MESSAGES] [BATCH] [MIX] [ONLY]
//
// MIX: `ED` (default: an E record then a D record per message, one process
// writing both) or `E` (E records only, as the dispatcher writes under the
// acceptance benchmark). Small batches are what a lightly loaded writer sees
// (it wakes on the first record); large ones what a busy one sees. ONLY
// (`none`, `tracking`, `counters` or `both`) runs that one configuration, once: for
// `perf record`.
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

double seconds(clockid_t clock) {
    timespec t{};
    ::clock_gettime(clock, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

struct Cost {
    double writer = 0;  // the calling thread
    double total = 0;   // the whole process
};

Cost run(const fs::path& dir, bool tracking, bool counters, int messages, int batch, bool with_d) {
    fs::remove_all(dir);
    MailLogFileOptions o;
    o.log_dir = dir / "log";
    o.format.filename = o.format.message_id = true;
    o.format.connection = 3;
    o.format.tracking = tracking;
    o.format.counters = counters;
    Cost c;
    const double process_start = seconds(CLOCK_PROCESS_CPUTIME_ID);
    {
        MailLogFile log(o);
        const double thread_start = seconds(CLOCK_THREAD_CPUTIME_ID);
        for (int i = 0; i < messages; i += batch) {
            MailLogFile::Batch b(log);
            std::vector<LogRecord> es, ds;
            for (int k = i; k < i + batch && k < messages; ++k) es.push_back(record(RecordCode::Enqueue, k));
            log.write(es);
            if (!with_d) continue;
            for (int k = i; k < i + batch && k < messages; ++k) ds.push_back(record(RecordCode::Dequeue, k));
            log.write(ds);
        }
        c.writer = seconds(CLOCK_THREAD_CPUTIME_ID) - thread_start;
    }  // the destructor finishes the databases' work
    c.total = seconds(CLOCK_PROCESS_CPUTIME_ID) - process_start;
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    const int messages = argc > 1 ? std::atoi(argv[1]) : 20000;
    const int batch = argc > 2 ? std::atoi(argv[2]) : 100;
    const bool with_d = argc > 3 ? std::string(argv[3]) != "E" : true;
    char templ[] = "/tmp/imta-bench-log-XXXXXX";
    if (!::mkdtemp(templ)) return 1;
    const fs::path dir = templ;
    std::printf("%d messages (%s), batches of %d; CPU us/message: mail.log thread / whole process\n", messages,
                with_d ? "E+D" : "E only", batch);
    if (argc > 4) {
        const std::string only = argv[4];
        const bool tracking = only == "tracking" || only == "both", counters = only == "counters" || only == "both";
        const Cost c = run(dir / "only", tracking, counters, messages, batch, with_d);
        std::printf("%s: %.1f/%.1f\n", only.c_str(), c.writer * 1e6 / messages, c.total * 1e6 / messages);
        fs::remove_all(dir);
        return 0;
    }
    for (int round = 1; round <= 2; ++round) {
        const Cost none = run(dir / "none", false, false, messages, batch, with_d);
        const Cost tracking = run(dir / "tracking", true, false, messages, batch, with_d);
        const Cost counters = run(dir / "counters", false, true, messages, batch, with_d);
        const Cost both = run(dir / "both", true, true, messages, batch, with_d);
        auto us = [&](double s) { return s * 1e6 / messages; };
        std::printf("round %d: none %.1f/%.1f  tracking %.1f/%.1f  counters %.1f/%.1f  both %.1f/%.1f"
                    "  (both - none: +%.1f us/message)\n",
                    round, us(none.writer), us(none.total), us(tracking.writer), us(tracking.total),
                    us(counters.writer), us(counters.total), us(both.writer), us(both.total),
                    us(both.total - none.total));
    }
    fs::remove_all(dir);
    return 0;
}
