// The buffered mail.log writer: records reach the file after a flush or on
// destruction, in order, stamped with the time they were handed in.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "core/log/async_log.hpp"

using namespace imta::core::log;
namespace fs = std::filesystem;

namespace {

struct LogDir {
  fs::path dir;
  LogDir() {
    std::string tmpl = (fs::temp_directory_path() / "imta-async-log-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
  }
  ~LogDir() { fs::remove_all(dir); }
  std::vector<std::string> lines(std::string_view name = kMailLogCurrent) const {
    std::ifstream in(dir / name);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
};

LogRecord refused(std::string to) {
  LogRecord r;
  r.code = RecordCode::Refused;
  r.source_channel = "tcp_local";
  r.env_from = "a@x.example";
  r.active_to = std::move(to);
  r.diagnostics = {"550 5.7.1 no"};
  return r;
}

}  // namespace

TEST_CASE("queued records reach mail.log_current in order after flush()", "[async_log]") {
  LogDir d;
  MailLogFileOptions o;
  o.log_dir = d.dir;
  AsyncMailLog log(o, std::chrono::milliseconds(60000));  // only flush() writes here
  for (int i = 0; i < 100; ++i) log.write(refused("u" + std::to_string(i) + "@y.org"));
  log.flush();
  auto lines = d.lines();
  REQUIRE(lines.size() == 100);
  CHECK(lines[0].find(" J 0 a@x.example rfc822; u0@y.org 550 5.7.1 no") != std::string::npos);
  CHECK(lines[99].find("u99@y.org") != std::string::npos);
}

TEST_CASE("the destructor writes what is still queued", "[async_log]") {
  LogDir d;
  {
    MailLogFileOptions o;
    o.log_dir = d.dir;
    AsyncMailLog log(o, std::chrono::milliseconds(60000));
    log.write(std::vector<LogRecord>{refused("a@y.org"), refused("b@y.org")});
  }
  CHECK(d.lines().size() == 2);
}

TEST_CASE("a record keeps the time it was handed in", "[async_log]") {
  LogDir d;
  MailLogFileOptions o;
  o.log_dir = d.dir;
  AsyncMailLog log(o);
  auto when = std::chrono::system_clock::from_time_t(946684800);  // 2000-01-01 00:00:00 UTC
  log.write(refused("old@y.org"), when);
  log.flush();
  auto lines = d.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].substr(0, 23) == format_log_time(local_log_time(when)));
}

TEST_CASE("new options apply to records queued after set_options", "[async_log]") {
  LogDir d;
  MailLogFileOptions o;
  o.log_dir = d.dir;
  AsyncMailLog log(o);
  LogRecord open;
  open.code = RecordCode::ConnectionOpen;
  open.source_channel = "tcp_local";
  open.transport = "TCP|127.0.0.1|25|192.0.2.1|4000";
  open.application = "SMTP";
  log.write(open);  // LOG_CONNECTION=0: not written
  log.flush();
  o.format.connection = kLogConnectionRecords;
  o.separate_connection_log = true;
  log.set_options(o);
  log.write(open);
  log.flush();
  CHECK(d.lines().empty());
  CHECK(d.lines(kConnectionLogCurrent).size() == 1);
}
