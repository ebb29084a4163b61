// Unit tests of imta-loadgen's pure parts: SMTP reply parsing, command lines,
// dot-stuffing and DATA decoding, the test messages, percentiles and summaries.
// The programs themselves are tested end to end in test_loadgen.py.
#include <catch2/catch.hpp>
#include <algorithm>
#include <set>
#include <vector>

#include "tools/loadgen/message.hpp"
#include "tools/loadgen/smtp_text.hpp"
#include "tools/loadgen/stats.hpp"

using namespace imta::tools::loadgen;

TEST_CASE("a one-line reply is parsed and only its bytes are consumed", "[loadgen]") {
  ReplyParse r = parse_reply("250 2.0.0 Ok\r\n354 next");
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(r.reply.code == 250);
  CHECK(r.reply.kind() == 2);
  CHECK(r.reply.lines == std::vector<std::string>{"2.0.0 Ok"});
  CHECK(r.consumed == 14);
}

TEST_CASE("a multi-line reply ends at the line with a space after the code", "[loadgen]") {
  ReplyParse r = parse_reply("250-mx.example Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(r.reply.lines.size() == 3);
  CHECK(r.reply.lines[2] == "SIZE 1000");
}

TEST_CASE("an incomplete reply asks for more", "[loadgen]") {
  CHECK(parse_reply("").status == ParseStatus::need_more);
  CHECK(parse_reply("250-first\r\n250 seco").status == ParseStatus::need_more);
  CHECK(parse_reply("25").status == ParseStatus::need_more);
}

TEST_CASE("bare LF and a code without text are accepted", "[loadgen]") {
  ReplyParse r = parse_reply("221\n");
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(r.reply.code == 221);
  CHECK(r.reply.lines == std::vector<std::string>{""});
}

TEST_CASE("malformed replies are refused, not guessed at", "[loadgen]") {
  CHECK(parse_reply("hello\r\n").status == ParseStatus::bad);
  CHECK(parse_reply("250-a\r\n251 b\r\n").status == ParseStatus::bad);
  CHECK(parse_reply("250_x\r\n").status == ParseStatus::bad);
  CHECK(parse_reply("650 x\r\n").status == ParseStatus::bad);
  CHECK(parse_reply(std::string(max_reply_line + 10, '2')).status == ParseStatus::bad);
  std::string endless;
  for (std::size_t i = 0; i <= max_reply_lines; ++i) endless += "250-x\r\n";
  CHECK(parse_reply(endless).status == ParseStatus::bad);
}

TEST_CASE("EHLO capabilities are found by keyword, case-insensitively", "[loadgen]") {
  ReplyParse r = parse_reply("250-PIPELINING.example greets you\r\n250-size 10240000\r\n250-StartTLS\r\n250 8BITMIME\r\n");
  REQUIRE(r.status == ParseStatus::complete);
  Capabilities caps = parse_ehlo(r.reply);
  CHECK_FALSE(caps.pipelining);  // the first line names the server
  CHECK(caps.size);
  CHECK(caps.starttls);
  r = parse_reply("250-x\r\n250 PIPELINING\r\n");
  CHECK(parse_ehlo(r.reply).pipelining);
}

TEST_CASE("command lines are split off the input with a length limit", "[loadgen]") {
  LineFind f = find_line("MAIL FROM:<a@b>\r\nRCPT", 100);
  REQUIRE(f.status == ParseStatus::complete);
  CHECK(f.line == "MAIL FROM:<a@b>");
  CHECK(f.consumed == 17);
  CHECK(find_line("RCPT TO:<a", 100).status == ParseStatus::need_more);
  CHECK(find_line(std::string(100, 'x'), 100).status == ParseStatus::bad);
  CHECK(find_line(std::string(200, 'x') + "\r\n", 100).status == ParseStatus::bad);
}

TEST_CASE("commands are split into an upper-case verb and an argument", "[loadgen]") {
  Command c = split_command("mail FROM:<a@b>  ");
  CHECK(c.verb == "MAIL");
  CHECK(c.argument == "FROM:<a@b>");
  c = split_command("  quit");
  CHECK(c.verb == "QUIT");
  CHECK(c.argument.empty());
}

TEST_CASE("BDAT arguments: a size and an optional LAST", "[loadgen]") {
  auto chunk = parse_bdat("1024 LAST");
  REQUIRE(chunk);
  CHECK(chunk->size == 1024);
  CHECK(chunk->last);
  chunk = parse_bdat("0");
  REQUIRE(chunk);
  CHECK(chunk->size == 0);
  CHECK_FALSE(chunk->last);
  CHECK(parse_bdat("12 last")->last);
  CHECK(parse_bdat("9999999999999999999")->size == 9999999999999999999ull);
  CHECK_FALSE(parse_bdat(""));
  CHECK_FALSE(parse_bdat("LAST"));
  CHECK_FALSE(parse_bdat("12LAST"));
  CHECK_FALSE(parse_bdat("12 FIRST"));
  CHECK_FALSE(parse_bdat("-1 LAST"));
  CHECK_FALSE(parse_bdat("99999999999999999999"));  // 20 digits
  Reply r = parse_reply("250-x\r\n250 CHUNKING\r\n").reply;
  CHECK(parse_ehlo(r).chunking);
  CHECK_FALSE(parse_ehlo(r).pipelining);
}

TEST_CASE("dot-stuffing doubles a leading dot on every line and nothing else", "[loadgen]") {
  CHECK(dot_stuff(".a\r\n..b\r\nc.\r\n.\r\n") == "..a\r\n...b\r\nc.\r\n..\r\n");
  CHECK(dot_stuff("no dots\r\n") == "no dots\r\n");
}

namespace {

/// Feeds `wire` to a decoder in pieces of `piece` bytes; returns the decoded
/// message and how many bytes were used.
std::pair<std::string, std::size_t> decode_in_pieces(const std::string& wire, std::size_t piece) {
  DataDecoder decoder;
  std::string out;
  std::size_t used = 0;
  while (used < wire.size() && !decoder.done()) {
    std::string_view chunk = std::string_view(wire).substr(used, piece);
    used += decoder.feed(chunk, &out);
  }
  CHECK(decoder.done());
  CHECK(decoder.size() == out.size());
  return {out, used};
}

}  // namespace

TEST_CASE("DATA decoding undoes dot-stuffing however the input is split", "[loadgen]") {
  const std::string message = ".first\r\n..second\r\nplain\r\n\r\n.\r\n.. \r\nlast\r\n";
  const std::string wire = dot_stuff(message) + ".\r\nMAIL FROM:<next>\r\n";
  for (std::size_t piece = 1; piece <= wire.size(); ++piece) {
    auto [out, used] = decode_in_pieces(wire, piece);
    CHECK(out == message);
    CHECK(wire.substr(used) == "MAIL FROM:<next>\r\n");
  }
}

TEST_CASE("only CRLF.CRLF ends the data: bare LF or CR cannot smuggle an end", "[loadgen]") {
  const std::string wire = "a\n.\nb\r.\rc\r\n.\r\n";
  auto [out, used] = decode_in_pieces(wire, wire.size());
  CHECK(out == "a\n.\nb\r.\rc\r\n");
  CHECK(used == wire.size());
}

TEST_CASE("an empty message and count-only decoding", "[loadgen]") {
  DataDecoder decoder;
  CHECK(decoder.feed(".\r\n", nullptr) == 3);
  CHECK(decoder.done());
  CHECK(decoder.size() == 0);
  decoder.reset();
  decoder.feed("abc\r\n..d\r\n.\r\n", nullptr);
  CHECK(decoder.done());
  CHECK(decoder.size() == 9);  // "abc\r\n.d\r\n"
}

TEST_CASE("recipient templates replace every %d", "[loadgen]") {
  CHECK(expand_recipient("user%d@example.test", 7) == "user7@example.test");
  CHECK(expand_recipient("a%d-%d@x", 12) == "a12-12@x");
  CHECK(expand_recipient("fixed@x", 3) == "fixed@x");
  CHECK(expand_recipient("100%", 3) == "100%");
}

TEST_CASE("messages have exactly the requested size and valid lines", "[loadgen]") {
  for (std::size_t size : {600u, 1000u, 1024u, 1101u, 2048u, 4099u, 100000u}) {
    MessageFactory factory("sender@example.test", "user1@example.test", "loadgen.example.test", size);
    std::string first = factory.header(1, 0) + factory.body();
    std::string last = factory.header(4294967295u, 2000000000) + factory.body();
    CAPTURE(size);
    CHECK(first.size() == size);
    CHECK(last.size() == size);
    CHECK(factory.message_size() == size);
    // Every line ends in CRLF, none is longer than RFC 5322 allows, no bare CR or LF.
    std::size_t start = 0;
    while (start < first.size()) {
      std::size_t end = first.find("\r\n", start);
      REQUIRE(end != std::string::npos);
      CHECK(end - start <= 998);
      CHECK(first.substr(start, end - start).find_first_of("\r\n") == std::string::npos);
      start = end + 2;
    }
  }
}

TEST_CASE("every body carries lines that start with dots, stuffed on the wire", "[loadgen]") {
  MessageFactory factory("s@x", "r@x", "x", 2048);
  CHECK(factory.body().find("\r\n" + std::string(body_dot_line) + "\r\n") != std::string::npos);
  CHECK(factory.body().find("\r\n" + std::string(body_two_dots_line) + "\r\n") != std::string::npos);
  CHECK(factory.stuffed_body() == dot_stuff(factory.body()));
  CHECK(factory.stuffed_body().find("\r\n." + std::string(body_dot_line)) != std::string::npos);
}

TEST_CASE("each message has its own Message-ID", "[loadgen]") {
  MessageFactory factory("", "r@x", "loadgen.test", 1024);
  std::set<std::string> ids;
  for (std::uint64_t n = 1; n <= 50; ++n) {
    std::string header = factory.header(n, 0);
    std::size_t at = header.find("Message-ID: <");
    REQUIRE(at != std::string::npos);
    ids.insert(header.substr(at, header.find('\n', at) - at));
  }
  CHECK(ids.size() == 50);
  CHECK(factory.header(1, 0).find("From: <MAILER-DAEMON@loadgen.test>") != std::string::npos);
}

TEST_CASE("ordered Message-IDs sort in sending order; scattered ones are unique, of one length, in no order",
          "[loadgen]") {
  MessageFactory ordered("s@x", "r@x", "loadgen.test", 1024);
  MessageFactory scattered("s@x", "r@x", "loadgen.test", 1024, MessageIds::scattered);
  std::vector<std::string> in_order, spread;
  for (std::uint64_t n = 1; n <= 200; ++n) {
    in_order.push_back(ordered.message_id(n));
    spread.push_back(scattered.message_id(n));
  }
  CHECK(std::is_sorted(in_order.begin(), in_order.end()));
  CHECK_FALSE(std::is_sorted(spread.begin(), spread.end()));
  CHECK(std::set<std::string>(spread.begin(), spread.end()).size() == spread.size());
  // The hash leads ("<" + 16 hex digits + "."), the ordered id follows whole.
  for (std::size_t i = 0; i < spread.size(); ++i) {
    CAPTURE(spread[i]);
    REQUIRE(spread[i].size() == in_order[i].size() + 17);
    CHECK(spread[i].find_first_not_of("0123456789abcdef", 1) == 17);
    CHECK(spread[i][17] == '.');
    CHECK(spread[i].substr(18) == in_order[i].substr(1));
  }
  // Sixteen leading hex digits spread over the whole range: both halves used.
  const auto high = std::count_if(spread.begin(), spread.end(), [](const std::string& id) { return id[1] >= '8'; });
  CHECK(high > 60);
  CHECK(high < 140);
  // Messages keep their exact size, and carry the scattered id.
  CHECK(scattered.header(7, 0).size() + scattered.body().size() == 1024);
  CHECK(find_message_id(scattered.header(7, 0) + scattered.body()) == scattered.message_id(7));
}

TEST_CASE("percentiles use the nearest rank over all samples", "[loadgen]") {
  LatencySamples samples;
  for (int i = 100; i >= 1; --i) samples.add(i);
  Percentiles p = samples.percentiles();
  CHECK(p.count == 100);
  CHECK(p.p50 == 50);
  CHECK(p.p90 == 90);
  CHECK(p.p99 == 99);
  CHECK(p.max == 100);

  LatencySamples one;
  one.add(3.5);
  CHECK(one.percentiles().p50 == 3.5);
  CHECK(one.percentiles().p99 == 3.5);
  CHECK(LatencySamples().percentiles().count == 0);
  CHECK(nearest_rank({1, 2, 3}, 50) == 2);
}

TEST_CASE("send totals merge and print every figure", "[loadgen]") {
  SendTotals a, b;
  a.accepted = 3;
  a.latency.add(1);
  b.accepted = 2;
  b.refused_4xx = 1;
  b.refused_5xx = 4;
  b.errors = 1;
  b.latency.add(2);
  a.merge(b);
  a.messages = 11;
  a.elapsed_seconds = 2;
  CHECK(a.accepted == 5);
  CHECK(a.latency.count() == 2);
  std::string text = format_send_summary(a);
  CHECK(text.find("accepted      5\n") != std::string::npos);
  CHECK(text.find("refused       5 (4xx 1, 5xx 4)\n") != std::string::npos);
  CHECK(text.find("errors        1\n") != std::string::npos);
  CHECK(text.find("rate          2.5 messages/s\n") != std::string::npos);
  std::string json = format_send_json(a);
  CHECK(json.find("\"refused_5xx\":4") != std::string::npos);
  CHECK(json.find("\"messages_per_s\":2.500") != std::string::npos);
  CHECK(json.find("\"max\":2.000") != std::string::npos);
}

TEST_CASE("find_message_id takes the header's Message-ID, whatever its case and folding", "[loadgen]") {
  CHECK(find_message_id("From: a@b\r\nMessage-ID: <1.2@x.test>\r\n\r\nbody\r\n") == "<1.2@x.test>");
  CHECK(find_message_id("message-id:\r\n  <folded@x.test>\r\nTo: c@d\r\n\r\n") == "<folded@x.test>");
  // Only the header counts; none gives "".
  CHECK(find_message_id("From: a@b\r\n\r\nMessage-ID: <in-body@x.test>\r\n").empty());
  CHECK(find_message_id("").empty());
  // The factory's ids are found in its own messages.
  MessageFactory factory("a@example.test", "b@example.test", "loadgen.example.test", 1024);
  CHECK(find_message_id(factory.header(7, 0) + factory.body()) == factory.message_id(7));
}
