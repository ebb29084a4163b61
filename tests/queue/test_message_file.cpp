#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "queue/crc32c.hpp"
#include "queue/message_file.hpp"

using namespace imta::queue;
using imta::core::Envelope;
using imta::core::Recipient;
using imta::core::Ret;

namespace {

Envelope sample_envelope() {
  Envelope e;
  e.from = "sender@example.org";
  e.envid = "QQ314159";
  e.ret = Ret::hdrs;
  e.source_channel = "tcp_local";
  e.client_ip = "192.0.2.7";
  e.client_helo = "mail.example.org";
  e.client_name = "mail.example.org";
  e.auth_user = "alice";
  e.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384";
  e.received_ms = 1795000000123;
  e.message_id = "<abc@example.org>";
  e.recipients = {{"bob@example.net", "Bob@Example.NET", 3, "rfc822;Bob@Example.NET"},
                  {"carol@example.net", "list@example.net", 0, ""}};
  return e;
}

std::string file_of(Envelope e, std::string_view message, std::string_view history = {}) {
  e.size = message.size();
  return encode_header(e) + std::string(message) + std::string(end_marker) + std::string(history);
}

void check_same(const Envelope& a, const Envelope& b) {
  CHECK(a.from == b.from);
  CHECK(a.envid == b.envid);
  CHECK(a.ret == b.ret);
  CHECK(a.source_channel == b.source_channel);
  CHECK(a.client_ip == b.client_ip);
  CHECK(a.client_helo == b.client_helo);
  CHECK(a.client_name == b.client_name);
  CHECK(a.auth_user == b.auth_user);
  CHECK(a.tls == b.tls);
  CHECK(a.received_ms == b.received_ms);
  CHECK(a.size == b.size);
  CHECK(a.message_id == b.message_id);
  REQUIRE(a.recipients.size() == b.recipients.size());
  for (std::size_t i = 0; i < a.recipients.size(); ++i) {
    CHECK(a.recipients[i].active == b.recipients[i].active);
    CHECK(a.recipients[i].original == b.recipients[i].original);
    CHECK(a.recipients[i].notify == b.recipients[i].notify);
    CHECK(a.recipients[i].orcpt == b.recipients[i].orcpt);
  }
}

}  // namespace

TEST_CASE("a queue file starts with the magic and a fixed-width size record", "[message_file]") {
  auto e = sample_envelope();
  e.size = 1234;
  auto header = encode_header(e);
  CHECK(header.starts_with("IMTA-QUEUE 1\nsize 00000000000000001234\ncheck --------\nfrom sender@example.org\n"));
  CHECK(header.substr(size_field_offset, size_field_width) == "00000000000000001234");
  CHECK(header.substr(check_field_offset, check_field_width) == check_unset);
  CHECK(encode_header(e, "01ISKLSKLZLI90N15M")
            .starts_with("IMTA-QUEUE 1\nsize 00000000000000001234\ncheck --------\nid 01ISKLSKLZLI90N15M\n"
                         "from sender@example.org\n"));
  CHECK(header.find("\nrcpt bob@example.net Bob@Example.NET 3 rfc822;Bob@Example.NET\n") != std::string::npos);
  CHECK(header.find("\nrcpt carol@example.net list@example.net 0 -\n") != std::string::npos);
  CHECK(header.find("\ntls TLSv1.3%20TLS_AES_256_GCM_SHA384\n") != std::string::npos);
  CHECK(header.ends_with("\n\n"));
}

TEST_CASE("every envelope field survives a round trip", "[message_file]") {
  const std::string message = "Subject: hi\r\n\r\nbody\r\n.\r\nmore\r\n";
  auto bytes = file_of(sample_envelope(), message);
  auto parsed = parse_file(bytes);
  REQUIRE(parsed.status == ParseStatus::ok);
  auto expected = sample_envelope();
  expected.size = message.size();
  check_same(parsed.envelope, expected);
  CHECK(bytes.substr(parsed.message_offset, message.size()) == message);
  CHECK(parsed.history.empty());
}

TEST_CASE("values with blanks, newlines, controls and escapes cannot break a record", "[message_file]") {
  Envelope e = sample_envelope();
  e.from = "";  // <>
  e.envid = "-";
  e.client_helo = "evil\r\nrcpt x@y z 0 -\n\nInjected: yes";
  e.auth_user = std::string("nul\0byte%41 tab\t\x7f\xc3\xa9", 19);
  e.recipients = {{"a b@example.net", "%2D", 15, "rfc822;a\nb"}};
  auto parsed = parse_file(file_of(e, "x\r\n"));
  REQUIRE(parsed.status == ParseStatus::ok);
  e.size = 3;
  check_same(parsed.envelope, e);
  auto header = encode_header(e);
  // Exactly one recipient line, and no byte that a terminal would act on.
  CHECK(header.find("\nrcpt ") == header.rfind("\nrcpt "));
  bool printable = true;
  for (unsigned char c : header) printable = printable && ((c >= 0x20 && c < 0x7F) || c == '\n');
  CHECK(printable);
}

TEST_CASE("escape_value and unescape_value are inverses and reject bad escapes", "[message_file]") {
  for (const std::string& v : std::vector<std::string>{"", "-", "--", "%", "a b", "\n", std::string(1, '\0'),
                                                      "plain@example.org"}) {
    auto escaped = escape_value(v);
    CHECK_FALSE(escaped.empty());
    CHECK(escaped.find(' ') == std::string::npos);
    CHECK(unescape_value(escaped) == v);
  }
  CHECK(escape_value("") == "-");
  CHECK(escape_value("-") == "%2D");
  CHECK(escape_value("a b%") == "a%20b%25");
  CHECK_FALSE(unescape_value("%"));
  CHECK_FALSE(unescape_value("%4"));
  CHECK_FALSE(unescape_value("%G0"));
  CHECK_FALSE(unescape_value(""));
  CHECK_FALSE(unescape_value("a\tb"));
}

TEST_CASE("history records follow the end marker; a torn last record is ignored", "[message_file]") {
  HistoryRecord first{1795000001000, Outcome::deferred, "bob@example.net", "smtp;451 4.7.1 try later\r\n"};
  HistoryRecord second{1795000002000, Outcome::warned, "", ""};
  std::string history = encode_history(first) + encode_history(second);
  CHECK(encode_history(second) == "hist 1795000002000 warned - -\n");

  auto parsed = parse_file(file_of(sample_envelope(), "m\r\n", history + "hist 1795000003000 deliv"));
  REQUIRE(parsed.status == ParseStatus::ok);
  REQUIRE(parsed.history.size() == 2);
  CHECK(parsed.history[0].time_ms == first.time_ms);
  CHECK(parsed.history[0].outcome == Outcome::deferred);
  CHECK(parsed.history[0].recipient == first.recipient);
  CHECK(parsed.history[0].diagnostic == first.diagnostic);
  CHECK(parsed.history[1].outcome == Outcome::warned);
  CHECK(parsed.history[1].recipient.empty());

  // A torn record closed by a later append is one bad line, skipped.
  auto repaired = parse_file(file_of(sample_envelope(), "m\r\n", "hist 17 defer\n" + history));
  REQUIRE(repaired.status == ParseStatus::ok);
  CHECK(repaired.history.size() == 2);
}

TEST_CASE("every outcome class has a name that parses back", "[message_file]") {
  for (auto o : {Outcome::delivered, Outcome::deferred, Outcome::bounced, Outcome::held, Outcome::released,
                 Outcome::warned, Outcome::note}) {
    auto parsed = parse_file(file_of(sample_envelope(), "m", encode_history({5, o, "r@x", "d"})));
    REQUIRE(parsed.history.size() == 1);
    CHECK(parsed.history[0].outcome == o);
  }
}

TEST_CASE("a file cut anywhere before its end marker is incomplete, never ok", "[message_file]") {
  auto whole = file_of(sample_envelope(), std::string(300, 'x') + "\r\n");
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    auto parsed = parse_file(std::string_view(whole).substr(0, cut));
    INFO("cut at " << cut);
    CHECK(parsed.status == ParseStatus::incomplete);
  }
  CHECK(parse_file(whole).status == ParseStatus::ok);
}

TEST_CASE("a file of zeros (blocks allocated, never written) is incomplete", "[message_file]") {
  CHECK(parse_file(std::string(4096, '\0')).status == ParseStatus::incomplete);
  CHECK(parse_file("").status == ParseStatus::incomplete);
}

TEST_CASE("a file whose size was never patched is incomplete", "[message_file]") {
  Envelope e = sample_envelope();
  e.size = 0;  // the placeholder a crash may leave
  auto bytes = encode_header(e) + "message\r\n" + std::string(end_marker);
  auto parsed = parse_file(bytes);
  CHECK(parsed.status == ParseStatus::incomplete);
  CHECK_FALSE(parsed.error.empty());
}

TEST_CASE("a complete file whose envelope does not parse is corrupt", "[message_file]") {
  auto good = file_of(sample_envelope(), "m\r\n");
  SECTION("bad escape") {
    auto bytes = good;
    bytes.replace(bytes.find("from sender"), 11, "from %zzsend");
    auto parsed = parse_file(bytes);
    CHECK(parsed.status == ParseStatus::corrupt);
    CHECK(parsed.error.find("escape") != std::string::npos);
  }
  SECTION("unknown version") {
    auto bytes = good;
    bytes.replace(0, file_magic.size(), "IMTA-QUEUE 9\n");
    auto parsed = parse_file(bytes);
    CHECK(parsed.status == ParseStatus::corrupt);
    CHECK(parsed.error.find("IMTA-QUEUE 9") != std::string::npos);
  }
  SECTION("recipient with a missing field") {
    auto bytes = good;
    bytes.replace(bytes.find(" rfc822;Bob@Example.NET"), 23, "");
    CHECK(parse_file(bytes).status == ParseStatus::corrupt);
  }
  SECTION("no recipient") {
    Envelope e = sample_envelope();
    e.recipients.clear();
    CHECK(parse_file(file_of(e, "m")).status == ParseStatus::corrupt);
  }
  SECTION("not a queue file at all") {
    CHECK(parse_file("From: someone\r\n\r\nhello\r\n\x01" "END\n").status == ParseStatus::corrupt);
    // Not something we could have left half-written either: kept, not removed.
    CHECK(parse_file("From: someone\r\n\r\nhello\r\n").status == ParseStatus::corrupt);
  }
  SECTION("another format version, even without an end marker") {
    CHECK(parse_file("IMTA-QUEUE 2\nsomething else entirely\n").status == ParseStatus::corrupt);
  }
}

TEST_CASE("unknown envelope records are ignored", "[message_file]") {
  auto bytes = file_of(sample_envelope(), "m\r\n");
  bytes.insert(bytes.find("from "), "x-future something\n");
  auto parsed = parse_file(bytes);
  REQUIRE(parsed.status == ParseStatus::ok);
  CHECK(parsed.envelope.from == "sender@example.org");
}

TEST_CASE("parse_header works on the first bytes of a file only", "[message_file]") {
  auto e = sample_envelope();
  const std::string message(100000, 'b');
  auto bytes = file_of(e, message);
  std::string_view head = std::string_view(bytes).substr(0, 4096);
  std::size_t offset = 0;
  std::string error;
  auto envelope = parse_header(head, &error, &offset);
  REQUIRE(envelope);
  CHECK(envelope->from == e.from);
  CHECK(envelope->size == message.size());
  CHECK(envelope->recipients.size() == 2);
  CHECK(offset == encode_header(*envelope).size());
  CHECK(find_header_end(head) == offset);

  // Too few bytes: no envelope, an error, and find_header_end asks for more.
  auto short_head = std::string_view(bytes).substr(0, offset - 1);
  CHECK_FALSE(parse_header(short_head, &error));
  CHECK(error.find("incomplete") != std::string::npos);
  CHECK_FALSE(find_header_end(short_head));
}

TEST_CASE("parse_trailer needs the end marker first", "[message_file]") {
  std::vector<HistoryRecord> history;
  CHECK(parse_trailer(end_marker, history));
  CHECK(history.empty());
  CHECK_FALSE(parse_trailer("", history));
  CHECK_FALSE(parse_trailer("x\x01" "END\n", history));
}

// ---- notices (the copies enqueued to `process`) ------------------------------------

namespace {

imta::core::Notice sample_notice() {
  imta::core::Notice n;
  n.kind = imta::core::NoticeKind::failure;
  n.original_id = "0abcdefghijklmnopq";
  n.original_message_id = "<orig@example.org>";
  n.original_from = "sender@example.org";
  n.original_envid = "ENV 42";
  n.original_ret = Ret::full;
  n.reporting_channel = "tcp_local";
  n.arrival_ms = 1795000000123;
  n.postmaster = "postmaster@example.org";
  n.postmaster_headers_only = true;
  n.recipients = {{"bob@example.net", "rfc822;Bob@Example.NET", "failed", "5.1.1", "dns; mx.example.net",
                   "smtp; 550 5.1.1 <bob@example.net>: no such user\r\n(second line)", 1795000100456},
                  {"carol@example.net", "", "failed", "5.4.4", "", "", 0}};
  return n;
}

void check_same_notice(const imta::core::Notice& a, const imta::core::Notice& b) {
  CHECK(a.kind == b.kind);
  CHECK(a.original_id == b.original_id);
  CHECK(a.original_message_id == b.original_message_id);
  CHECK(a.original_from == b.original_from);
  CHECK(a.original_envid == b.original_envid);
  CHECK(a.original_ret == b.original_ret);
  CHECK(a.reporting_channel == b.reporting_channel);
  CHECK(a.arrival_ms == b.arrival_ms);
  CHECK(a.postmaster == b.postmaster);
  CHECK(a.postmaster_headers_only == b.postmaster_headers_only);
  REQUIRE(a.recipients.size() == b.recipients.size());
  for (std::size_t i = 0; i < a.recipients.size(); ++i) {
    INFO("notice recipient " << i);
    CHECK(a.recipients[i].final_recipient == b.recipients[i].final_recipient);
    CHECK(a.recipients[i].original_recipient == b.recipients[i].original_recipient);
    CHECK(a.recipients[i].action == b.recipients[i].action);
    CHECK(a.recipients[i].status == b.recipients[i].status);
    CHECK(a.recipients[i].remote_mta == b.recipients[i].remote_mta);
    CHECK(a.recipients[i].diagnostic == b.recipients[i].diagnostic);
    CHECK(a.recipients[i].last_attempt_ms == b.recipients[i].last_attempt_ms);
  }
}

}  // namespace

TEST_CASE("a notice survives a round trip, every kind and field", "[message_file][notice]") {
  for (auto kind : {imta::core::NoticeKind::failure, imta::core::NoticeKind::delay,
                    imta::core::NoticeKind::success}) {
    Envelope e = sample_envelope();
    e.from = "";
    e.source_channel = "tcp_local";
    e.notice = sample_notice();
    e.notice.kind = kind;
    auto parsed = parse_file(file_of(e, "Subject: x\r\n\r\nbody\r\n"));
    REQUIRE(parsed.status == ParseStatus::ok);
    e.size = parsed.envelope.size;
    check_same(parsed.envelope, e);
    check_same_notice(parsed.envelope.notice, e.notice);
  }
}

TEST_CASE("a notice with RET unspecified and no recipients round-trips", "[message_file][notice]") {
  Envelope e = sample_envelope();
  e.notice = sample_notice();
  e.notice.original_ret = Ret::unspecified;
  e.notice.recipients.clear();
  e.notice.postmaster.clear();
  e.notice.postmaster_headers_only = false;
  auto parsed = parse_file(file_of(e, "m\r\n"));
  REQUIRE(parsed.status == ParseStatus::ok);
  check_same_notice(parsed.envelope.notice, e.notice);
}

TEST_CASE("a file without a notice writes no notice records and reads back none", "[message_file][notice]") {
  auto bytes = file_of(sample_envelope(), "m\r\n");
  CHECK(bytes.find("notice") == std::string::npos);
  auto parsed = parse_file(bytes);
  REQUIRE(parsed.status == ParseStatus::ok);
  CHECK(parsed.envelope.notice.kind == imta::core::NoticeKind::none);
  CHECK(parsed.envelope.notice.recipients.empty());
}

TEST_CASE("notice records have one value each, so older readers skip them", "[message_file][notice]") {
  Envelope e = sample_envelope();
  e.notice = sample_notice();
  auto bytes = file_of(e, "m\r\n");
  auto header = bytes.substr(0, *find_header_end(bytes));
  std::size_t notice_lines = 0;
  for (std::size_t pos = 0; pos < header.size();) {
    auto nl = header.find('\n', pos);
    auto line = header.substr(pos, nl - pos);
    if (line.starts_with("notice")) {
      ++notice_lines;
      CHECK(std::count(line.begin(), line.end(), ' ') == 1);
    }
    pos = nl + 1;
  }
  CHECK(notice_lines == 10 + 2 * 7);
  CHECK(header.find("notice failure\n") != std::string::npos);
  CHECK(header.find("notice-rcpt bob@example.net\nnotice-orcpt rfc822;Bob@Example.NET\n") != std::string::npos);
}

TEST_CASE("malformed notice records make the file corrupt; unknown ones are ignored", "[message_file][notice]") {
  Envelope e = sample_envelope();
  e.notice = sample_notice();
  auto good = file_of(e, "m\r\n");
  SECTION("unknown kind") {
    auto bytes = good;
    bytes.replace(bytes.find("notice failure"), 14, "notice whatever");
    CHECK(parse_file(bytes).status == ParseStatus::corrupt);
  }
  SECTION("recipient field before any notice-rcpt") {
    auto bytes = good;
    bytes.insert(bytes.find("notice "), "notice-status 5.0.0\n");
    CHECK(parse_file(bytes).status == ParseStatus::corrupt);
  }
  SECTION("bad time") {
    auto bytes = good;
    bytes.replace(bytes.find("notice-arrival 1795000000123"), 28, "notice-arrival yesterday");
    CHECK(parse_file(bytes).status == ParseStatus::corrupt);
  }
  SECTION("a later version's record, even with several fields") {
    auto bytes = good;
    bytes.insert(bytes.find("notice "), "notice-x-future a b c\nx-other 1 2\n");
    auto parsed = parse_file(bytes);
    REQUIRE(parsed.status == ParseStatus::ok);
    check_same_notice(parsed.envelope.notice, e.notice);
  }
}

// --- the seal: check digits and id ---------------------------------------------

namespace {

/// A whole file image as the store writes it: header for `id`, message,
/// end marker, with the size and the check digits filled in.
std::string sealed_file(const std::string& id, const std::string& message) {
  auto e = sample_envelope();
  e.size = message.size();
  std::string file = encode_header(e, id);
  const std::size_t from = checked_offset(file);
  std::uint32_t crc = crc32c(0, std::string_view(file).substr(from));
  crc = crc32c(crc32c(crc, message), end_marker);
  file.replace(check_field_offset, check_field_width, check_digits(crc));
  return file + message + std::string(end_marker);
}

}  // namespace

TEST_CASE("CRC-32C gives the standard check value, and extends over pieces", "[message_file]") {
  CHECK(crc32c(0, "123456789") == 0xE3069283u);
  CHECK(crc32c(0, "") == 0u);
  const std::string text = "The quick brown fox jumps over the lazy dog, twice over and then some more.";
  for (std::size_t cut = 0; cut <= text.size(); ++cut)
    CHECK(crc32c(crc32c(0, text.substr(0, cut)), text.substr(cut)) == crc32c(0, text));
}

TEST_CASE("a sealed file parses with its id, and any changed byte under the seal makes it corrupt",
          "[message_file]") {
  const std::string message = "Subject: hi\r\n\r\nbody\r\n";
  const std::string file = sealed_file("01ISKLSKLZLI90N15M", message);
  auto parsed = parse_file(file);
  REQUIRE(parsed.status == ParseStatus::ok);
  CHECK(parsed.seal.id == "01ISKLSKLZLI90N15M");
  REQUIRE(parsed.seal.check);
  CHECK(check_digits(*parsed.seal.check) == file.substr(check_field_offset, check_field_width));
  // Every byte from the first envelope record to the end marker is covered:
  // a recipient or a message byte from another file is caught.
  const std::size_t from = file.find("\nfrom ") + 1;
  for (std::size_t i = from; i < file.size(); ++i) {
    std::string damaged = file;
    damaged[i] = damaged[i] == 'x' ? 'y' : 'x';
    auto p = parse_file(damaged);
    INFO("byte " << i);
    CHECK(p.status != ParseStatus::ok);
  }
  std::string wrong = file;
  wrong.replace(file.find("body"), 4, "BODY");
  auto p = parse_file(wrong);
  CHECK(p.status == ParseStatus::corrupt);
  CHECK(p.error.find("check digits") != std::string::npos);
}

TEST_CASE("a file without check digits is read as before", "[message_file]") {
  auto e = sample_envelope();
  const std::string message = "m\r\n";
  e.size = message.size();
  auto unsealed = parse_file(encode_header(e) + message + std::string(end_marker));
  CHECK(unsealed.status == ParseStatus::ok);
  CHECK_FALSE(unsealed.seal.check);
  CHECK(unsealed.seal.id.empty());
  // Written before the seal existed: no check or id record at all.
  std::string old = encode_header(e);
  old.erase(old.find("check "), 6 + check_field_width + 1);
  auto legacy = parse_file(old + message + std::string(end_marker));
  CHECK(legacy.status == ParseStatus::ok);
  CHECK_FALSE(legacy.seal.check);
  CHECK(legacy.envelope.from == e.from);
}
