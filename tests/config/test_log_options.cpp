// option.dat's LOG_* options as the mail.log formatter's settings, and the
// `logging` keyword deciding which channels log.
#include <catch2/catch.hpp>

#include <string>

#include "config/imta_cnf.hpp"
#include "config/log_options.hpp"
#include "config/options.hpp"
#include "config/source_lines.hpp"

using namespace imta::config;
namespace mlog = imta::core::log;

namespace {

Options option_dat(const std::string& text) {
  Diagnostics diags;
  auto lines = split_source(text, "option.dat", option_file_read_options(), diags);
  auto o = parse_option_dat(lines, diags);
  REQUIRE(diags.ok());
  return o;
}

ImtaCnf imta_cnf(const std::string& text) {
  Diagnostics diags;
  auto lines = split_source(text, "imta.cnf", ReadOptions{}, diags);
  auto cnf = parse_imta_cnf(lines, diags);
  REQUIRE(diags.ok());
  return cnf;
}

// A K record as `imta qm delete` writes it, to see the options take effect.
mlog::LogRecord removed_record() {
  mlog::LogRecord r;
  r.when = mlog::LogTime{2026, 11, 21, 10, 31, 5, 42};
  r.code = mlog::RecordCode::Removed;
  r.node = "mx1";
  r.pid = 0x1a2b;
  r.count = 3;
  r.source_channel = "tcp_local";
  r.size_bytes = 2049;
  r.env_from = "a@example.org";
  r.orig_to = "b@example.net";
  r.active_to = "b@example.net";
  r.notary = 6;
  r.filename = "/q/tcp_local/ZZ01ABC.00";
  r.message_ids = {"<m1@example.org>"};
  r.diagnostics = {"deleted by imta qm"};
  return r;
}

}  // namespace

TEST_CASE("an empty option.dat gives the formatter's defaults", "[log_options]") {
  auto l = log_options(option_dat(""));
  const mlog::LogOptions d;
  CHECK(l.filename == d.filename);
  CHECK(l.message_id == d.message_id);
  CHECK(l.process == d.process);
  CHECK(l.username == d.username);
  CHECK(l.notary == d.notary);
  CHECK(l.node == d.node);
  CHECK(l.connection == d.connection);
  CHECK(l.block_size == d.block_size);
  CHECK(l.format == d.format);
  CHECK(l.diagnostics == d.diagnostics);
  CHECK_FALSE(separate_connection_log(option_dat("")));
}

TEST_CASE("every LOG_* option reaches the formatter", "[log_options]") {
  auto o = option_dat(
      "LOG_FILENAME=1\nLOG_MESSAGE_ID=1\nLOG_PROCESS=1\nLOG_USERNAME=1\nLOG_NOTARY=1\n"
      "LOG_NODE=1\nLOG_CONNECTION=16%83\nBLOCK_SIZE=512\nLOG_FORMAT=2\nLOG_DIAGNOSTICS=0\n"
      "SEPARATE_CONNECTION_LOG=1\n");
  auto l = log_options(o);
  CHECK(l.filename);
  CHECK(l.message_id);
  CHECK(l.process);
  CHECK(l.username);
  CHECK(l.notary);
  CHECK(l.node);
  CHECK(l.connection == 0x83);
  CHECK(l.block_size == 512);
  CHECK(l.format == 2);
  CHECK_FALSE(l.diagnostics);
  CHECK(separate_connection_log(o));

  // And the line shows it: node, process, size in 512-byte blocks, notary,
  // file, message-id, an empty username field (LOG_USERNAME) and no diagnostics.
  auto line = mlog::format_record(removed_record(), l);
  REQUIRE(line);
  CHECK(*line ==
        "21-Nov-2026 10:31:05.42 mx1 1a2b.3 tcp_local                 K 5 a@example.org "
        "rfc822;b@example.net b@example.net 6 /q/tcp_local/ZZ01ABC.00 <m1@example.org>");
}

TEST_CASE("the default option.dat of imta init logs file names and message ids", "[log_options]") {
  auto l = log_options(option_dat("LOG_CONNECTION=3\nLOG_FILENAME=1\nLOG_MESSAGE_ID=1\nBLOCK_SIZE=1024\n"));
  auto line = mlog::format_record(removed_record(), l);
  REQUIRE(line);
  CHECK(*line ==
        "21-Nov-2026 10:31:05.42 tcp_local                 K 3 a@example.org rfc822;b@example.net "
        "b@example.net /q/tcp_local/ZZ01ABC.00 <m1@example.org>  deleted by imta qm");
}

TEST_CASE("only channels with the logging keyword log", "[log_options]") {
  auto cnf = imta_cnf(
      "a.example $U@a-daemon\n\n"
      "l logging\nlocal.test\n\n"
      "tcp_local smtp\ntcp_local-daemon\n\n"
      "defaults logging\n\n"
      "tcp_auth smtp\ntcp_auth-daemon\n\n"
      "bitbucket nologging\nbitbucket-daemon\n");
  CHECK(channel_logs(cnf, "l"));
  CHECK_FALSE(channel_logs(cnf, "tcp_local"));  // nologging is the default
  CHECK(channel_logs(cnf, "tcp_auth"));         // from defaults
  CHECK_FALSE(channel_logs(cnf, "bitbucket"));  // the block overrides defaults
  CHECK_FALSE(channel_logs(cnf, "nosuch"));
}
