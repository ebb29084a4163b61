// The SMTP client tests' harness; see client_harness.hpp.
#include "client_harness.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "channels/tcp/smtp_client.hpp"
#include "config/log_options.hpp"
#include "config/snapshot.hpp"

namespace imta::testing {

namespace {

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set (meson sets it)");
  return v;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "imta-client-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

Child::Child(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // A test that dies (a crash, a timeout's SIGKILL) takes its servers along.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(fds[1], 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  out_ = fds[0];
}

Child::~Child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGINT);
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  if (out_ >= 0) ::close(out_);
}

std::string Child::first_line() {
  std::string line;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("child printed nothing in time");
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char c;
    auto n = ::read(out_, &c, 1);
    if (n <= 0) throw std::runtime_error("child exited before printing its first line");
    if (c == '\n') return line;
    line += c;
  }
}

Sink::Sink(const std::string& script_json, std::vector<std::string> listen, int port) {
  auto script = dir_.path() / "script.json";
  write_text(script, script_json.empty() ? "{}" : script_json);
  std::vector<std::string> argv{"python3", env_or_fail("IMTA_SMTP_SINK"), "--dir", (dir_.path() / "out").string(),
                                "--script", script.string(), "--port", std::to_string(port)};
  for (const auto& a : listen) {
    argv.push_back("--listen");
    argv.push_back(a);
  }
  child_ = std::make_unique<Child>(argv);
  port_ = std::stoi(child_->first_line());
}

std::string Sink::transcript() const { return read_text(dir_.path() / "out" / "transcript.log"); }

int Sink::count(const std::string& text) const {
  std::istringstream in(transcript());
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find(text) != std::string::npos) ++n;
  return n;
}

std::string Sink::env(int n) const {
  return read_text(dir_.path() / "out" / ("msg-" + std::to_string(n) + ".env"));
}

std::string Sink::wire(int n) const {
  return read_text(dir_.path() / "out" / ("msg-" + std::to_string(n) + ".wire"));
}

bool have_nsd() { return ::access("/usr/sbin/nsd", X_OK) == 0 || ::access("/usr/local/sbin/nsd", X_OK) == 0; }

Dns::Dns(const std::vector<std::pair<std::string, std::string>>& zones, const std::vector<std::string>& servfail) {
  std::vector<std::string> argv{"python3", env_or_fail("IMTA_DNS_SERVER")};
  for (const auto& [name, text] : zones) {
    auto file = dir_.path() / (name + ".zone");
    write_text(file, text);
    argv.push_back(name + "=" + file.string());
  }
  for (const auto& name : servfail) {
    argv.push_back("--servfail");
    argv.push_back(name);
  }
  child_ = std::make_unique<Child>(argv);
  server_ = child_->first_line();
}

TestInstance::TestInstance(const std::string& tcp_keywords, const std::string& channel_options,
                           const std::string& option_dat)
    : instance_(root_.path()) {
  fs::create_directories(instance_.config_dir());
  fs::create_directories(instance_.queue_dir());
  fs::create_directories(instance_.log_dir());
  write_text(instance_.config_dir() / "imta.cnf",
             "[]  $U%[$L]@tcp_local-daemon\n"
             ".   $U%$H@tcp_local-daemon\n"
             "\n"
             "l\n"
             "client.example.test\n"
             "\n"
             "tcp_local smtp logging " + tcp_keywords + "\n"
             "tcp_local-daemon\n");
  // Tests must not wait minutes for a server that went quiet.
  write_text(instance_.config_dir() / "tcp_local_option",
             "CLIENT_TIMEOUT_CONNECT=5\nCLIENT_TIMEOUT_GREETING=5\nCLIENT_TIMEOUT_MAIL=5\n"
             "CLIENT_TIMEOUT_RCPT=5\nCLIENT_TIMEOUT_DATA_INIT=5\nCLIENT_TIMEOUT_DATA_BLOCK=5\n"
             "CLIENT_TIMEOUT_DATA_TERM=5\n" + channel_options);
  write_text(instance_.config_dir() / "option.dat", "DNS_TIMEOUT=1\nDNS_ATTEMPTS=1\n" + option_dat);
  config::Diagnostics diags;
  auto snap = config::load_configuration(instance_.config_dir(), diags);
  for (const auto& item : diags.items())
    if (item.severity == config::Severity::error) FAIL(item.str());
  snapshot_ = std::make_shared<const config::Snapshot>(std::move(snap));
  queue::StoreOptions so;
  so.root = instance_.queue_dir();
  store_ = std::make_unique<queue::Store>(so);
  core::log::MailLogFileOptions lo;
  lo.log_dir = instance_.log_dir();
  lo.format = config::log_options(snapshot_->options);
  log_ = std::make_unique<core::log::AsyncMailLog>(lo);

  services_.instance = &instance_;
  services_.snapshot = snapshot_;
  services_.store = store_.get();
  services_.log = log_.get();
  services_.now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  services_.stopping = &stopping_;
  services_.trace = [this](std::string_view line) { trace_.emplace_back(line); };
}

TestInstance::~TestInstance() = default;

queue::Claim TestInstance::enqueue(core::Envelope envelope, const std::string& message) {
  std::error_code ec;
  auto tx = store_->begin({queue::Copy{"tcp_local", std::move(envelope)}}, ec);
  REQUIRE_FALSE(ec);
  REQUIRE_FALSE(tx->write(message));
  std::vector<queue::QueuePath> paths;
  REQUIRE_FALSE(tx->commit(&paths));
  REQUIRE(paths.size() == 1);
  auto entry = store_->find(paths[0].name.str(), "tcp_local");
  REQUIRE(entry);
  auto claim = store_->claim(*entry);
  REQUIRE(claim);
  return std::move(*claim);
}

std::unique_ptr<queue::Master> TestInstance::master() {
  auto m = channels::tcp::make_client_master("tcp_local", services_);
  REQUIRE(m);
  return m;
}

std::string TestInstance::log_text() {
  log_->flush();
  return read_text(instance_.log_dir() / "mail.log_current");
}

core::Envelope envelope(const std::string& from, const std::vector<std::string>& recipients) {
  core::Envelope e;
  e.from = from;
  e.source_channel = "l";
  e.received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  for (const auto& r : recipients) e.recipients.push_back({r, r, 0, ""});
  return e;
}

std::string message(const std::string& body) {
  return "From: sender@client.example.test\r\nTo: someone@example.test\r\nSubject: test\r\n"
         "Message-ID: <test@client.example.test>\r\n\r\n" +
         body;
}

}  // namespace imta::testing
