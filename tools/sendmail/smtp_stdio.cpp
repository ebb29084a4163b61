// sendmail -bs through the server's session code; see smtp_stdio.hpp.
#include "tools/sendmail/smtp_stdio.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>

#include "channels/tcp/server_resources.hpp"
#include "channels/tcp/smtp_session.hpp"
#include "dispatcher/connection.hpp"
#include "tools/sendmail/local_submit.hpp"
#include "tools/sendmail/sysexits.hpp"

namespace imta::tools::sendmail {

namespace {

using asio::ip::tcp;

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

/// Copies `from` to `to` until end of input or an error.
void pump(int from, int to) {
  char buffer[16384];
  while (true) {
    ssize_t n = ::read(from, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    if (!write_all(to, buffer, static_cast<std::size_t>(n))) return;
  }
}

/// The session's end of a loopback pair; `client` gets the other end (a
/// plain blocking descriptor). The accepted peer must be our own socket:
/// another local program could connect in the instant the listener is open.
std::optional<tcp::socket> loopback_pair(asio::io_context& io, int& client, std::string& error) {
  std::error_code ec;
  tcp::acceptor acceptor(io);
  acceptor.open(tcp::v4(), ec);
  if (!ec) acceptor.bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0), ec);
  if (!ec) acceptor.listen(8, ec);
  if (ec) {
    error = "cannot listen on 127.0.0.1: " + ec.message();
    return std::nullopt;
  }
  const auto listening = acceptor.local_endpoint(ec);
  client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(listening.port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in mine{};
  socklen_t length = sizeof mine;
  if (client < 0 || ::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 ||
      ::getsockname(client, reinterpret_cast<sockaddr*>(&mine), &length) != 0) {
    error = std::string("cannot connect to 127.0.0.1: ") + std::strerror(errno);
    return std::nullopt;
  }
  for (int tries = 0; tries < 8; ++tries) {
    tcp::socket server(io);
    tcp::endpoint peer;
    acceptor.accept(server, peer, ec);
    if (ec) break;
    if (peer.port() == ntohs(mine.sin_port)) return server;
  }
  error = "cannot make the loopback connection: " + (ec ? ec.message() : std::string("someone else connected"));
  return std::nullopt;
}

}  // namespace

int run_smtp_on_stdio(const core::Instance& instance, std::shared_ptr<const config::Snapshot> snapshot) {
  ::signal(SIGPIPE, SIG_IGN);  // standard output may go away; write() then fails
  std::shared_ptr<channels::tcp::ServerResources> resources;
  try {
    resources = std::make_shared<channels::tcp::ServerResources>(instance, snapshot);
  } catch (const std::exception& e) {
    std::cerr << "sendmail: cannot open the queue: " << e.what() << "\n";
    return temp_fail;
  }
  // No TLS: the `l` channel offers none, and nobody eavesdrops on a pipe.

  asio::io_context io;
  int client = -1;
  std::string error;
  auto server = loopback_pair(io, client, error);
  if (!server) {
    std::cerr << "sendmail: -bs: " << error << "\n";
    return os_error;
  }
  std::error_code ends_error;
  auto ends = dispatcher::endpoints_of(*server, ends_error);
  if (ends_error) {
    std::cerr << "sendmail: -bs: " << ends_error.message() << "\n";
    return os_error;
  }
  dispatcher::Connection connection{std::move(*server),
                                    std::move(ends),
                                    "sendmail",
                                    std::string(kLocalChannel),
                                    false,
                                    "",
                                    snapshot,
                                    std::make_shared<std::atomic<bool>>(false),
                                    dispatcher::ConnectionSlot(nullptr)};
  // The session waits for the queue's commit thread without holding work
  // on the io_context: keep it running until the session has closed its end.
  auto work = asio::make_work_guard(io);
  channels::tcp::start_session(std::move(connection), resources);

  std::thread replies([&io, &work, client] {
    pump(client, STDOUT_FILENO);
    ::shutdown(client, SHUT_RDWR);  // standard output gone: the session ends too
    asio::post(io, [&work] { work.reset(); });
  });
  // Standard input may never end (a terminal): this thread is left behind
  // when the session is over, and ends with the process. The client
  // descriptor stays open until then, so its number is never reused under it.
  std::thread commands([client] {
    pump(STDIN_FILENO, client);
    ::shutdown(client, SHUT_WR);
  });
  commands.detach();

  io.run();
  replies.join();
  resources.reset();  // the queue's commit thread ends, mail.log is flushed
  return ok;
}

}  // namespace imta::tools::sendmail
