// LineReader (command and reply lines from a byte stream) and replies: their
// wire form and the parser the SMTP client reads them with.
#include <catch2/catch.hpp>

#include "core/smtp/line_reader.hpp"
#include "core/smtp/reply.hpp"
#include "tests/core/smtp/smtp_test_support.hpp"

using namespace imta::core::smtp;

namespace {

// What the reader produced, one entry per event: the line (with a "[LF]"
// mark for a bare LF) or "<too long>".
std::vector<std::string> drain(LineReader& reader) {
  std::vector<std::string> events;
  for (;;) {
    auto next = reader.next();
    if (next.status == LineReader::Status::need_more) return events;
    if (next.status == LineReader::Status::too_long) events.emplace_back("<too long>");
    else events.push_back(std::string(next.line) + (next.bare_lf ? "[LF]" : ""));
  }
}

std::vector<std::string> read_all(const std::vector<std::string>& chunks, std::size_t max_line) {
  LineReader reader(max_line);
  std::vector<std::string> events;
  for (const auto& chunk : chunks) {
    reader.feed(chunk);
    for (auto& e : drain(reader)) events.push_back(std::move(e));
  }
  return events;
}

}  // namespace

TEST_CASE("lines come out whole however the bytes arrive", "[smtp_line]") {
  struct Case {
    std::vector<std::string> chunks;
    std::size_t max_line;
    std::vector<std::string> lines;
    std::string left_over;
  };
  const std::vector<Case> cases = {
      {{"EHLO a.example\r\n"}, 4096, {"EHLO a.example"}, ""},
      {{"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"}, 4096,
       {"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "DATA"}, ""},
      {{"MAIL FR", "OM:<a@b.example>\r", "\nRC", "PT TO:<c@d.example>\r\n"}, 4096,
       {"MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>"}, ""},
      {{"NOOP\r\nQUI"}, 4096, {"NOOP"}, "QUI"},
      {{"NOOP\nRSET\r\n"}, 4096, {"NOOP[LF]", "RSET"}, ""},
      {{"\r\n\n"}, 4096, {"", "[LF]"}, ""},
      {{"NOOP\rRSET\r\n"}, 4096, {"NOOP\rRSET"}, ""},  // bare CR stays; parse_command refuses it
      {{"NOOP\r\r\n"}, 4096, {"NOOP\r"}, ""},
      // 16 octets including CRLF fit a limit of 16; 17 do not.
      {{std::string(14, 'x') + "\r\n"}, 16, {std::string(14, 'x')}, ""},
      {{std::string(15, 'x') + "\n"}, 16, {std::string(15, 'x') + "[LF]"}, ""},
      {{std::string(15, 'x') + "\r\n"}, 16, {"<too long>"}, ""},
      {{std::string(15, 'x') + "\r\nNOOP\r\n"}, 16, {"<too long>", "NOOP"}, ""},
      {{std::string(40, 'x'), std::string(40, 'y'), "z\r\nQUIT\r\n"}, 16, {"<too long>", "QUIT"}, ""},
      {{std::string(16, 'x'), "\r\nRSET\r\nNO"}, 16, {"<too long>", "RSET"}, "NO"},
  };
  for (const auto& c : cases) {
    std::string all;
    for (const auto& chunk : c.chunks) all += chunk;
    INFO("input: " << all);
    CHECK(read_all(c.chunks, c.max_line) == c.lines);
    // One byte at a time gives the same lines.
    std::vector<std::string> bytes;
    for (char ch : all) bytes.emplace_back(1, ch);
    CHECK(read_all(bytes, c.max_line) == c.lines);
    LineReader reader(c.max_line);
    reader.feed(all);
    drain(reader);
    CHECK(reader.buffered() == c.left_over);
  }
}

TEST_CASE("an overlong line is dropped as it comes, not buffered", "[smtp_line]") {
  LineReader reader(LineReader::rfc_min_line);
  reader.feed(std::string(100000, 'A'));
  CHECK(reader.next().status == LineReader::Status::need_more);
  CHECK(reader.buffered().empty());
  CHECK(reader.discarding() == 100000);
  reader.feed(std::string(5000, 'B'));
  CHECK(reader.next().status == LineReader::Status::need_more);
  CHECK(reader.discarding() == 105000);
  reader.feed("C\r\nQUIT\r\n");
  CHECK(reader.next().status == LineReader::Status::too_long);
  CHECK(reader.discarding() == 0);
  auto quit = reader.next();
  CHECK(quit.status == LineReader::Status::line);
  CHECK(quit.line == "QUIT");
}

TEST_CASE("after STARTTLS what the client pipelined in clear is dropped", "[smtp_line]") {
  LineReader reader;
  reader.feed("STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<x");
  auto first = reader.next();
  REQUIRE(first.status == LineReader::Status::line);
  CHECK(first.line == "STARTTLS");
  CHECK(reader.buffered() == "MAIL FROM:<evil@example.org>\r\nRCPT TO:<x");
  reader.discard_buffered();
  CHECK(reader.buffered().empty());
  CHECK(reader.next().status == LineReader::Status::need_more);
  reader.feed("EHLO tls.example\r\n");  // the first bytes after the handshake
  auto ehlo = reader.next();
  REQUIRE(ehlo.status == LineReader::Status::line);
  CHECK(ehlo.line == "EHLO tls.example");
}

TEST_CASE("pipelined BDAT chunk bytes can be taken from the buffer", "[smtp_line]") {
  LineReader reader;
  reader.feed("BDAT 5 LAST\r\nHelloQUIT\r\n");
  auto bdat = reader.next();
  REQUIRE(bdat.status == LineReader::Status::line);
  CHECK(bdat.line == "BDAT 5 LAST");
  CHECK(reader.buffered().substr(0, 5) == "Hello");
  reader.consume(5);
  auto quit = reader.next();
  REQUIRE(quit.status == LineReader::Status::line);
  CHECK(quit.line == "QUIT");
  reader.consume(100);  // more than buffered: just empties it
  CHECK(reader.buffered().empty());
}

TEST_CASE("random streams split the same in any chunking", "[smtp_line]") {
  for (int round = 0; round < 300; ++round) {
    std::string all;
    for (std::size_t n = imta::test::pick(400); n > 0; --n) all += "ab\r\n."[imta::test::pick(5)];
    std::vector<std::string> whole{all};
    std::vector<std::string> pieces;
    for (std::size_t at = 0; at < all.size();) {
      std::size_t len = 1 + imta::test::pick(9);
      pieces.push_back(all.substr(at, len));
      at += len;
    }
    INFO("input: " << all);
    CHECK(read_all(pieces, 32) == read_all(whole, 32));
  }
}

TEST_CASE("replies format to the wire", "[smtp_line]") {
  struct Case {
    Reply reply;
    std::string wire;
  };
  const std::vector<Case> cases = {
      {{250, "", "OK"}, "250 OK\r\n"},
      {{250, "2.1.0", "Sender OK"}, "250 2.1.0 Sender OK\r\n"},
      {{250, "", "mx.example greets client.example\nPIPELINING\nSIZE 1000"},
       "250-mx.example greets client.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"},
      {{550, "5.1.1", "No such user\nsee the postmaster"},
       "550-5.1.1 No such user\r\n550 5.1.1 see the postmaster\r\n"},
      {{354, "", "Start mail input; end with <CRLF>.<CRLF>"}, "354 Start mail input; end with <CRLF>.<CRLF>\r\n"},
      {{250, "", ""}, "250\r\n"},
      {{250, "2.0.0", ""}, "250 2.0.0\r\n"},
      {{250, "", "a\n"}, "250-a\r\n250\r\n"},
      {{500, "5.5.2", "bad\rthing\x01 250 OK"}, "500 5.5.2 bad?thing? 250 OK\r\n"},
      {{221, "2.0.0", std::string(600, 'x')}, "221 2.0.0 " + std::string(500, 'x') + "\r\n"},
  };
  for (const auto& c : cases) {
    INFO("reply: " << Catch::Detail::stringify(c.reply));
    std::string wire = to_wire(c.reply);
    CHECK(wire == c.wire);
  }
}

TEST_CASE("replies parse back from a server's lines", "[smtp_line]") {
  struct Case {
    std::vector<std::string> lines;
    Reply expected;
  };
  const std::vector<Case> cases = {
      {{"250 OK"}, {250, "", "OK"}},
      {{"250-mx.example", "250-PIPELINING", "250 SIZE 100"}, {250, "", "mx.example\nPIPELINING\nSIZE 100"}},
      {{"550-5.1.1 No such", "550 5.1.1 user here"}, {550, "5.1.1", "No such\nuser here"}},
      {{"250-2.0.0 first", "250 second"}, {250, "2.0.0", "first\nsecond"}},
      {{"250 2.1.5"}, {250, "2.1.5", ""}},
      {{"250"}, {250, "", ""}},
      {{"250-", "250 x"}, {250, "", "\nx"}},
      {{"451 4.3.0 Try later"}, {451, "4.3.0", "Try later"}},
      {{"250 4.3.0 odd"}, {250, "", "4.3.0 odd"}},  // class does not match the code
      {{"250 2.0.0x"}, {250, "", "2.0.0x"}},
      {{"220 mx.example ESMTP"}, {220, "", "mx.example ESMTP"}},
  };
  for (const auto& c : cases) {
    INFO("first line: " << c.lines.front());
    ReplyParser parser;
    for (std::size_t i = 0; i + 1 < c.lines.size(); ++i)
      CHECK(parser.feed_line(c.lines[i]) == ReplyParser::Status::need_more);
    REQUIRE(parser.feed_line(c.lines.back()) == ReplyParser::Status::complete);
    CHECK(parser.reply() == c.expected);
  }
}

TEST_CASE("malformed replies are reported, and the parser starts afresh", "[smtp_line]") {
  struct Case {
    std::vector<std::string> lines;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"25 OK"}, "reply line does not start with a three-digit code"},
      {{"abc"}, "reply line does not start with a three-digit code"},
      {{"650 x"}, "reply line does not start with a three-digit code"},
      {{""}, "reply line does not start with a three-digit code"},
      {{"250x"}, "reply code is not followed by a space or a hyphen"},
      {{"250-a", "251 b"}, "reply lines carry different codes"},
  };
  for (const auto& c : cases) {
    INFO("first line: " << c.lines.front());
    ReplyParser parser;
    for (std::size_t i = 0; i + 1 < c.lines.size(); ++i) parser.feed_line(c.lines[i]);
    REQUIRE(parser.feed_line(c.lines.back()) == ReplyParser::Status::malformed);
    CHECK(parser.error() == c.error);
    REQUIRE(parser.feed_line("221 bye") == ReplyParser::Status::complete);
    CHECK(parser.reply() == Reply{221, "", "bye"});
  }
  ReplyParser endless;
  for (std::size_t i = 0; i < ReplyParser::max_lines; ++i)
    REQUIRE(endless.feed_line("250-x") == ReplyParser::Status::need_more);
  CHECK(endless.feed_line("250-x") == ReplyParser::Status::malformed);
  CHECK(endless.error() == "reply has too many lines");
}

TEST_CASE("a client reads pipelined replies from one read", "[smtp_line]") {
  LineReader reader;
  reader.feed("250-mx.example\r\n250 8BITMIME\r\n250 2.1.0 OK\r\n550 5.1.1 No");
  ReplyParser parser;
  std::vector<Reply> replies;
  for (auto next = reader.next(); next.status == LineReader::Status::line; next = reader.next())
    if (parser.feed_line(next.line) == ReplyParser::Status::complete) replies.push_back(parser.reply());
  CHECK(replies == std::vector<Reply>{{250, "", "mx.example\n8BITMIME"}, {250, "2.1.0", "OK"}});
  CHECK(reader.buffered() == "550 5.1.1 No");
}

TEST_CASE("formatted replies parse back to themselves", "[smtp_line]") {
  const std::vector<Reply> replies = {
      {250, "", "mx.example\nPIPELINING\nSIZE 10240000\nDSN"},
      {550, "5.7.1", "Relaying denied\nAsk your postmaster"},
      {421, "4.4.2", "Timeout"},
      {354, "", "Go ahead"},
      {250, "2.0.0", ""},
  };
  for (const auto& reply : replies) {
    LineReader reader;
    reader.feed(to_wire(reply));
    ReplyParser parser;
    ReplyParser::Status status = ReplyParser::Status::need_more;
    for (auto next = reader.next(); next.status == LineReader::Status::line; next = reader.next())
      status = parser.feed_line(next.line);
    REQUIRE(status == ReplyParser::Status::complete);
    CHECK(parser.reply() == reply);
  }
}

TEST_CASE("mutated reply lines never crash the parser", "[smtp_line]") {
  const std::vector<std::string> seeds = {"250-mx.example", "250 2.1.0 OK", "550-5.1.1 a", "354 go"};
  ReplyParser parser;
  for (int i = 0; i < 20000; ++i) {
    std::string line = imta::test::mutate(seeds[imta::test::pick(seeds.size())]);
    auto status = parser.feed_line(line);
    if (status == ReplyParser::Status::complete) {
      CHECK(parser.reply().code >= 200);
      CHECK(parser.reply().code <= 599);
      CHECK((parser.reply().enhanced.empty() || is_enhanced_code(parser.reply().enhanced)));
    } else if (status == ReplyParser::Status::malformed) {
      CHECK_FALSE(parser.error().empty());
    }
  }
}
