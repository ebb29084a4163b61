// One SMTP connection of imta-loadgen, client or server side: a TCP socket
// that can switch to TLS after STARTTLS, a buffer of bytes read but not yet
// used, and a deadline on every operation.
//
// Included only by send.cpp and sink.cpp, the two files that use Asio (it is
// slow to compile). Errors are values (as_tuple): nothing a peer does throws.
//
// Timeouts: Debian's Asio 1.22 has no cancel_after, so each connection runs a
// watchdog coroutine on a steady_timer. Every operation moves the deadline
// forward; when the watchdog wakes past it, it closes the socket, which
// completes the pending operation with an error, and timed_out() says why.
// Ownership: the session and the watchdog share the connection; close() stops
// the watchdog, so the connection dies with the session.
#pragma once

#include <array>
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>

namespace imta::tools::loadgen {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

/// Completion token of every operation: `auto [ec, n] = co_await ...`.
inline constexpr auto as_result = asio::experimental::as_tuple(asio::use_awaitable);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Clock::duration timeout)
      : socket_(std::move(socket)), watchdog_timer_(socket_.get_executor()), timeout_(timeout) {}

  /// Starts the watchdog; call once, right after construction.
  void start_watchdog() {
    arm();
    asio::co_spawn(socket_.get_executor(), [self = shared_from_this()] { return self->watch(); },
                   asio::detached);
  }

  tcp::socket& socket() { return socket_; }
  bool timed_out() const { return timed_out_; }
  bool tls_active() const { return tls_.has_value(); }

  /// Closes the socket and ends the watchdog. Safe to call twice.
  void close() {
    closed_ = true;
    watchdog_timer_.cancel();
    std::error_code ignored;
    socket_.close(ignored);
  }

  asio::awaitable<std::error_code> connect(const std::vector<tcp::endpoint>& endpoints) {
    arm();
    auto [ec, endpoint] = co_await asio::async_connect(socket_, endpoints, as_result);
    (void)endpoint;
    if (!ec) {
      std::error_code ignored;
      socket_.set_option(tcp::no_delay(true), ignored);  // replies are small; do not wait for ACKs
    }
    co_return ec;
  }

  /// Reads whatever arrives next and appends it to `input`. (Into a buffer
  /// of its own first: growing `input` by a whole chunk would zero-fill
  /// 16 KiB for every read, a cost charged to every server measured.)
  asio::awaitable<std::error_code> fill() {
    if (!read_buffer_) read_buffer_ = std::make_unique_for_overwrite<std::array<char, read_chunk>>();  // not zeroed
    arm();
    auto buffer = asio::buffer(*read_buffer_);
    std::tuple<std::error_code, std::size_t> result;
    if (tls_) result = co_await tls_->async_read_some(buffer, as_result);
    else result = co_await socket_.async_read_some(buffer, as_result);
    input.append(read_buffer_->data(), std::get<1>(result));
    co_return std::get<0>(result);
  }

  /// Writes every byte of `buffers` (a buffer sequence).
  template <typename Buffers>
  asio::awaitable<std::error_code> write(const Buffers& buffers) {
    arm();
    std::tuple<std::error_code, std::size_t> result;
    if (tls_) result = co_await asio::async_write(*tls_, buffers, as_result);
    else result = co_await asio::async_write(socket_, buffers, as_result);
    co_return std::get<0>(result);
  }

  /// Switches to TLS (after a 220 to STARTTLS). `server_name` goes into SNI
  /// when it is a host name.
  asio::awaitable<std::error_code> handshake(asio::ssl::context& context,
                                             asio::ssl::stream_base::handshake_type role,
                                             const std::string& server_name = {}) {
    tls_.emplace(socket_, context);
    if (role == asio::ssl::stream_base::client && !server_name.empty()) {
      std::error_code not_an_address;
      asio::ip::make_address(server_name, not_an_address);
      if (not_an_address) SSL_set_tlsext_host_name(tls_->native_handle(), server_name.c_str());
    }
    // Whatever arrived before the handshake is plaintext the peer sent after
    // STARTTLS; it must never be read as if it came over TLS.
    input.clear();
    arm();
    auto [ec] = co_await tls_->async_handshake(role, as_result);
    co_return ec;
  }

  /// Bytes received and not yet consumed by the protocol code.
  std::string input;

 private:
  void arm() { deadline_ = Clock::now() + timeout_; }

  asio::awaitable<void> watch() {
    while (!closed_) {
      watchdog_timer_.expires_at(deadline_);
      co_await watchdog_timer_.async_wait(as_result);
      if (closed_) break;
      if (deadline_ <= Clock::now()) {
        timed_out_ = true;
        close();
      }
    }
  }

  static constexpr std::size_t read_chunk = 16 * 1024;
  std::unique_ptr<std::array<char, read_chunk>> read_buffer_;
  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;
  asio::steady_timer watchdog_timer_;
  Clock::duration timeout_;
  Clock::time_point deadline_{};
  bool closed_ = false;
  bool timed_out_ = false;
};

/// Milliseconds between two instants, as a double.
inline double milliseconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

}  // namespace imta::tools::loadgen
