// DATA decoding: exact dot-unstuffing, the end of data only at CRLF.CRLF,
// every SMTP smuggling variant refused, size and line limits that keep the
// session in step, and the BDAT line-end check.
#include <catch2/catch.hpp>

#include "core/smtp/data_decoder.hpp"
#include "tests/core/smtp/smtp_test_support.hpp"

using namespace imta::core::smtp;
using namespace std::string_literals;

namespace {

struct Outcome {
  DataStatus status = DataStatus::need_more;
  std::size_t consumed = 0;
  std::string message;
  std::optional<Reply> refusal;
  bool operator==(const Outcome&) const = default;
};

// Feeds `input` in pieces of `chunk` bytes (0: all at once), stopping where
// the decoder stops, as a session would.
Outcome decode(std::string_view input, std::size_t chunk = 0, DataLimits limits = {}) {
  DataDecoder decoder(limits);
  Outcome out;
  if (chunk == 0) chunk = input.size() + 1;
  for (std::size_t at = 0; at < input.size() || at == 0; at += chunk) {
    auto progress = decoder.feed(input.substr(at, chunk), out.message);
    out.status = progress.status;
    out.consumed += progress.consumed;
    if (progress.status != DataStatus::need_more) break;
    if (input.empty()) break;
  }
  out.refusal = decoder.refusal();
  return out;
}

// The dot-stuffing an SMTP client does, plus the end marker: what a correct
// client would send for `message` (which must be CRLF text).
std::string stuff(std::string_view message) {
  std::string out;
  bool line_start = true;
  for (char c : message) {
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = c == '\n';
  }
  if (!line_start) out += "\r\n";
  return out + ".\r\n";
}

const char* name(DataStatus s) {
  switch (s) {
    case DataStatus::need_more: return "need_more";
    case DataStatus::done: return "done";
    case DataStatus::failed: return "failed";
  }
  return "?";
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<Outcome> {
  static std::string convert(const Outcome& o) {
    return std::string(name(o.status)) + " consumed " + std::to_string(o.consumed) + " message \"" +
           o.message + "\" refusal " + (o.refusal ? StringMaker<Reply>::convert(*o.refusal) : "none");
  }
};
}  // namespace Catch

TEST_CASE("message data is unstuffed exactly and ends only at CRLF.CRLF", "[smtp_data]") {
  struct Case {
    std::string input;
    DataStatus status;
    std::string message;
    std::size_t consumed;
  };
  const std::vector<Case> cases = {
      {"Hello\r\n.\r\n", DataStatus::done, "Hello\r\n", 10},
      {".\r\n", DataStatus::done, "", 3},
      {"\r\n.\r\n", DataStatus::done, "\r\n", 5},
      {"a\r\n..\r\n.\r\n", DataStatus::done, "a\r\n.\r\n", 10},
      {"..x\r\n.\r\n", DataStatus::done, ".x\r\n", 8},
      {"...\r\n.\r\n", DataStatus::done, "..\r\n", 8},
      {".x\r\n.\r\n", DataStatus::done, "x\r\n", 7},  // a lone leading dot is dropped (§4.5.2)
      {". \r\n.\r\n", DataStatus::done, " \r\n", 7},
      {"a.\r\n.\r\n", DataStatus::done, "a.\r\n", 7},
      {"a\r\n.b\r\n..\r\n.\r\n", DataStatus::done, "a\r\nb\r\n.\r\n", 14},
      {"Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<b@example.org>\r\n", DataStatus::done,
       "Subject: x\r\n\r\nbody\r\n", 23},
      {"a\r\n.\r\n.\r\n", DataStatus::done, "a\r\n", 6},
      {"8bit \xc3\xa9 and NUL \0 kept\r\n.\r\n"s, DataStatus::done, "8bit \xc3\xa9 and NUL \0 kept\r\n"s, 27},
      {"Hello\r\n", DataStatus::need_more, "Hello\r\n", 7},
      {"Hello\r\n.", DataStatus::need_more, "Hello\r\n", 8},
      {"Hello\r\n.\r", DataStatus::need_more, "Hello\r\n", 9},
      {"Hello\r", DataStatus::need_more, "Hello", 6},
      {"", DataStatus::need_more, "", 0},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.input);
    Outcome whole = decode(c.input);
    CHECK(whole.status == c.status);
    CHECK(whole.message == c.message);
    CHECK(whole.consumed == c.consumed);
    CHECK_FALSE(whole.refusal);
    CHECK(decode(c.input, 1) == whole);
    CHECK(decode(c.input, 2) == whole);
    CHECK(decode(c.input, 3) == whole);
  }
}

TEST_CASE("every SMTP smuggling variant is refused, never taken as the end", "[smtp_data]") {
  const Reply lf = bare_lf_reply();
  const Reply cr = bare_cr_reply();
  struct Case {
    std::string input;
    Reply refusal;
    std::size_t consumed;  // through the byte that gave it away
  };
  const std::string smuggled = "MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n";
  const std::vector<Case> cases = {
      {"a\n.\n" + smuggled, lf, 2},
      {"a\n.\r\n" + smuggled, lf, 2},
      {"a\r\n.\n" + smuggled, lf, 5},
      {"a\r.\r" + smuggled, cr, 3},
      {"a\r\n.\r" + smuggled, cr, 6},
      {"a\r\n.\r\r\n" + smuggled, cr, 6},
      {"a\r\r\n.\r\r\n" + smuggled, cr, 3},
      {"a\n\r.\r\n" + smuggled, lf, 2},
      {"a\r\n\n.\r\n" + smuggled, lf, 4},
      {"a\r\n.\n\r\n" + smuggled, lf, 5},
      {"\n.\n" + smuggled, lf, 1},
      {".\n" + smuggled, lf, 2},
      {"\r.\r\n" + smuggled, cr, 2},
      {".\r.\r\n", cr, 3},
      {"a\rb\r\n.\r\n", cr, 3},
      {"a\nb\r\n.\r\n", lf, 2},
      {"a\r\n\r\r\n.\r\n", cr, 5},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.input);
    Outcome whole = decode(c.input);
    CHECK(whole.status == DataStatus::failed);
    CHECK(whole.refusal == c.refusal);
    CHECK(whole.consumed == c.consumed);
    CHECK(decode(c.input, 1) == whole);
  }
  CHECK(lf == Reply{554, "5.6.0", "Bare LF in message data: lines must end with CRLF (RFC 5321 section 2.3.8)"});
  CHECK(cr == Reply{554, "5.6.0", "Bare CR in message data: lines must end with CRLF (RFC 5321 section 2.3.8)"});
}

TEST_CASE("a failed or finished decoder consumes nothing more", "[smtp_data]") {
  DataDecoder decoder;
  std::string message;
  CHECK(decoder.feed("a\n", message).status == DataStatus::failed);
  auto again = decoder.feed("\r\n.\r\n", message);
  CHECK(again.status == DataStatus::failed);
  CHECK(again.consumed == 0);

  decoder.reset();
  message.clear();
  auto done = decoder.feed("b\r\n.\r\nQUIT\r\n", message);
  CHECK(done.status == DataStatus::done);
  CHECK(done.consumed == 6);
  CHECK_FALSE(decoder.refusal());
  auto after = decoder.feed("QUIT\r\n", message);
  CHECK(after.status == DataStatus::done);
  CHECK(after.consumed == 0);
  CHECK(message == "b\r\n");
}

TEST_CASE("an oversized message is refused after its real end, in step", "[smtp_data]") {
  const Reply too_big{552, "5.3.4", "Message size exceeds fixed maximum message size"};
  struct Case {
    std::string input;
    std::uint64_t limit;
    std::optional<Reply> refusal;
    std::size_t consumed;
    std::uint64_t size;
  };
  const std::string big = std::string(1000, 'x') + "\r\n";
  const std::vector<Case> cases = {
      {"01234567\r\n.\r\n", 10, std::nullopt, 13, 10},
      {"012345678\r\n.\r\n", 10, too_big, 14, 11},
      {"0123456789\r\n..\r\n.\r\nQUIT\r\n", 10, too_big, 19, 15},
      {big + big + big + ".\r\nRSET\r\n", 2000, too_big, 3009, 3006},
      // Past the limit a bare LF still fails the transfer: nothing is ignored.
      {big + "a\n.\n", 10, bare_lf_reply(), 1004, 1003},
  };
  for (const auto& c : cases) {
    INFO("input: " << c.input.substr(0, 40) << " limit " << c.limit);
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
      DataLimits limits{c.limit, 0};
      Outcome got = decode(c.input, chunk, limits);
      CHECK(got.refusal == c.refusal);
      CHECK(got.consumed == c.consumed);
      CHECK(got.message.size() <= c.limit);  // memory stays within the limit
      DataDecoder decoder(limits);
      std::string message;
      decoder.feed(c.input, message);
      CHECK(decoder.size() == c.size);
    }
  }
}

TEST_CASE("long lines are accepted unless a limit is set", "[smtp_data]") {
  const std::string long_line = std::string(5000, 'x') + "\r\n.\r\n";
  Outcome free = decode(long_line);
  CHECK(free.status == DataStatus::done);
  CHECK_FALSE(free.refusal);
  CHECK(free.message.size() == 5002);

  const Reply too_long{554, "5.6.0", "Message has a line longer than 998 characters (RFC 5322 section 2.1.1)"};
  struct Case {
    std::string input;
    std::optional<Reply> refusal;
  };
  const std::vector<Case> cases = {
      {std::string(998, 'x') + "\r\n.\r\n", std::nullopt},
      {std::string(999, 'x') + "\r\n.\r\n", too_long},
      {"." + std::string(998, 'x') + "\r\n.\r\n", std::nullopt},  // the stuffing dot does not count
      {"a\r\n" + std::string(998, 'x') + "\r\n" + std::string(998, 'y') + "\r\n.\r\n", std::nullopt},
      {std::string(500, 'x') + "\r\n" + std::string(1500, 'y') + "\r\n.\r\nQUIT\r\n", too_long},
  };
  for (const auto& c : cases) {
    INFO("input size " << c.input.size());
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{100}}) {
      Outcome got = decode(c.input, chunk, DataLimits{0, 998});
      CHECK(got.status == DataStatus::done);
      CHECK(got.refusal == c.refusal);
      CHECK(c.input.substr(got.consumed).find(".\r\n") == std::string::npos);  // read to the real end
    }
  }
}

TEST_CASE("BDAT chunks: bare CR and LF are refused across chunk borders", "[smtp_data]") {
  struct Case {
    std::vector<std::string> chunks;
    std::optional<Reply> refusal;
  };
  const std::vector<Case> cases = {
      {{"Subject: x\r\n\r\nbody\r\n"}, std::nullopt},
      {{"a\r", "\nb\r\n"}, std::nullopt},
      {{"a\r\n.\r\n", "more\r\n"}, std::nullopt},  // no end marker in BDAT
      {{"no final CRLF"}, std::nullopt},
      {{""}, std::nullopt},
      {{"a\r", "b"}, bare_cr_reply()},
      {{"a\n"}, bare_lf_reply()},
      {{"a\r\n", "\nb"}, bare_lf_reply()},
      {{"a\r"}, bare_cr_reply()},  // a CR ending the last chunk
      {{"a\r\r\n"}, bare_cr_reply()},
      {{"a\n", "b\r"}, bare_lf_reply()},  // the first problem sticks
  };
  for (const auto& c : cases) {
    INFO("first chunk: " << c.chunks.front());
    CrlfChecker checker;
    for (const auto& chunk : c.chunks) checker.check(chunk);
    checker.finish();
    CHECK(checker.refusal() == c.refusal);
    checker.reset();
    CHECK_FALSE(checker.refusal());
  }
}

TEST_CASE("random data: chunking never matters and accepted data round-trips", "[smtp_data]") {
  for (int round = 0; round < 3000; ++round) {
    std::string input;
    std::size_t n = imta::test::pick(60);
    // Mostly well-formed CRLF text with dots at line starts; sometimes a bare CR or LF.
    for (std::size_t i = 0; i < n; ++i) {
      switch (imta::test::pick(8)) {
        case 0: input += "\r\n"; break;
        case 1: input += "\r\n."; break;
        case 2: input += '.'; break;
        case 3: if (imta::test::pick(10) == 0) input += '\n'; break;
        case 4: if (imta::test::pick(10) == 0) input += '\r'; break;
        default: input += 'a'; break;
      }
    }
    if (imta::test::pick(2)) input += "\r\n.\r\n";
    INFO("input: " << input);
    Outcome whole = decode(input);
    CHECK(decode(input, 1) == whole);
    CHECK(decode(input, 1 + imta::test::pick(7)) == whole);
    if (whole.status != DataStatus::done) continue;
    // Accepted data is CRLF text, and re-stuffing it reads back the same.
    for (std::size_t i = 0; i < whole.message.size(); ++i) {
      if (whole.message[i] == '\n') CHECK((i > 0 && whole.message[i - 1] == '\r'));
      if (whole.message[i] == '\r') CHECK((i + 1 < whole.message.size() && whole.message[i + 1] == '\n'));
    }
    Outcome again = decode(stuff(whole.message));
    CHECK(again.status == DataStatus::done);
    CHECK(again.message == whole.message);
  }
}

TEST_CASE("mutated data never crashes the decoder", "[smtp_data]") {
  const std::vector<std::string> seeds = {
      "From: a\r\n\r\n..x\r\n.\r\n", "a\r\n.\r\nMAIL FROM:<x@y>\r\n", "\r\n.\r\n", "x\r\n..\r\n.\r\n"};
  for (int i = 0; i < 20000; ++i) {
    std::string input = imta::test::mutate(seeds[imta::test::pick(seeds.size())]);
    INFO("input: " << input);
    Outcome got = decode(input, 1 + imta::test::pick(5), DataLimits{8, 4});
    CHECK(decode(input, 0, DataLimits{8, 4}) == got);  // chunking never matters, limits or not
    CHECK(got.consumed <= input.size());
    CHECK(got.message.size() <= 8);
    if (got.status == DataStatus::failed) CHECK(got.refusal);
    if (got.status == DataStatus::need_more) CHECK(got.consumed == input.size());
  }
}
