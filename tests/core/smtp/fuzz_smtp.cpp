// libFuzzer entry point for the SMTP parsers. Not built by meson (it needs
// clang's -fsanitize=fuzzer); the Catch2 tests run a small fixed-seed version
// of the same idea on every build. Build and run from the repository root:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     tests/core/smtp/fuzz_smtp.cpp core/smtp/*.cpp core/text.cpp -o /tmp/fuzz_smtp
//   /tmp/fuzz_smtp -max_total_time=300 -max_len=4096 /tmp/fuzz_smtp_corpus
//
// (create the corpus folder first; libFuzzer fills it). The first input byte
// picks the parser, the rest is its input. Besides "no crash, no sanitizer
// report" it checks properties a bug would break: feeding the data decoder
// one byte at a time gives what one big feed gives, accepted data re-parses,
// and every refusal formats to a single reply line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/smtp/address.hpp"
#include "core/smtp/command.hpp"
#include "core/smtp/data_decoder.hpp"
#include "core/smtp/line_reader.hpp"
#include "core/smtp/reply.hpp"
#include "core/smtp/xtext.hpp"

using namespace imta::core::smtp;

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

void check_refusal(const Reply& reply) {
  std::string wire = to_wire(reply);
  require(wire.find('\n') == wire.size() - 1);
}

void fuzz_command(std::string_view in, bool utf8) {
  auto got = parse_command(in, CommandContext{utf8});
  if (!got) check_refusal(got.error());
}

void fuzz_path(std::string_view in, bool utf8) {
  auto got = parse_forward_path(in, utf8);
  if (!got) return check_refusal(got.error());
  auto again = parse_forward_path("<" + got->address() + ">", utf8);
  require(again.has_value() && *again == *got);
}

DataProgress decode(std::string_view in, std::size_t chunk, std::string& out) {
  DataDecoder decoder(DataLimits{64, 32});
  DataProgress total{DataStatus::need_more, 0};
  for (std::size_t at = 0; at < in.size() && total.status == DataStatus::need_more; at += chunk) {
    auto p = decoder.feed(in.substr(at, chunk), out);
    total = {p.status, total.consumed + p.consumed};
  }
  return total;
}

void fuzz_data(std::string_view in) {
  std::string whole, bytes;
  auto a = decode(in, in.size() + 1, whole);
  auto b = decode(in, 1, bytes);
  require(a.status == b.status && a.consumed == b.consumed && whole == bytes);
  require(a.consumed <= in.size() && whole.size() <= 64);
}

void fuzz_lines(std::string_view in) {
  LineReader reader(64);
  ReplyParser replies;
  reader.feed(in);
  for (auto next = reader.next(); next.status != LineReader::Status::need_more; next = reader.next())
    if (next.status == LineReader::Status::line) replies.feed_line(next.line);
}

void fuzz_xtext(std::string_view in) {
  require(xtext_decode(xtext_encode(in)) == std::string(in));
  (void)xtext_decode(in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: fuzz_command(in, false); break;
    case 1: fuzz_command(in, true); break;
    case 2: fuzz_path(in, data[0] & 0x80); break;
    case 3: fuzz_data(in); break;
    case 4: fuzz_lines(in); break;
    default: fuzz_xtext(in); break;
  }
  return 0;
}
