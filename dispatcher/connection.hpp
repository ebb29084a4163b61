// What the dispatcher hands to a receiving channel: one accepted connection,
// already moved onto the worker thread that will serve it. The dispatcher
// knows ports, limits and threads, never SMTP: the service's channel (a tcp_*
// channel's SMTP server) runs the session.
#pragma once

#include <asio/ip/tcp.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "config/snapshot.hpp"

namespace imta::dispatcher {

/// Counts a connection against its worker while alive (RAII): the dispatcher
/// uses the counts to pick the least-loaded worker and to enforce MAX_CONNS.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(std::shared_ptr<std::atomic<int>> counter) : counter_(std::move(counter)) {}
  ConnectionSlot(ConnectionSlot&&) noexcept = default;
  ConnectionSlot& operator=(ConnectionSlot&&) noexcept = default;
  ~ConnectionSlot() {
    if (counter_) counter_->fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::shared_ptr<std::atomic<int>> counter_;
};

/// Set when the dispatcher is stopping: sessions finish the command they are
/// in, then say 421 and close.
using StopFlag = std::shared_ptr<const std::atomic<bool>>;

/// An address as text for logs, probes and replies: an IPv4-mapped IPv6
/// address (a dual-stack listener's IPv4 client) as plain IPv4. IPv4 is
/// formatted here: Asio's to_string() goes through inet_ntop and its
/// printf, several thousand instructions per address, per connection.
std::string address_text(const asio::ip::address& address);

/// Both ends of an accepted connection, read once by the dispatcher (which
/// needs them for PORT_ACCESS) and handed on, so the session makes no
/// getsockname/getpeername calls of its own.
struct Endpoints {
  std::string local_ip, remote_ip;  ///< address_text()
  unsigned short local_port = 0, remote_port = 0;
};
/// Reads both ends of `socket`; `ec` is set when the peer is already gone.
Endpoints endpoints_of(const asio::ip::tcp::socket& socket, std::error_code& ec);

struct Connection {
  asio::ip::tcp::socket socket;  ///< on the worker's io_context
  Endpoints ends;
  std::string service;           ///< [SERVICE=name] of dispatcher.cnf
  std::string channel;           ///< the service's channel (PARAMETER=CHANNEL=)
  bool implicit_tls = false;     ///< TLS_PORT: TLS starts before the greeting
  /// PORT_ACCESS output for this client (e.g. "EXTERNAL"), empty if the
  /// mapping set no text.
  std::string port_access;
  std::shared_ptr<const config::Snapshot> snapshot;  ///< the configuration at accept time
  StopFlag stopping;
  ConnectionSlot slot;
};

/// Starts serving a connection on the current (worker) thread. The function
/// must not block: it spawns the session's coroutine and returns.
using SessionStarter = std::function<void(Connection)>;

}  // namespace imta::dispatcher
