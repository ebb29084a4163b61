#include "queue/message_file.hpp"

#include "core/text.hpp"
#include "queue/crc32c.hpp"

#include <charconv>

namespace imta::queue {

namespace {

constexpr std::string_view hex_digits = "0123456789ABCDEF";

bool needs_escape(unsigned char c) { return c <= 0x20 || c >= 0x7F || c == '%'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <typename Int>
std::optional<Int> parse_number(std::string_view s) {
  Int value{};
  if (s.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

/// Splits on single blanks (escaped values never contain one).
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  while (true) {
    auto blank = line.find(' ');
    out.push_back(line.substr(0, blank));
    if (blank == std::string_view::npos) break;
    line.remove_prefix(blank + 1);
  }
  return out;
}

/// escape_value(value) appended to `out`: runs that need no escape are
/// copied whole (a header is written for every enqueued copy).
void append_escaped(std::string& out, std::string_view value) {
  if (value.empty()) {
    out += '-';
    return;
  }
  if (value == "-") {
    out += "%2D";
    return;
  }
  std::size_t run = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (!needs_escape(c)) continue;
    out.append(value.data() + run, i - run);
    const char escaped[3] = {'%', hex_digits[c >> 4], hex_digits[c & 0xF]};
    out.append(escaped, 3);
    run = i + 1;
  }
  out.append(value.data() + run, value.size() - run);
}

void add_record(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  out += ' ';
  append_escaped(out, value);
  out += '\n';
}

std::string_view ret_name(core::Ret ret) {
  switch (ret) {
    case core::Ret::full: return "full";
    case core::Ret::hdrs: return "hdrs";
    case core::Ret::unspecified: break;
  }
  return "";
}

std::optional<core::Ret> ret_from_name(std::string_view name) {
  if (name.empty()) return core::Ret::unspecified;
  if (name == "full") return core::Ret::full;
  if (name == "hdrs") return core::Ret::hdrs;
  return std::nullopt;
}

std::optional<Outcome> outcome_from_name(std::string_view name) {
  for (auto o : {Outcome::delivered, Outcome::deferred, Outcome::bounced, Outcome::held, Outcome::released,
                 Outcome::warned, Outcome::note})
    if (outcome_name(o) == name) return o;
  return std::nullopt;
}

std::string_view notice_kind_name(core::NoticeKind kind) {
  switch (kind) {
    case core::NoticeKind::failure: return "failure";
    case core::NoticeKind::delay: return "delay";
    case core::NoticeKind::success: return "success";
    case core::NoticeKind::none: break;
  }
  return "";
}

std::optional<core::NoticeKind> notice_kind_from_name(std::string_view name) {
  for (auto k : {core::NoticeKind::failure, core::NoticeKind::delay, core::NoticeKind::success})
    if (notice_kind_name(k) == name) return k;
  return std::nullopt;
}

/// The notice records (see imta-queue(5)): every one has a single value, so
/// a reader that does not know them skips them. Written only for a notice.
void add_notice_records(std::string& out, const core::Notice& n) {
  if (n.kind == core::NoticeKind::none) return;
  add_record(out, "notice", notice_kind_name(n.kind));
  add_record(out, "notice-id", n.original_id);
  add_record(out, "notice-message-id", n.original_message_id);
  add_record(out, "notice-from", n.original_from);
  add_record(out, "notice-envid", n.original_envid);
  add_record(out, "notice-ret", ret_name(n.original_ret));
  add_record(out, "notice-channel", n.reporting_channel);
  add_record(out, "notice-arrival", std::to_string(n.arrival_ms));
  if (!n.postmaster.empty()) {
    add_record(out, "notice-postmaster", n.postmaster);
    add_record(out, "notice-postmaster-content", n.postmaster_headers_only ? "headers" : "full");
  }
  for (const auto& r : n.recipients) {
    // notice-rcpt starts a recipient; the records after it describe it.
    add_record(out, "notice-rcpt", r.final_recipient);
    add_record(out, "notice-orcpt", r.original_recipient);
    add_record(out, "notice-action", r.action);
    add_record(out, "notice-status", r.status);
    add_record(out, "notice-remote-mta", r.remote_mta);
    add_record(out, "notice-diagnostic", r.diagnostic);
    add_record(out, "notice-last-attempt", std::to_string(r.last_attempt_ms));
  }
}

/// One notice record into `notice`; nullopt when `key` is no notice record,
/// false (with `error`) when it is one and malformed.
std::optional<bool> parse_notice_record(std::string_view key, std::string& value, core::Notice& notice,
                                        std::string* error) {
  if (!key.starts_with("notice")) return std::nullopt;
  auto bad = [&](std::string what) -> std::optional<bool> {
    if (error) *error = "bad \"" + std::string(key) + "\" record: " + what;
    return false;
  };
  auto current = [&]() -> core::NoticeRecipient* {
    return notice.recipients.empty() ? nullptr : &notice.recipients.back();
  };
  if (key == "notice") {
    auto kind = notice_kind_from_name(value);
    if (!kind) return bad("unknown kind \"" + value + "\"");
    notice.kind = *kind;
  } else if (key == "notice-id") {
    notice.original_id = std::move(value);
  } else if (key == "notice-message-id") {
    notice.original_message_id = std::move(value);
  } else if (key == "notice-from") {
    notice.original_from = std::move(value);
  } else if (key == "notice-envid") {
    notice.original_envid = std::move(value);
  } else if (key == "notice-ret") {
    auto ret = ret_from_name(value);
    if (!ret) return bad("bad RET value");
    notice.original_ret = *ret;
  } else if (key == "notice-channel") {
    notice.reporting_channel = std::move(value);
  } else if (key == "notice-arrival") {
    auto ms = parse_number<std::int64_t>(value);
    if (!ms) return bad("bad time");
    notice.arrival_ms = *ms;
  } else if (key == "notice-postmaster") {
    notice.postmaster = std::move(value);
  } else if (key == "notice-postmaster-content") {
    if (value != "headers" && value != "full") return bad("not headers or full");
    notice.postmaster_headers_only = value == "headers";
  } else if (key == "notice-rcpt") {
    notice.recipients.push_back({});
    notice.recipients.back().final_recipient = std::move(value);
  } else if (key == "notice-orcpt" || key == "notice-action" || key == "notice-status" ||
             key == "notice-remote-mta" || key == "notice-diagnostic" || key == "notice-last-attempt") {
    auto* r = current();
    if (!r) return bad("before any notice-rcpt");
    if (key == "notice-orcpt") {
      r->original_recipient = std::move(value);
    } else if (key == "notice-action") {
      r->action = std::move(value);
    } else if (key == "notice-status") {
      r->status = std::move(value);
    } else if (key == "notice-remote-mta") {
      r->remote_mta = std::move(value);
    } else if (key == "notice-diagnostic") {
      r->diagnostic = std::move(value);
    } else {
      auto ms = parse_number<std::int64_t>(value);
      if (!ms) return bad("bad time");
      r->last_attempt_ms = *ms;
    }
  } else {
    return std::nullopt;  // a notice record of a later version: ignored
  }
  return true;
}

/// Offset just after the "size" line: where envelope records start.
constexpr std::size_t records_offset = size_field_offset + size_field_width + 1;

bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

/// One envelope record into `envelope`; false (with `error`) if malformed.
bool parse_record(std::string_view line, core::Envelope& envelope, std::string* error) {
  auto parts = fields(line);
  const auto key = parts[0];
  std::vector<std::string> values;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    auto value = unescape_value(parts[i]);
    if (!value) return fail(error, "bad escape in \"" + std::string(key) + "\" record");
    values.push_back(std::move(*value));
  }
  if (key == "rcpt") {
    if (values.size() != 4) return fail(error, "\"rcpt\" record needs 4 fields");
    auto notify = parse_number<unsigned>(values[2]);
    if (!notify) return fail(error, "bad NOTIFY value in \"rcpt\" record");
    envelope.recipients.push_back({std::move(values[0]), std::move(values[1]), *notify, std::move(values[3])});
    return true;
  }
  if (values.size() != 1) {
    // Records of later versions may carry several fields: ignored like any
    // unknown key; ours all have exactly one.
    static constexpr std::string_view known[] = {
        "from",          "envid",          "ret",          "source",        "client-ip",
        "client-helo",   "client-name",    "auth",         "tls",           "received",
        "message-id",    "notice",         "notice-id",    "notice-message-id", "notice-from",
        "notice-envid",  "notice-ret",     "notice-channel", "notice-arrival", "notice-rcpt",
        "notice-postmaster", "notice-postmaster-content",
        "notice-orcpt",  "notice-action",  "notice-status", "notice-remote-mta", "notice-diagnostic",
        "notice-last-attempt"};
    for (auto k : known)
      if (key == k) return fail(error, "\"" + std::string(key) + "\" record needs 1 field");
    return true;
  }
  auto& value = values[0];
  if (auto notice = parse_notice_record(key, value, envelope.notice, error)) return *notice;
  if (key == "from") {
    envelope.from = std::move(value);
  } else if (key == "envid") {
    envelope.envid = std::move(value);
  } else if (key == "ret") {
    auto ret = ret_from_name(value);
    if (!ret) return fail(error, "bad RET value \"" + value + "\"");
    envelope.ret = *ret;
  } else if (key == "source") {
    envelope.source_channel = std::move(value);
  } else if (key == "client-ip") {
    envelope.client_ip = std::move(value);
  } else if (key == "client-helo") {
    envelope.client_helo = std::move(value);
  } else if (key == "client-name") {
    envelope.client_name = std::move(value);
  } else if (key == "auth") {
    envelope.auth_user = std::move(value);
  } else if (key == "tls") {
    envelope.tls = std::move(value);
  } else if (key == "received") {
    auto ms = parse_number<std::int64_t>(value);
    if (!ms) return fail(error, "bad \"received\" time");
    envelope.received_ms = *ms;
  } else if (key == "message-id") {
    envelope.message_id = std::move(value);
  }
  // Unknown keys are ignored on purpose: see the format comment.
  return true;
}

std::optional<HistoryRecord> parse_history_line(std::string_view line) {
  auto parts = fields(line);
  if (parts.size() != 5 || parts[0] != "hist") return std::nullopt;
  auto time = parse_number<std::int64_t>(parts[1]);
  auto outcome = outcome_from_name(parts[2]);
  auto recipient = unescape_value(parts[3]);
  auto diagnostic = unescape_value(parts[4]);
  if (!time || !outcome || !recipient || !diagnostic) return std::nullopt;
  return HistoryRecord{*time, *outcome, std::move(*recipient), std::move(*diagnostic)};
}

}  // namespace

std::string escape_value(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  append_escaped(out, value);
  return out;
}

std::optional<std::string> unescape_value(std::string_view escaped) {
  if (escaped == "-") return std::string();
  if (escaped.empty()) return std::nullopt;
  std::string out;
  out.reserve(escaped.size());
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    char c = escaped[i];
    if (c != '%') {
      if (needs_escape(static_cast<unsigned char>(c))) return std::nullopt;
      out += c;
      continue;
    }
    if (i + 2 >= escaped.size()) return std::nullopt;
    int high = hex_value(escaped[i + 1]);
    int low = hex_value(escaped[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::delivered: return "delivered";
    case Outcome::deferred: return "deferred";
    case Outcome::bounced: return "bounced";
    case Outcome::held: return "held";
    case Outcome::released: return "released";
    case Outcome::warned: return "warned";
    case Outcome::note: break;
  }
  return "note";
}

std::string check_digits(std::uint32_t crc) {
  std::string digits(check_field_width, '0');
  core::put_digits(digits.data(), crc, check_field_width, 16);
  return digits;
}

std::size_t checked_offset(std::string_view header) {
  std::size_t at = check_field_offset + check_field_width + 1;  // after the check line
  if (header.substr(at).starts_with("id ")) {
    auto nl = header.find('\n', at);
    if (nl != std::string_view::npos) at = nl + 1;
  }
  return at;
}

std::string encode_header(const core::Envelope& envelope, std::string_view id) {
  std::string out;
  out.reserve(512);
  out += file_magic;
  out += "size ";
  core::append_decimal(out, envelope.size, size_field_width);
  out += "\ncheck ";
  out += check_unset;
  out += '\n';
  if (!id.empty()) add_record(out, "id", id);
  add_record(out, "from", envelope.from);
  add_record(out, "envid", envelope.envid);
  add_record(out, "ret", ret_name(envelope.ret));
  add_record(out, "source", envelope.source_channel);
  add_record(out, "client-ip", envelope.client_ip);
  add_record(out, "client-helo", envelope.client_helo);
  add_record(out, "client-name", envelope.client_name);
  add_record(out, "auth", envelope.auth_user);
  add_record(out, "tls", envelope.tls);
  char received[24];
  const char* received_end = std::to_chars(received, received + sizeof received, envelope.received_ms).ptr;
  add_record(out, "received", std::string_view(received, static_cast<std::size_t>(received_end - received)));
  add_record(out, "message-id", envelope.message_id);
  add_notice_records(out, envelope.notice);
  for (const auto& r : envelope.recipients) {
    out += "rcpt ";
    append_escaped(out, r.active);
    out += ' ';
    append_escaped(out, r.original);
    out += ' ';
    char notify[12];
    out.append(notify, std::to_chars(notify, notify + sizeof notify, r.notify).ptr);
    out += ' ';
    append_escaped(out, r.orcpt);
    out += '\n';
  }
  out += '\n';
  return out;
}

std::string encode_history(const HistoryRecord& record) {
  std::string out = "hist ";
  out += std::to_string(record.time_ms);
  out += ' ';
  out += outcome_name(record.outcome);
  out += ' ';
  out += escape_value(record.recipient);
  out += ' ';
  out += escape_value(record.diagnostic);
  out += '\n';
  return out;
}

std::optional<std::size_t> find_header_end(std::string_view bytes) {
  // The size line is the last thing before the records; the first empty line
  // after it ends the header (records are never empty).
  if (bytes.size() < records_offset) return std::nullopt;
  auto pos = bytes.find("\n\n", records_offset - 1);
  if (pos == std::string_view::npos) return std::nullopt;
  return pos + 2;
}

bool seal_matches(std::string_view bytes, const FileSeal& seal, std::size_t message_end) {
  if (!seal.check) return true;
  if (message_end > bytes.size() || seal.checked_from > message_end) return false;
  const auto sealed = bytes.substr(seal.checked_from, message_end - seal.checked_from);
  return crc32c(crc32c(0, sealed), end_marker) == *seal.check;
}

std::optional<core::Envelope> parse_header(std::string_view bytes, std::string* error,
                                           std::size_t* message_offset, FileSeal* seal) {
  if (!bytes.starts_with(file_magic)) {
    if (file_magic.starts_with(bytes)) {
      fail(error, "incomplete header");
    } else if (bytes.starts_with("IMTA-QUEUE ")) {
      auto line = bytes.substr(0, bytes.find('\n'));
      fail(error, "unsupported format \"" + std::string(line.substr(0, 40)) + "\"");
    } else {
      fail(error, "not a queue file (no IMTA-QUEUE magic)");
    }
    return std::nullopt;
  }
  if (bytes.size() < records_offset) {
    fail(error, "incomplete header");
    return std::nullopt;
  }
  if (bytes.substr(file_magic.size(), 5) != "size " || bytes[records_offset - 1] != '\n') {
    fail(error, "bad size record");
    return std::nullopt;
  }
  auto size = parse_number<std::uint64_t>(bytes.substr(size_field_offset, size_field_width));
  if (!size) {
    fail(error, "bad size record");
    return std::nullopt;
  }
  auto end = find_header_end(bytes);
  if (!end) {
    fail(error, "incomplete header (no blank line)");
    return std::nullopt;
  }
  core::Envelope envelope;
  envelope.size = *size;
  bool have_from = false;
  std::string_view records = bytes.substr(records_offset, *end - 1 - records_offset);
  // The seal lines, where writers put them (fixed place: the check digits
  // are patched in place at commit).
  FileSeal found;
  found.checked_from = records_offset;
  if (records.starts_with("check ") && records.size() > 6 + check_field_width &&
      records[6 + check_field_width] == '\n') {
    auto digits = records.substr(6, check_field_width);
    if (digits != check_unset) {
      std::uint32_t value = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
      if (ec != std::errc() || ptr != digits.data() + digits.size()) {
        fail(error, "bad check record");
        return std::nullopt;
      }
      found.check = value;
    }
    records.remove_prefix(7 + check_field_width);
    found.checked_from += 7 + check_field_width;
    if (records.starts_with("id ")) {
      auto nl = records.find('\n');
      auto value = unescape_value(records.substr(3, nl == std::string_view::npos ? std::string_view::npos : nl - 3));
      if (!value) {
        fail(error, "bad id record");
        return std::nullopt;
      }
      found.id = std::move(*value);
      const std::size_t line = nl == std::string_view::npos ? records.size() : nl + 1;
      records.remove_prefix(line);
      found.checked_from += line;
    }
  }
  while (!records.empty()) {
    auto nl = records.find('\n');
    auto line = records.substr(0, nl);
    records.remove_prefix(nl == std::string_view::npos ? records.size() : nl + 1);
    if (line.starts_with("from ")) have_from = true;
    if (!parse_record(line, envelope, error)) return std::nullopt;
  }
  if (!have_from) {
    fail(error, "no \"from\" record");
    return std::nullopt;
  }
  if (envelope.recipients.empty()) {
    fail(error, "no \"rcpt\" record");
    return std::nullopt;
  }
  if (message_offset) *message_offset = *end;
  if (seal) *seal = std::move(found);
  return envelope;
}

bool parse_trailer(std::string_view trailer, std::vector<HistoryRecord>& history) {
  if (!trailer.starts_with(end_marker)) return false;
  trailer.remove_prefix(end_marker.size());
  while (true) {
    auto nl = trailer.find('\n');
    if (nl == std::string_view::npos) break;  // torn last record (or nothing left)
    if (auto record = parse_history_line(trailer.substr(0, nl))) history.push_back(std::move(*record));
    trailer.remove_prefix(nl + 1);
  }
  return true;
}

ParsedFile parse_file(std::string_view bytes) {
  ParsedFile parsed;
  std::string error;
  std::size_t offset = 0;
  auto envelope = parse_header(bytes, &error, &offset, &parsed.seal);
  if (!envelope) {
    // Without a header we cannot tell where the end marker belongs. Only
    // what a crash can leave of our own writing counts as incomplete (and
    // gets removed): a beginning of our header, or a file that starts with
    // zeros (blocks the file system allocated but never wrote), without any
    // end marker. Anything else (another format version, a file someone put
    // there, a finished file damaged later) is kept for a human.
    const bool our_beginning = bytes.starts_with(file_magic) || file_magic.starts_with(bytes) ||
                               bytes.front() == '\0';  // (empty `bytes` stops at the test before)
    const bool ours_unfinished = our_beginning && bytes.find(end_marker) == std::string_view::npos;
    parsed.status = ours_unfinished ? ParseStatus::incomplete : ParseStatus::corrupt;
    parsed.error = error;
    return parsed;
  }
  if (envelope->size > bytes.size() - offset) {
    parsed.status = ParseStatus::incomplete;
    parsed.error = "file shorter than its size record";
    return parsed;
  }
  if (!parse_trailer(bytes.substr(offset + envelope->size), parsed.history)) {
    parsed.status = ParseStatus::incomplete;
    parsed.error = "no end marker after the message";
    parsed.history.clear();
    return parsed;
  }
  if (!seal_matches(bytes, parsed.seal, static_cast<std::size_t>(offset + envelope->size))) {
    parsed.status = ParseStatus::corrupt;
    parsed.error = seal_mismatch_error;
    parsed.history.clear();
    return parsed;
  }
  parsed.status = ParseStatus::ok;
  parsed.envelope = std::move(*envelope);
  parsed.message_offset = offset;
  return parsed;
}

}  // namespace imta::queue
