// One connection of the SMTP client: a TCP socket (bound to
// `interfaceaddress` when set), TLS after STARTTLS, replies read through
// LineReader and ReplyParser, writes, and a deadline on every operation.
// Errors are values, never exceptions; an expired deadline shows as
// std::errc::timed_out. Only the SMTP client's translation units include this
// header (it pulls in Asio's TLS and coroutine headers).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>

#include "core/smtp/line_reader.hpp"
#include "core/smtp/reply.hpp"

namespace imta::channels::tcp {

class ClientConnection : public std::enable_shared_from_this<ClientConnection> {
 public:
  using seconds = std::chrono::seconds;

  explicit ClientConnection(asio::any_io_executor executor);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  /// Opens the TCP connection; `local` binds the local end first.
  asio::awaitable<std::error_code> connect(asio::ip::tcp::endpoint remote,
                                           std::optional<asio::ip::address> local, seconds timeout);

  struct ReplyResult {
    std::error_code error;   ///< set when no complete reply arrived
    bool malformed = false;  ///< the server sent something that is not a reply
    core::smtp::Reply reply;
    bool ok() const { return !error && !malformed; }
  };
  /// The next reply (pipelined replies come out one per call).
  asio::awaitable<ReplyResult> read_reply(seconds timeout);
  /// Writes all of `data`.
  asio::awaitable<std::error_code> write(std::string_view data, seconds timeout);
  /// The TLS handshake after a 220 to STARTTLS; `server_name` goes out as SNI.
  asio::awaitable<std::error_code> start_tls(asio::ssl::context& context, const std::string& server_name,
                                             seconds timeout);

  /// Closes the socket at once (no QUIT).
  void close();
  bool is_open() const;
  bool tls() const { return tls_ != nullptr; }
  /// `TCP|local-ip|local-port|remote-ip|remote-port`, valid after connect().
  const std::string& transport() const { return transport_; }
  const asio::ip::tcp::endpoint& remote() const { return remote_; }

 private:
  asio::ip::tcp::socket& socket();
  void arm(seconds timeout);
  void watch();
  void disarm();
  std::error_code finish(std::error_code ec);
  asio::awaitable<std::error_code> read_some();

  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket>> tls_;

  // The deadline: one watchdog wait per connection, moved only when it
  // would fire too late, so guarding an operation costs no system call.
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_{};
  bool guarded_ = false;   // an operation runs under the deadline
  bool watching_ = false;  // a wait on timer_ is outstanding
  std::uint64_t generation_ = 0;  // which wait a completing handler belongs to
  bool timed_out_ = false;
  core::smtp::LineReader reader_;
  core::smtp::ReplyParser parser_;
  std::string buffer_;
  std::string transport_;
  asio::ip::tcp::endpoint remote_;
};

/// How the log and the DSN say what went wrong on a connection:
/// "connection closed by the server", "timed out", "connection reset by peer".
std::string io_error_text(const std::error_code& error);

}  // namespace imta::channels::tcp
