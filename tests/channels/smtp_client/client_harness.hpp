// What the SMTP client's end-to-end tests share: a temporary instance (config
// files, a real queue Store, a real mail.log), child processes (the SMTP
// sink tests/support/smtp_sink.py and the DNS server tests/support/
// dns_server.py) that are stopped when the test ends, also on failure.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/envelope.hpp"
#include "core/instance.hpp"
#include "core/log/async_log.hpp"
#include "queue/master.hpp"
#include "queue/store.hpp"

namespace imta::testing {

namespace fs = std::filesystem;

/// A fresh directory under the system's temporary directory, removed at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// A child process whose standard output we read; SIGINT then SIGKILL and
/// waitpid at the end.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  /// The first line it prints (without the newline); throws after 20 s.
  std::string first_line();

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

/// tests/support/smtp_sink.py on loopback; see its file comment for the script.
class Sink {
 public:
  /// Listens on every address of `listen` on one port (`port`, or a free one).
  Sink(const std::string& script_json, std::vector<std::string> listen = {"127.0.0.2"}, int port = 0);
  int port() const { return port_; }
  /// transcript.log: "<conn> <listener> <event>" lines.
  std::string transcript() const;
  /// How many lines of the transcript contain `text`.
  int count(const std::string& text) const;
  /// msg-N.env and msg-N.wire ("" when there is no such message).
  std::string env(int n) const;
  std::string wire(int n) const;
  const fs::path& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

/// tests/support/dns_server.py serving zones (name -> zone file lines).
class Dns {
 public:
  explicit Dns(const std::vector<std::pair<std::string, std::string>>& zones,
               const std::vector<std::string>& servfail = {});
  /// "127.0.0.1:PORT" for DNS_SERVERS.
  const std::string& server() const { return server_; }

 private:
  TempDir dir_;
  std::unique_ptr<Child> child_;
  std::string server_;
};

/// True when nsd is installed (the DNS tests are skipped without it).
bool have_nsd();

/// A temporary instance whose tcp_local channel has `tcp_keywords`, with
/// `channel_options` in config/tcp_local_option and `option_dat` in
/// config/option.dat, its queue and its mail.log, and the master services.
class TestInstance {
 public:
  TestInstance(const std::string& tcp_keywords, const std::string& channel_options = "",
               const std::string& option_dat = "");
  ~TestInstance();

  /// Enqueues `message` for `envelope` to tcp_local and claims the file.
  queue::Claim enqueue(core::Envelope envelope, const std::string& message);
  /// The master of tcp_local.
  std::unique_ptr<queue::Master> master();
  /// mail.log_current after a flush.
  std::string log_text();
  const queue::MasterServices& services() const { return services_; }
  std::vector<std::string>& trace() { return trace_; }

 private:
  TempDir root_;
  core::Instance instance_;
  std::shared_ptr<const config::Snapshot> snapshot_;
  std::unique_ptr<queue::Store> store_;
  std::unique_ptr<core::log::AsyncMailLog> log_;
  std::atomic<bool> stopping_{false};
  std::vector<std::string> trace_;
  queue::MasterServices services_;
};

/// An envelope from `from` to `recipients` (active = original).
core::Envelope envelope(const std::string& from, const std::vector<std::string>& recipients);

/// A small message with the given body lines (CRLF).
std::string message(const std::string& body);

}  // namespace imta::testing
