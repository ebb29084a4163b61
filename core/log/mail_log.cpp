#include "core/log/mail_log.hpp"

#include <charconv>
#include <cstdio>
#include <initializer_list>

#include "core/json.hpp"
#include "core/text.hpp"

namespace imta::core::log {
namespace {

// Fields come from the network (banners, commands, HELO names): a CR or LF
// would let a client forge entries, so no control character reaches the file.
char clean_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\t') return ' ';
    if (u < 0x20 || u == 0x7f) return '?';
    return c;
}

void append_clean(std::string& line, std::string_view field) {
    const std::size_t at = line.size();
    line.append(field);
    for (std::size_t i = at; i < line.size(); ++i) line[i] = clean_char(line[i]);
}

void append_column(std::string& line, std::string_view value) {
    append_clean(line, value);
    if (value.size() < kChannelColumn) line.append(kChannelColumn - value.size(), ' ');
    line += ' ';
}

std::string_view address(std::string_view addr, const LogOptions& options) {
    if (addr.empty() && options.format == 2) return "<>";
    return addr;
}

void append_process_id(std::string& line, const LogRecord& r) {
    char hex[16];
    line.append(hex, std::to_chars(hex, hex + sizeof hex, static_cast<unsigned>(r.pid), 16).ptr);
    if (r.thread) {
        line += '.';
        core::append_decimal(line, static_cast<unsigned>(*r.thread));
    }
    line += '.';
    core::append_decimal(line, static_cast<unsigned>(r.count));
}

std::string process_id(const LogRecord& r) {
    std::string out;
    append_process_id(out, r);
    return out;
}

// Everything after the code: positional fields, empty ones kept in place
// except at the end of the line (see the header's "Empty fields"). Written
// straight into the line: an empty field is held back until a later field
// has a value, so trailing ones never appear.
class FieldWriter {
public:
    explicit FieldWriter(std::string& line) : line_(line) {}
    void add(std::string_view value) { add_pieces({value}); }
    /// One field made of several pieces.
    void add_pieces(std::initializer_list<std::string_view> pieces) {
        bool empty = true;
        for (auto p : pieces) empty = empty && p.empty();
        if (empty) {
            ++held_;
            return;
        }
        start();
        for (auto p : pieces) append_clean(line_, p);
    }
    void add_number(std::uint64_t value) {
        start();
        core::append_decimal(line_, value);
    }
    /// The items with `sep` between them, as join() would make it: a
    /// separator only after something non-empty.
    void add_joined(const std::vector<std::string>& items, std::string_view sep) {
        bool started = false;
        for (const auto& item : items) {
            if (started) {
                append_clean(line_, sep);
            } else if (!item.empty()) {
                start();
                started = true;
            }
            append_clean(line_, item);
        }
        if (!started) ++held_;
    }
    void add_diagnostics(const LogRecord& r, const LogOptions& options) {
        if (!options.diagnostics) return;
        for (const auto& d : r.diagnostics)
            if (!d.empty()) add(d);
    }

private:
    /// A field with a value follows: the empty ones held back go first.
    void start() {
        line_.append(held_ + 1, ' ');
        held_ = 0;
    }

    std::string& line_;
    std::size_t held_ = 0;  ///< empty fields not written yet
};

std::string prefix(const LogRecord& r, const LogOptions& options) {
    std::string line = format_log_time(r.when);
    line.reserve(256);
    line += ' ';
    if (options.node) {
        append_clean(line, r.node);
        line += ' ';
    }
    if (options.process) {
        append_process_id(line, r);
        line += ' ';
    }
    return line;
}

void append_code(std::string& line, RecordCode code, const Modifiers& m) {
    line += static_cast<char>(code);
    if (m.esmtp) line += 'E';
    if (m.lmtp) line += 'L';
    if (m.chunking) line += 'C';
    if (m.tls) line += 'S';
    if (m.sasl) line += 'A';
}

std::string message_line(const LogRecord& r, const LogOptions& options) {
    std::string line = prefix(r, options);
    append_column(line, r.source_channel);
    append_column(line, r.dest_channel);
    append_code(line, r.code, r.modifiers);

    FieldWriter fields(line);
    fields.add_number(size_in_blocks(r.size_bytes, options.block_size));
    fields.add(address(r.env_from, options));
    fields.add_pieces({"rfc822;", address(r.orig_to, options)});
    fields.add(address(r.active_to, options));
    if (options.notary) fields.add_number(static_cast<std::uint64_t>(r.notary));
    if (options.filename) fields.add(r.filename);
    if (options.message_id) fields.add_joined(r.message_ids, ",");
    if (options.username) {
        if (r.auth_user.empty())
            fields.add(r.username);
        else
            fields.add_pieces({"*", r.auth_user});
    }
    if (options.connection & kLogConnectionInfo) fields.add(r.connection_info);
    fields.add_diagnostics(r, options);
    if (r.code == RecordCode::Refused && r.last_in_session) fields.add("(last J of session)");
    return line;
}

std::string connection_line(const LogRecord& r, const LogOptions& options) {
    std::string line = prefix(r, options);
    append_column(line, r.source_channel);
    append_column(line, std::string(1, static_cast<char>(r.direction)));
    append_code(line, r.code, r.modifiers);

    FieldWriter fields(line);
    fields.add(r.transport);
    fields.add(r.application);
    if (r.code == RecordCode::Auth) fields.add(r.auth_user);
    if (r.code == RecordCode::Etrn) fields.add(r.etrn_argument);
    fields.add_diagnostics(r, options);
    return line;
}

// LOG_JSON: the same fields as the text entry, one JSON object (see the header).
std::string iso_time(const LogTime& t) {
    // format_log_time() clamps; reuse its digits by formatting the same way.
    char buf[80];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%02d", t.year, t.month, t.day, t.hour,
                  t.minute, t.second, t.centisecond);
    return buf;
}

void json_prefix(core::JsonWriter& w, const LogRecord& r, const LogOptions& options) {
    w.field("time", iso_time(r.when));
    if (options.node) w.field("node", r.node);
    if (options.process) w.field("process", process_id(r));
}

std::string json_diagnostics(const LogRecord& r) {
    std::string out;
    for (const auto& d : r.diagnostics) {
        if (d.empty()) continue;
        if (!out.empty()) out += ' ';
        out += d;
    }
    return out;
}

std::string message_json(const LogRecord& r, const LogOptions& options) {
    core::JsonWriter w;
    w.begin_object();
    json_prefix(w, r, options);
    w.field("source", r.source_channel);
    w.field("dest", r.dest_channel);
    w.field("code", record_code_text(r.code, r.modifiers));
    w.field("size", size_in_blocks(r.size_bytes, options.block_size));
    w.field("from", r.env_from);
    w.field("orig", r.orig_to);
    w.field("active", r.active_to);
    if (options.notary) w.field("notary", r.notary);
    if (options.filename) w.field("file", r.filename);
    if (options.message_id) {
        w.key("message_ids").begin_array();
        for (const auto& id : r.message_ids) w.value(id);
        w.end_array();
    }
    if (options.username) w.field("username", r.auth_user.empty() ? r.username : "*" + r.auth_user);
    if (options.connection & kLogConnectionInfo) w.field("connection", r.connection_info);
    if (options.diagnostics) w.field("diagnostics", json_diagnostics(r));
    if (r.code == RecordCode::Refused && r.last_in_session) w.field("last_in_session", true);
    w.end_object();
    return w.str();
}

std::string connection_json(const LogRecord& r, const LogOptions& options) {
    core::JsonWriter w;
    w.begin_object();
    json_prefix(w, r, options);
    w.field("channel", r.source_channel);
    w.field("direction", std::string(1, static_cast<char>(r.direction)));
    w.field("code", record_code_text(r.code, r.modifiers));
    w.field("transport", r.transport);
    w.field("application", r.application);
    if (r.code == RecordCode::Auth) w.field("username", r.auth_user);
    if (r.code == RecordCode::Etrn) w.field("etrn", r.etrn_argument);
    if (options.diagnostics) w.field("diagnostics", json_diagnostics(r));
    w.end_object();
    return w.str();
}

}  // namespace

bool is_connection_record(RecordCode code) {
    switch (code) {
        case RecordCode::ConnectionOpen:
        case RecordCode::ConnectionClose:
        case RecordCode::Auth:
        case RecordCode::ConnectionRejected:
        case RecordCode::ConnectionFailed:
        case RecordCode::Etrn:
            return true;
        default:
            return false;
    }
}

std::string record_code_text(RecordCode code, const Modifiers& m) {
    std::string text;
    append_code(text, code, m);
    return text;
}

std::uint64_t size_in_blocks(std::uint64_t bytes, std::int64_t block_size) {
    const auto bs = static_cast<std::uint64_t>(block_size < 1 ? 1024 : block_size);
    return bytes / bs + (bytes % bs != 0 ? 1 : 0);
}

std::string transport_info(std::string_view local_ip, unsigned local_port,
                           std::string_view remote_ip, unsigned remote_port) {
    std::string out = "TCP|";
    out += local_ip;
    out += '|';
    out += std::to_string(local_port);
    out += '|';
    out += remote_ip;
    out += '|';
    out += std::to_string(remote_port);
    return out;
}

std::optional<std::string> format_record(const LogRecord& record, const LogOptions& options) {
    if (!is_connection_record(record.code))
        return options.json ? message_json(record, options) : message_line(record, options);
    const int needed =
        record.code == RecordCode::Auth ? kLogConnectionAuth : kLogConnectionRecords;
    if ((options.connection & needed) == 0) return std::nullopt;
    return options.json ? connection_json(record, options) : connection_line(record, options);
}

}  // namespace imta::core::log
