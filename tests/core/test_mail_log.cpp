// The mail.log line formatter: the seed chapter's examples reproduced from
// golden files (tests/golden/log, see its README), then the layout rules one by one.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/log/log_time.hpp"
#include "core/log/mail_log.hpp"
#include "core/text.hpp"

using namespace imta::core::log;
using imta::core::parse_integer;
using imta::core::split_words;
using imta::core::trim;

namespace {

// ---------------------------------------------------------------------------
// Golden files

std::string golden_path(const std::string& file) {
    const char* root = std::getenv("IMTA_TEST_DATA");
    if (root == nullptr) FAIL("IMTA_TEST_DATA is not set (meson sets it to the tests/ folder)");
    return std::string(root) + "/golden/log/" + file;
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    if (!in) FAIL("cannot read " << path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// Splits on blanks, the way a reader of the log splits fields.
std::vector<std::string> fields_of(std::string_view line) {
    std::vector<std::string> out;
    std::istringstream in{std::string(line)};
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

RecordCode code_from_letter(char c, const std::string& where) {
    static const std::string known = "EDQRJKVWZBOCUXYI";
    if (known.find(c) == std::string::npos) FAIL(where << ": unknown entry code " << c);
    return static_cast<RecordCode>(c);
}

Modifiers modifiers_from(std::string_view letters, const std::string& where) {
    Modifiers m;
    for (char c : letters) {
        switch (c) {
            case 'E': m.esmtp = true; break;
            case 'L': m.lmtp = true; break;
            case 'C': m.chunking = true; break;
            case 'S': m.tls = true; break;
            case 'A': m.sasl = true; break;
            default: FAIL(where << ": unknown modifier " << c);
        }
    }
    return m;
}

std::uint32_t number(std::string_view text, int base, const std::string& where) {
    const auto v = parse_integer(base == 16 ? "16%" + std::string(text) : std::string(text));
    if (!v || *v < 0 || *v > 0xffffffffLL) FAIL(where << ": bad number '" << text << "'");
    return static_cast<std::uint32_t>(*v);
}

struct GoldenInput {
    LogOptions options;
    std::vector<LogRecord> records;
};

void set_option(LogOptions& o, std::string_view setting, const std::string& where) {
    const auto eq = setting.find('=');
    if (eq == std::string_view::npos) FAIL(where << ": expected NAME=VALUE");
    const std::string name(setting.substr(0, eq));
    const auto value = parse_integer(setting.substr(eq + 1));
    if (!value) FAIL(where << ": bad value for " << name);
    const bool on = *value != 0;
    if (name == "LOG_FILENAME") o.filename = on;
    else if (name == "LOG_MESSAGE_ID") o.message_id = on;
    else if (name == "LOG_PROCESS") o.process = on;
    else if (name == "LOG_USERNAME") o.username = on;
    else if (name == "LOG_NOTARY") o.notary = on;
    else if (name == "LOG_NODE") o.node = on;
    else if (name == "LOG_CONNECTION") o.connection = static_cast<int>(*value);
    else if (name == "BLOCK_SIZE") o.block_size = *value;
    else if (name == "LOG_FORMAT") o.format = static_cast<int>(*value);
    else if (name == "LOG_DIAGNOSTICS") o.diagnostics = on;
    else FAIL(where << ": unknown option " << name);
}

void set_field(LogRecord& r, const std::string& key, const std::string& v, const std::string& where) {
    if (key == "time") {
        const auto t = parse_log_time(v);
        if (!t) FAIL(where << ": bad time '" << v << "'");
        r.when = *t;
    } else if (key == "code") {
        if (v.empty()) FAIL(where << ": empty code");
        r.code = code_from_letter(v[0], where);
        r.modifiers = modifiers_from(std::string_view(v).substr(1), where);
    } else if (key == "node") r.node = v;
    else if (key == "pid") r.pid = number(v, 16, where);
    else if (key == "thread") r.thread = number(v, 10, where);
    else if (key == "count") r.count = number(v, 10, where);
    else if (key == "source") r.source_channel = v;
    else if (key == "dest") r.dest_channel = v;
    else if (key == "bytes") r.size_bytes = number(v, 10, where);
    else if (key == "from") r.env_from = v;
    else if (key == "orig") r.orig_to = v;
    else if (key == "to") r.active_to = v;
    else if (key == "notary") r.notary = number(v, 10, where);
    else if (key == "file") r.filename = v;
    else if (key == "message-id") r.message_ids.push_back(v);
    else if (key == "username") r.username = v;
    else if (key == "auth-user") r.auth_user = v;
    else if (key == "connection") r.connection_info = v;
    else if (key == "diag") r.diagnostics.push_back(v);
    else if (key == "last-j") r.last_in_session = v == "yes";
    else if (key == "direction") {
        if (v != "+" && v != "-") FAIL(where << ": direction must be + or -");
        r.direction = v == "+" ? Direction::Inbound : Direction::Outbound;
    } else if (key == "transport") r.transport = v;
    else if (key == "application") r.application = v;
    else if (key == "etrn") r.etrn_argument = v;
    else FAIL(where << ": unknown key " << key);
}

GoldenInput read_input(const std::string& name) {
    const std::string file = name + ".in";
    const auto lines = read_lines(golden_path(file));
    GoldenInput in;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string where = file + ":" + std::to_string(i + 1);
        const auto line = trim(lines[i]);
        if (line.empty() || line.front() == '#') continue;
        const auto blank = line.find_first_of(" \t");
        const std::string key(line.substr(0, blank));
        const std::string value(blank == std::string_view::npos ? std::string_view{}
                                                                : trim(line.substr(blank)));
        if (key == "option") {
            set_option(in.options, value, where);
        } else if (key == "record") {
            in.records.emplace_back();
        } else {
            if (in.records.empty()) FAIL(where << ": '" << key << "' before the first 'record'");
            set_field(in.records.back(), key, value, where);
        }
    }
    return in;
}

struct Allowance {
    int entry = 0;  // 0 = every entry
    std::string ours, seed;
    bool used = false;
    std::string where;
};

struct SeedEntries {
    std::vector<Allowance> allowed;
    std::vector<std::vector<std::string>> entries;  // fields of each joined entry
};

bool starts_with_date(std::string_view line) {
    const auto t = trim(line);
    return t.size() >= 11 && parse_log_time(std::string(t.substr(0, 11)) + " 00:00:00").has_value();
}

bool is_callout(const std::string& field) {
    if (field.size() < 3 || field.front() != '(' || field.back() != ')') return false;
    return field.find_first_not_of("0123456789", 1) == field.size() - 1;
}

SeedEntries read_seed(const std::string& name) {
    const std::string file = name + ".seed";
    const auto lines = read_lines(golden_path(file));
    SeedEntries seed;
    std::size_t i = 0;
    for (; i < lines.size() && trim(lines[i]) != "%%"; ++i) {
        const std::string where = file + ":" + std::to_string(i + 1);
        const auto line = trim(lines[i]);
        if (line.empty() || line.front() == '#') continue;
        const auto words = split_words(line);
        if (words.size() != 4 || words[0] != "allow") FAIL(where << ": expected allow ENTRY OURS SEED");
        Allowance a;
        a.entry = words[1] == "*" ? 0 : static_cast<int>(number(words[1], 10, where));
        a.ours = words[2];
        a.seed = words[3];
        a.where = where;
        seed.allowed.push_back(a);
    }
    if (i == lines.size()) FAIL(file << ": no %% line before the seed text");
    for (++i; i < lines.size(); ++i) {
        // The seed pads some callouts with no-break spaces (U+00A0): typography.
        std::string text = lines[i];
        for (std::size_t nb; (nb = text.find("\xc2\xa0")) != std::string::npos;)
            text.replace(nb, 2, " ");
        if (starts_with_date(text)) seed.entries.emplace_back();
        if (seed.entries.empty()) continue;
        for (auto& f : fields_of(text))
            if (!is_callout(f)) seed.entries.back().push_back(f);
    }
    return seed;
}

void check_golden(const std::string& name) {
    INFO("golden example " << name);
    const auto input = read_input(name);
    const auto ref = read_lines(golden_path(name + ".ref"));
    auto seed = read_seed(name);
    REQUIRE(!input.records.empty());
    REQUIRE(ref.size() == input.records.size());
    REQUIRE(seed.entries.size() == input.records.size());

    for (std::size_t n = 0; n < input.records.size(); ++n) {
        INFO("entry " << n + 1);
        const auto line = format_record(input.records[n], input.options);
        REQUIRE(line.has_value());
        CHECK(*line == ref[n]);

        const auto ours = fields_of(*line);
        const auto& theirs = seed.entries[n];
        INFO("ours: " << *line);
        REQUIRE(ours.size() == theirs.size());
        for (std::size_t f = 0; f < ours.size(); ++f) {
            if (ours[f] == theirs[f]) continue;
            bool allowed = false;
            for (auto& a : seed.allowed) {
                if ((a.entry == 0 || a.entry == static_cast<int>(n + 1)) && a.ours == ours[f] &&
                    a.seed == theirs[f]) {
                    a.used = allowed = true;
                }
            }
            INFO("field " << f + 1 << ": ours '" << ours[f] << "', seed '" << theirs[f] << "'");
            CHECK(allowed);
        }
    }
    for (const auto& a : seed.allowed) {
        INFO(a.where << ": allowance never needed");
        CHECK(a.used);
    }
}

// ---------------------------------------------------------------------------
// Helpers for the unit tests

const LogTime kNoon{2026, 11, 21, 10, 31, 5, 42};

LogRecord enqueue() {
    LogRecord r;
    r.when = kNoon;
    r.code = RecordCode::Enqueue;
    r.source_channel = "tcp_local";
    r.dest_channel = "l";
    r.size_bytes = 1500;
    r.env_from = "adam@sesta.com";
    r.orig_to = "Bob@Example.COM";
    r.active_to = "bob@example.com";
    r.node = "mx1";
    r.pid = 0x2e2d;
    r.thread = 2;
    r.count = 7;
    r.notary = 276;
    r.filename = "queue/l/ZZ01ABC.00";
    r.message_ids = {"<id1@sesta.com>"};
    r.username = "inetmail";
    r.connection_info = "mail.sesta.com (mail.sesta.com [192.0.2.7])";
    r.diagnostics = {"smtp;250 2.1.5 OK"};
    return r;
}

LogRecord connection(RecordCode code) {
    LogRecord r;
    r.when = kNoon;
    r.code = code;
    r.source_channel = "tcp_local";
    r.direction = Direction::Inbound;
    r.transport = transport_info("192.0.2.1", 25, "198.51.100.9", 40123);
    r.application = "SMTP";
    return r;
}

std::string line_of(const LogRecord& r, const LogOptions& o = {}) {
    const auto line = format_record(r, o);
    REQUIRE(line.has_value());
    return *line;
}

// Sets TZ for one test and restores it, so local-time tests never depend on the host.
class ScopedTimeZone {
public:
    explicit ScopedTimeZone(const char* tz) {
        if (const char* old = std::getenv("TZ")) saved_ = old;
        setenv("TZ", tz, 1);
        tzset();
    }
    ~ScopedTimeZone() {
        if (saved_) setenv("TZ", saved_->c_str(), 1);
        else unsetenv("TZ");
        tzset();
    }
    ScopedTimeZone(const ScopedTimeZone&) = delete;
    ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

private:
    std::optional<std::string> saved_;
};

std::chrono::system_clock::time_point at_ms(long long ms) {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace

// ---------------------------------------------------------------------------

TEST_CASE("seed chapter examples 21-1 to 21-10 are reproduced field for field", "[mail_log]") {
    const auto name = GENERATE(as<std::string>{}, "example_21_1", "example_21_2", "example_21_3",
                               "example_21_4", "example_21_5", "example_21_6", "example_21_7",
                               "example_21_8", "example_21_9", "example_21_10",
                               "example_options");
    check_golden(name);
}

TEST_CASE("log time is dd-Mon-yyyy hh:mm:ss.cc", "[mail_log]") {
    CHECK(format_log_time(kNoon) == "21-Nov-2026 10:31:05.42");
    CHECK(format_log_time({1998, 1, 9, 0, 6, 2, 5}) == "09-Jan-1998 00:06:02.05");
    CHECK(format_log_time({2000, 12, 31, 23, 59, 59, 99}) == "31-Dec-2000 23:59:59.99");
    // Out-of-range values are clamped, never widen the field.
    CHECK(format_log_time({12345, 13, 40, 24, 60, 61, 100}) == "31-Dec-9999 23:59:60.99");
}

TEST_CASE("log time parses back, also the seed's VMS spelling", "[mail_log]") {
    CHECK(parse_log_time("21-Nov-2026 10:31:05.42") == kNoon);
    CHECK(parse_log_time("19-JAN-1998 20:49:04") == LogTime{1998, 1, 19, 20, 49, 4, 0});
    CHECK(parse_log_time("29-Feb-2024 00:00:00.00").has_value());
    for (const char* bad : {"", "29-Feb-2023 00:00:00.00", "21-Nov-2026 24:00:00.00",
                            "21-Foo-2026 10:31:05.42", "21-Nov-2026 10:31:05.4",
                            "21-Nov-2026 10:31:05,42", "1-Nov-2026 10:31:05.42",
                            "21-Nov-2026 10:61:05.42", "21-Nov-2026  10:31:05"}) {
        INFO(bad);
        CHECK_FALSE(parse_log_time(bad).has_value());
    }
}

TEST_CASE("log time from the clock truncates to hundredths", "[mail_log]") {
    // 2009-02-13 23:31:30.129 UTC
    CHECK(format_log_time(utc_log_time(at_ms(1234567890129))) == "13-Feb-2009 23:31:30.12");
    CHECK(format_log_time(utc_log_time(at_ms(1234567890999))) == "13-Feb-2009 23:31:30.99");
    // Before 1970 the hundredths still count forward within the second.
    CHECK(format_log_time(utc_log_time(at_ms(-1))) == "31-Dec-1969 23:59:59.99");
}

TEST_CASE("local log time follows the time zone", "[mail_log]") {
    {
        ScopedTimeZone tz("UTC0");
        CHECK(format_log_time(local_log_time(at_ms(1234567890129))) == "13-Feb-2009 23:31:30.12");
    }
    {
        ScopedTimeZone tz("EST5");  // POSIX form: five hours west, no tz database needed
        CHECK(format_log_time(local_log_time(at_ms(1234567890129))) == "13-Feb-2009 18:31:30.12");
    }
}

TEST_CASE("every entry code is written with its letter", "[mail_log]") {
    struct Row { RecordCode code; char letter; bool connection; };
    const auto row = GENERATE(values<Row>({
        {RecordCode::Enqueue, 'E', false},        {RecordCode::Dequeue, 'D', false},
        {RecordCode::Requeue, 'Q', false},        {RecordCode::Return, 'R', false},
        {RecordCode::Refused, 'J', false},        {RecordCode::Removed, 'K', false},
        {RecordCode::Aborted, 'V', false},        {RecordCode::Warned, 'W', false},
        {RecordCode::PartialRequeue, 'Z', false}, {RecordCode::BadCommand, 'B', false},
        {RecordCode::ConnectionOpen, 'O', true},  {RecordCode::ConnectionClose, 'C', true},
        {RecordCode::Auth, 'U', true},            {RecordCode::ConnectionRejected, 'X', true},
        {RecordCode::ConnectionFailed, 'Y', true}, {RecordCode::Etrn, 'I', true},
    }));
    INFO("code " << row.letter);
    CHECK(is_connection_record(row.code) == row.connection);
    CHECK(record_code_text(row.code, {}) == std::string(1, row.letter));

    LogOptions o;
    o.connection = kLogConnectionRecords | kLogConnectionAuth;
    LogRecord r = row.connection ? connection(row.code) : enqueue();
    r.code = row.code;
    const auto fields = fields_of(line_of(r, o));
    // date, time, channel, then the destination column (a channel or +/-), then the code.
    REQUIRE(fields.size() > 4);
    CHECK(fields[4] == std::string(1, row.letter));
    // The code always starts in the same column: 24 (time) + 13 + 13.
    CHECK(line_of(r, o).substr(50, 1) == std::string(1, row.letter));
}

TEST_CASE("modifiers follow the code in the order E L C S A", "[mail_log]") {
    struct Row { RecordCode code; Modifiers m; const char* text; };
    const auto row = GENERATE(values<Row>({
        {RecordCode::Dequeue, {false, false, false, false, true}, "DA"},
        {RecordCode::Dequeue, {false, false, false, true, false}, "DS"},
        {RecordCode::Dequeue, {false, false, false, true, true}, "DSA"},
        {RecordCode::Enqueue, {false, false, false, false, true}, "EA"},
        {RecordCode::Enqueue, {false, false, false, true, false}, "ES"},
        {RecordCode::Enqueue, {false, false, false, true, true}, "ESA"},
        {RecordCode::BadCommand, {false, false, false, false, true}, "BA"},
        {RecordCode::BadCommand, {false, false, false, true, false}, "BS"},
        {RecordCode::BadCommand, {false, false, false, true, true}, "BSA"},
        {RecordCode::Enqueue, {true, false, false, false, false}, "EE"},
        {RecordCode::Enqueue, {true, false, true, false, false}, "EEC"},
        {RecordCode::Dequeue, {true, false, true, false, false}, "DEC"},
        {RecordCode::Dequeue, {false, true, false, false, false}, "DL"},
        {RecordCode::Enqueue, {true, false, true, true, true}, "EECSA"},
    }));
    CHECK(record_code_text(row.code, row.m) == row.text);
    LogRecord r = enqueue();
    r.code = row.code;
    r.modifiers = row.m;
    CHECK(fields_of(line_of(r))[4] == row.text);
}

TEST_CASE("size is in BLOCK_SIZE blocks, rounded up", "[mail_log]") {
    struct Row { std::uint64_t bytes; std::int64_t block_size; std::uint64_t blocks; };
    const auto row = GENERATE(values<Row>({
        {0, 1024, 0}, {1, 1024, 1}, {1023, 1024, 1}, {1024, 1024, 1}, {1025, 1024, 2},
        {10 * 1024 * 1024, 1024, 10240}, {1000, 1000, 1}, {1001, 1000, 2}, {5, 1, 5},
        {100, 0, 1}, {2048, -5, 2},  // nonsense block sizes count as 1024
    }));
    INFO(row.bytes << " bytes, BLOCK_SIZE=" << row.block_size);
    CHECK(size_in_blocks(row.bytes, row.block_size) == row.blocks);
    LogOptions o;
    o.block_size = row.block_size;
    LogRecord r = enqueue();
    r.size_bytes = row.bytes;
    CHECK(fields_of(line_of(r, o))[5] == std::to_string(row.blocks));
}

TEST_CASE("each LOG_* option adds its field in its place", "[mail_log]") {
    const std::string head = "21-Nov-2026 10:31:05.42 ";
    const std::string chans = "tcp_local    l            E 2 adam@sesta.com "
                              "rfc822;Bob@Example.COM bob@example.com";
    struct Row { const char* what; LogOptions o; std::string line; };
    const auto none = LogOptions{};
    auto with = [](auto set) { LogOptions o; set(o); return o; };
    const std::vector<Row> rows = {
        {"defaults", none, head + chans + " smtp;250 2.1.5 OK"},
        {"LOG_NODE", with([](LogOptions& o) { o.node = true; }),
         head + "mx1 " + chans + " smtp;250 2.1.5 OK"},
        {"LOG_PROCESS", with([](LogOptions& o) { o.process = true; }),
         head + "2e2d.2.7 " + chans + " smtp;250 2.1.5 OK"},
        {"LOG_NOTARY", with([](LogOptions& o) { o.notary = true; }),
         head + chans + " 276 smtp;250 2.1.5 OK"},
        {"LOG_FILENAME", with([](LogOptions& o) { o.filename = true; }),
         head + chans + " queue/l/ZZ01ABC.00 smtp;250 2.1.5 OK"},
        {"LOG_MESSAGE_ID", with([](LogOptions& o) { o.message_id = true; }),
         head + chans + " <id1@sesta.com> smtp;250 2.1.5 OK"},
        {"LOG_USERNAME", with([](LogOptions& o) { o.username = true; }),
         head + chans + " inetmail smtp;250 2.1.5 OK"},
        {"LOG_CONNECTION=1", with([](LogOptions& o) { o.connection = 1; }),
         head + chans + " mail.sesta.com (mail.sesta.com [192.0.2.7]) smtp;250 2.1.5 OK"},
        {"LOG_CONNECTION=2 (no connection field)", with([](LogOptions& o) { o.connection = 2; }),
         head + chans + " smtp;250 2.1.5 OK"},
        {"LOG_DIAGNOSTICS=0", with([](LogOptions& o) { o.diagnostics = false; }), head + chans},
        {"all", with([](LogOptions& o) {
             o.node = o.process = o.notary = o.filename = o.message_id = o.username = true;
             o.connection = 3;
         }),
         head + "mx1 2e2d.2.7 " + chans +
             " 276 queue/l/ZZ01ABC.00 <id1@sesta.com> inetmail"
             " mail.sesta.com (mail.sesta.com [192.0.2.7]) smtp;250 2.1.5 OK"},
    };
    for (const auto& row : rows) {
        INFO(row.what);
        CHECK(line_of(enqueue(), row.o) == row.line);
    }
}

TEST_CASE("process id is hex pid, then decimal thread and count", "[mail_log]") {
    LogOptions o;
    o.process = true;
    LogRecord r = enqueue();
    r.pid = 0x1f625;
    r.thread = 12;
    r.count = 10;
    CHECK(fields_of(line_of(r, o))[2] == "1f625.12.10");
    r.thread.reset();
    CHECK(fields_of(line_of(r, o))[2] == "1f625.10");
}

TEST_CASE("SMTP AUTH users appear as *user in the username field", "[mail_log]") {
    LogOptions o;
    o.username = true;
    LogRecord r = enqueue();
    r.diagnostics.clear();
    r.auth_user = "adam";
    CHECK(fields_of(line_of(r, o)).back() == "*adam");
}

TEST_CASE("empty envelope From: blank in LOG_FORMAT=1, <> in LOG_FORMAT=2", "[mail_log]") {
    LogRecord r = enqueue();
    r.env_from.clear();
    r.diagnostics.clear();
    const std::string head = "21-Nov-2026 10:31:05.42 tcp_local    l            E 2 ";
    CHECK(line_of(r) == head + " rfc822;Bob@Example.COM bob@example.com");

    LogOptions two;
    two.format = 2;
    CHECK(line_of(r, two) == head + "<> rfc822;Bob@Example.COM bob@example.com");

    r.orig_to.clear();
    r.active_to.clear();
    r.diagnostics = {"550 5.7.1 no"};
    CHECK(line_of(r) == head + " rfc822;  550 5.7.1 no");
    CHECK(line_of(r, two) == head + "<> rfc822;<> <> 550 5.7.1 no");
    // Non-empty addresses are the same in both formats.
    CHECK(line_of(enqueue(), two) == line_of(enqueue()));
}

TEST_CASE("empty fields keep their place, but no line ends in a blank", "[mail_log]") {
    LogOptions o;
    o.filename = o.message_id = true;
    LogRecord r = enqueue();
    r.filename.clear();
    const std::string base = "21-Nov-2026 10:31:05.42 tcp_local    l            E 2 adam@sesta.com "
                             "rfc822;Bob@Example.COM bob@example.com";
    CHECK(line_of(r, o) == base + "  <id1@sesta.com> smtp;250 2.1.5 OK");
    r.message_ids.clear();
    r.diagnostics.clear();
    CHECK(line_of(r, o) == base);
    r.diagnostics = {"", "smtp;250 OK", ""};  // empty diagnostic parts are skipped
    CHECK(line_of(r, o) == base + "   smtp;250 OK");
}

TEST_CASE("message-ids of a notification are <new>,<original>", "[mail_log]") {
    LogOptions o;
    o.message_id = true;
    LogRecord r = enqueue();
    r.diagnostics.clear();
    r.message_ids = {"<new@sesta.com>", "<orig@sesta.com>"};
    CHECK(fields_of(line_of(r, o)).back() == "<new@sesta.com>,<orig@sesta.com>");
}

TEST_CASE("channel columns are 12 wide; longer names get one space", "[mail_log]") {
    LogRecord r = enqueue();
    r.diagnostics.clear();
    r.source_channel = "tcp_intranet";       // exactly 12
    r.dest_channel = "conversion_external";  // 19
    CHECK(line_of(r) == "21-Nov-2026 10:31:05.42 tcp_intranet conversion_external E 2 "
                        "adam@sesta.com rfc822;Bob@Example.COM bob@example.com");
    r.code = RecordCode::Dequeue;
    r.source_channel = "l";
    r.dest_channel.clear();
    CHECK(line_of(r) == "21-Nov-2026 10:31:05.42 l                         D 2 "
                        "adam@sesta.com rfc822;Bob@Example.COM bob@example.com");
}

TEST_CASE("J entries: refused enqueue with the reply; the session's last is marked",
          "[mail_log]") {
    LogRecord r;
    r.when = kNoon;
    r.code = RecordCode::Refused;
    r.source_channel = "tcp_local";
    r.env_from = "harold@varrius.com";
    r.active_to = "alan@very.bogus.com";
    r.diagnostics = {"550 5.7.1 Relaying not permitted: alan@very.bogus.com"};
    const std::string base = "21-Nov-2026 10:31:05.42 tcp_local                 J 0 "
                             "harold@varrius.com rfc822; alan@very.bogus.com";
    CHECK(line_of(r) == base + " 550 5.7.1 Relaying not permitted: alan@very.bogus.com");
    r.last_in_session = true;
    CHECK(line_of(r) == base + " 550 5.7.1 Relaying not permitted: alan@very.bogus.com"
                               " (last J of session)");
    LogOptions quiet;
    quiet.diagnostics = false;
    CHECK(line_of(r, quiet) == base + " (last J of session)");
    // Only J entries carry the mark.
    r.code = RecordCode::BadCommand;
    CHECK(line_of(r).find("last J") == std::string::npos);
}

TEST_CASE("B entries show the bad command as the recipient and the reply", "[mail_log]") {
    LogRecord r;
    r.when = kNoon;
    r.code = RecordCode::BadCommand;
    r.modifiers.tls = true;
    r.source_channel = "tcp_local";
    r.active_to = "XYZZY plugh";
    r.diagnostics = {"500 5.5.1 Unknown command"};
    CHECK(line_of(r) == "21-Nov-2026 10:31:05.42 tcp_local                 BS 0  rfc822; "
                        "XYZZY plugh 500 5.5.1 Unknown command");
}

TEST_CASE("connection entries need LOG_CONNECTION bit 2, U entries bit 128", "[mail_log]") {
    LogOptions none, records, auth, both;
    records.connection = kLogConnectionRecords;
    auth.connection = kLogConnectionAuth;
    both.connection = kLogConnectionRecords | kLogConnectionAuth | kLogConnectionInfo;
    for (auto code : {RecordCode::ConnectionOpen, RecordCode::ConnectionClose,
                      RecordCode::ConnectionRejected, RecordCode::ConnectionFailed,
                      RecordCode::Etrn}) {
        INFO(static_cast<char>(code));
        CHECK_FALSE(format_record(connection(code), none).has_value());
        CHECK(format_record(connection(code), records).has_value());
        CHECK_FALSE(format_record(connection(code), auth).has_value());
        CHECK(format_record(connection(code), both).has_value());
    }
    CHECK_FALSE(format_record(connection(RecordCode::Auth), none).has_value());
    CHECK_FALSE(format_record(connection(RecordCode::Auth), records).has_value());
    CHECK(format_record(connection(RecordCode::Auth), auth).has_value());
    // Message entries do not depend on LOG_CONNECTION.
    CHECK(format_record(enqueue(), none).has_value());
}

TEST_CASE("connection entry layout", "[mail_log]") {
    LogOptions o;
    o.connection = kLogConnectionRecords | kLogConnectionAuth;
    const std::string head = "21-Nov-2026 10:31:05.42 tcp_local    ";
    const std::string tcp = "TCP|192.0.2.1|25|198.51.100.9|40123";

    CHECK(line_of(connection(RecordCode::ConnectionOpen), o) == head + "+            O " + tcp + " SMTP");

    LogRecord close = connection(RecordCode::ConnectionClose);
    close.diagnostics = {"Disconnect limit reached"};
    CHECK(line_of(close, o) == head + "+            C " + tcp + " SMTP Disconnect limit reached");
    LogOptions quiet = o;
    quiet.diagnostics = false;
    CHECK(line_of(close, quiet) == head + "+            C " + tcp + " SMTP");

    LogRecord out = connection(RecordCode::ConnectionFailed);
    out.direction = Direction::Outbound;
    out.application = "SMTP/example.com/mx.example.com";
    out.diagnostics = {"TCP active open: Failed connect() Error: connection refused"};
    CHECK(line_of(out, o) == head + "-            Y " + tcp +
                                 " SMTP/example.com/mx.example.com TCP active open: Failed "
                                 "connect() Error: connection refused");

    LogRecord u = connection(RecordCode::Auth);
    u.modifiers.tls = true;
    u.auth_user = "adam";
    u.diagnostics = {"235 2.7.0 Authentication successful"};
    CHECK(line_of(u, o) == head + "+            US " + tcp +
                               " SMTP adam 235 2.7.0 Authentication successful");
    u.auth_user.clear();  // unknown user: the field stays, empty
    u.diagnostics = {"535 5.7.8 Authentication failed"};
    CHECK(line_of(u, o) == head + "+            US " + tcp +
                               " SMTP  535 5.7.8 Authentication failed");

    LogRecord etrn = connection(RecordCode::Etrn);
    etrn.etrn_argument = "example.org";
    CHECK(line_of(etrn, o) == head + "+            I " + tcp + " SMTP example.org");

    LogOptions process = o;
    process.process = true;
    LogRecord threaded = connection(RecordCode::ConnectionOpen);
    threaded.pid = 0x1f625;
    threaded.thread = 3;
    threaded.count = 0;
    CHECK(line_of(threaded, process) ==
          "21-Nov-2026 10:31:05.42 1f625.3.0 tcp_local    +            O " + tcp + " SMTP");
}

TEST_CASE("transport field is TCP|local-ip|local-port|remote-ip|remote-port", "[mail_log]") {
    CHECK(transport_info("206.184.139.12", 2788, "192.160.253.66", 25) ==
          "TCP|206.184.139.12|2788|192.160.253.66|25");
    CHECK(transport_info("2001:db8::1", 25, "2001:db8::2", 50000) ==
          "TCP|2001:db8::1|25|2001:db8::2|50000");
}

TEST_CASE("control characters from the network cannot start a new line", "[mail_log]") {
    LogRecord r = enqueue();
    r.diagnostics = {"(evil banner\r\n21-Nov-2026 10:00:00.00 l D 1 forged)", "tab\there\x7f"};
    r.active_to = "bob@example.com\n";
    const auto line = line_of(r);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    CHECK(line.find("bob@example.com? ") != std::string::npos);
    CHECK(line.find("(evil banner??21-Nov-2026") != std::string::npos);
    CHECK(line.find("tab here?") != std::string::npos);
    // Bytes above ASCII (SMTPUTF8 addresses) pass unchanged.
    r.active_to = "j\xc3\xb6rg@example.com";
    CHECK(line_of(r).find("j\xc3\xb6rg@example.com") != std::string::npos);
}

TEST_CASE("no line ends with a newline or a blank", "[mail_log]") {
    LogOptions all;
    all.node = all.process = all.notary = all.filename = all.message_id = all.username = true;
    all.connection = 131;
    LogRecord bare;  // every optional value empty
    bare.when = kNoon;
    const auto line = line_of(bare, all);
    CHECK(line.back() != ' ');
    CHECK(line.back() != '\n');
    LogRecord c = connection(RecordCode::ConnectionOpen);
    c.transport.clear();
    c.application.clear();
    const auto cline = line_of(c, all);
    CHECK(cline.back() == 'O');
}
