// One connection of the SMTP client; see smtp_client_connection.hpp.
#include "channels/tcp/smtp_client_connection.hpp"

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "channels/tcp/client_outcome.hpp"
#include "core/log/mail_log.hpp"

namespace imta::channels::tcp {

namespace {

using asio::ip::tcp;
// Asio 1.22 (Debian 12) keeps as_tuple in experimental.
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;

}  // namespace

ClientConnection::ClientConnection(asio::any_io_executor executor)
    : socket_(executor), timer_(executor), reader_(core::smtp::LineReader::default_max_line) {}

ClientConnection::~ClientConnection() { close(); }

tcp::socket& ClientConnection::socket() { return tls_ ? tls_->next_layer() : socket_; }

bool ClientConnection::is_open() const { return tls_ ? tls_->next_layer().is_open() : socket_.is_open(); }

void ClientConnection::close() {
  std::error_code ignored;
  guarded_ = false;
  timer_.cancel();
  auto& s = socket();
  if (s.is_open()) {
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
  }
}

// The deadline cancels the socket's operations when it passes. Most
// operations end long before it, so arm() only records it; the timer waits
// until the earliest deadline that may matter, and when it wakes to find
// the deadline moved on (later operations), it waits again. A completing
// wait belongs to one watch(): an older one (replaced) does nothing, hence
// the generation.
void ClientConnection::arm(seconds timeout) {
  deadline_ = std::chrono::steady_clock::now() + timeout;
  guarded_ = true;
  timed_out_ = false;
  if (!watching_ || timer_.expiry() > deadline_) watch();
}

void ClientConnection::watch() {
  ++generation_;
  watching_ = true;
  timer_.expires_at(deadline_);  // (cancels a wait that would end too late)
  std::weak_ptr<ClientConnection> weak = weak_from_this();
  timer_.async_wait([weak, generation = generation_](std::error_code ec) {
    auto self = weak.lock();
    if (!self || self->generation_ != generation) return;
    self->watching_ = false;
    if (ec || !self->guarded_) return;
    if (std::chrono::steady_clock::now() < self->deadline_) {
      self->watch();
      return;
    }
    self->timed_out_ = true;
    std::error_code ignored;
    self->socket().cancel(ignored);
  });
}

void ClientConnection::disarm() { guarded_ = false; }

std::error_code ClientConnection::finish(std::error_code ec) {
  disarm();
  if (timed_out_) return std::make_error_code(std::errc::timed_out);
  return ec;
}

asio::awaitable<std::error_code> ClientConnection::connect(tcp::endpoint remote, std::optional<asio::ip::address> local,
                                                           seconds timeout) {
  remote_ = remote;
  std::error_code ec;
  socket_.open(remote.protocol(), ec);
  if (ec) co_return ec;
  if (local) {
    socket_.bind(tcp::endpoint(*local, 0), ec);
    if (ec) co_return ec;
  }
  arm(timeout);
  auto [connect_error] = co_await socket_.async_connect(remote, use_tuple);
  ec = finish(connect_error);
  if (ec) {
    close();
    co_return ec;
  }
  socket_.set_option(tcp::no_delay(true), ec);
  // Synchronous writes return would_block instead of waiting (see write()).
  socket_.non_blocking(true, ec);
  auto local_end = socket_.local_endpoint(ec);
  transport_ = core::log::transport_info(local_end.address().to_string(), local_end.port(),
                                         remote.address().to_string(), remote.port());
  co_return std::error_code{};
}

asio::awaitable<std::error_code> ClientConnection::read_some() {
  buffer_.resize(kReadChunk);
  std::error_code ec;
  std::size_t n = 0;
  if (tls_) {
    auto [e, got] = co_await tls_->async_read_some(asio::buffer(buffer_), use_tuple);
    ec = e;
    n = got;
  } else {
    auto [e, got] = co_await socket_.async_read_some(asio::buffer(buffer_), use_tuple);
    ec = e;
    n = got;
  }
  if (n > 0) reader_.feed(std::string_view(buffer_.data(), n));
  co_return n > 0 ? std::error_code{} : ec;
}

asio::awaitable<ClientConnection::ReplyResult> ClientConnection::read_reply(seconds timeout) {
  ReplyResult result;
  arm(timeout);
  for (;;) {
    auto next = reader_.next();
    if (next.status == core::smtp::LineReader::Status::need_more) {
      auto ec = co_await read_some();
      if (ec) {
        result.error = finish(ec);
        co_return result;
      }
      continue;
    }
    if (next.status == core::smtp::LineReader::Status::too_long) {
      finish({});
      result.malformed = true;
      result.reply = {0, "", "reply line too long"};
      co_return result;
    }
    auto status = parser_.feed_line(next.line);
    if (status == core::smtp::ReplyParser::Status::complete) {
      finish({});
      result.reply = parser_.reply();
      co_return result;
    }
    if (status == core::smtp::ReplyParser::Status::malformed) {
      finish({});
      result.malformed = true;
      result.reply = {0, "", parser_.error()};
      co_return result;
    }
  }
}

asio::awaitable<std::error_code> ClientConnection::write(std::string_view data, seconds timeout) {
  arm(timeout);
  std::error_code ec;
  if (tls_) {
    auto [e, n] = co_await asio::async_write(*tls_, asio::buffer(data.data(), data.size()), use_tuple);
    ec = e;
  } else {
    // Most writes fit in the socket's buffer: written at once, they skip a
    // round through the event loop (Asio posts every completion, and its
    // loop polls epoll between handlers); the rest waits asynchronously.
    std::size_t done = 0;
    while (done < data.size()) {
      done += socket_.write_some(asio::buffer(data.data() + done, data.size() - done), ec);
      if (ec) break;
    }
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      auto [e, n] = co_await asio::async_write(socket_, asio::buffer(data.data() + done, data.size() - done), use_tuple);
      ec = e;
    }
  }
  co_return finish(ec);
}

asio::awaitable<std::error_code> ClientConnection::start_tls(asio::ssl::context& context, const std::string& server_name,
                                                             seconds timeout) {
  // RFC 3207 §4.2: nothing the server sent before the handshake counts.
  reader_.discard_buffered();
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(socket_), context);
  if (!server_name.empty() && server_name.front() != '[')
    SSL_set_tlsext_host_name(tls_->native_handle(), server_name.c_str());
  arm(timeout);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_tuple);
  co_return finish(ec);
}

std::string io_error_text(const std::error_code& error) {
  if (error == asio::error::eof || error == asio::ssl::error::stream_truncated)
    return "connection closed by the server";
  if (error == std::errc::timed_out) return "timed out";
  return error_words(error);
}

}  // namespace imta::channels::tcp
