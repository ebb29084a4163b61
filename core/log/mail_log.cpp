#include "core/log/mail_log.hpp"

#include <cstdio>

#include "core/json.hpp"

namespace imta::core::log {
namespace {

// Fields come from the network (banners, commands, HELO names): a CR or LF
// would let a client forge entries, so no control character reaches the file.
std::string clean(std::string_view field) {
    std::string out(field);
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\t')
            c = ' ';
        else if (u < 0x20 || u == 0x7f)
            c = '?';
    }
    return out;
}

void append_column(std::string& line, std::string_view value) {
    line += clean(value);
    if (value.size() < kChannelColumn) line.append(kChannelColumn - value.size(), ' ');
    line += ' ';
}

std::string address(std::string_view addr, const LogOptions& options) {
    if (addr.empty() && options.format == 2) return "<>";
    return std::string(addr);
}

std::string process_id(const LogRecord& r) {
    char buf[48];
    if (r.thread)
        std::snprintf(buf, sizeof buf, "%x.%u.%u", static_cast<unsigned>(r.pid),
                      static_cast<unsigned>(*r.thread), static_cast<unsigned>(r.count));
    else
        std::snprintf(buf, sizeof buf, "%x.%u", static_cast<unsigned>(r.pid),
                      static_cast<unsigned>(r.count));
    return buf;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += sep;
        out += item;
    }
    return out;
}

// Everything after the code: positional fields, empty ones kept in place
// except at the end of the line (see the header's "Empty fields").
class FieldList {
public:
    void add(std::string value) { fields_.push_back(clean(value)); }
    void add_diagnostics(const LogRecord& r, const LogOptions& options) {
        if (!options.diagnostics) return;
        for (const auto& d : r.diagnostics)
            if (!d.empty()) add(d);
    }
    void write_to(std::string& line) {
        while (!fields_.empty() && fields_.back().empty()) fields_.pop_back();
        for (const auto& f : fields_) {
            line += ' ';
            line += f;
        }
    }

private:
    std::vector<std::string> fields_;
};

std::string prefix(const LogRecord& r, const LogOptions& options) {
    std::string line = format_log_time(r.when);
    line += ' ';
    if (options.node) {
        line += clean(r.node);
        line += ' ';
    }
    if (options.process) {
        line += process_id(r);
        line += ' ';
    }
    return line;
}

std::string message_line(const LogRecord& r, const LogOptions& options) {
    std::string line = prefix(r, options);
    append_column(line, r.source_channel);
    append_column(line, r.dest_channel);
    line += record_code_text(r.code, r.modifiers);

    FieldList fields;
    fields.add(std::to_string(size_in_blocks(r.size_bytes, options.block_size)));
    fields.add(address(r.env_from, options));
    fields.add("rfc822;" + address(r.orig_to, options));
    fields.add(address(r.active_to, options));
    if (options.notary) fields.add(std::to_string(r.notary));
    if (options.filename) fields.add(r.filename);
    if (options.message_id) fields.add(join(r.message_ids, ","));
    if (options.username) fields.add(r.auth_user.empty() ? r.username : "*" + r.auth_user);
    if (options.connection & kLogConnectionInfo) fields.add(r.connection_info);
    fields.add_diagnostics(r, options);
    if (r.code == RecordCode::Refused && r.last_in_session) fields.add("(last J of session)");
    fields.write_to(line);
    return line;
}

std::string connection_line(const LogRecord& r, const LogOptions& options) {
    std::string line = prefix(r, options);
    append_column(line, r.source_channel);
    append_column(line, std::string(1, static_cast<char>(r.direction)));
    line += record_code_text(r.code, r.modifiers);

    FieldList fields;
    fields.add(r.transport);
    fields.add(r.application);
    if (r.code == RecordCode::Auth) fields.add(r.auth_user);
    if (r.code == RecordCode::Etrn) fields.add(r.etrn_argument);
    fields.add_diagnostics(r, options);
    fields.write_to(line);
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
    std::string text(1, static_cast<char>(code));
    if (m.esmtp) text += 'E';
    if (m.lmtp) text += 'L';
    if (m.chunking) text += 'C';
    if (m.tls) text += 'S';
    if (m.sasl) text += 'A';
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
