// Timeouts: a steady_timer per try whose expiry closes the socket, which
// ends whatever read or write is pending with an error (Asio 1.22 has no
// cancel_after). The handler holds only a weak_ptr to the socket, so a timer
// that fires after the try finished touches nothing.
#include "core/dns/transport.hpp"

#include <array>
#include <memory>
#include <mutex>
#include <random>

#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace imta::core::dns {

namespace {

constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

std::string server_text(const asio::ip::udp::endpoint& server) {
  const auto address = server.address().to_string();
  const auto port = std::to_string(server.port());
  return server.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

std::string rcode_text(std::uint8_t rcode) {
  switch (rcode) {
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 3: return "NXDOMAIN";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    default: return "rcode " + std::to_string(rcode);
  }
}

template <typename Socket>
void close_on_expiry(asio::steady_timer& timer, const std::shared_ptr<Socket>& socket) {
  timer.async_wait([weak = std::weak_ptr<Socket>(socket)](std::error_code ec) {
    if (ec) return;  // cancelled: the try ended in time
    if (auto s = weak.lock()) {
      std::error_code ignored;
      s->close(ignored);
    }
  });
}

/// What one try at one server gave.
struct TryResult {
  std::optional<Response> response;
  bool malformed = false;  ///< the server sent something unreadable
};

asio::awaitable<TryResult> udp_try(const asio::ip::udp::endpoint& server,
                                   const std::vector<std::uint8_t>& query, std::uint16_t id,
                                   const std::string& name, RrType type,
                                   std::chrono::milliseconds timeout) {
  TryResult result;
  auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<asio::ip::udp::socket>(executor);
  std::error_code ec;
  socket->open(server.protocol(), ec);
  // A connected UDP socket only receives the server's datagrams, and an
  // ICMP "port unreachable" ends the wait at once instead of timing out.
  if (!ec) socket->connect(server, ec);
  if (ec) co_return result;
  asio::steady_timer timer(executor);
  timer.expires_after(timeout);
  close_on_expiry(timer, socket);

  auto [send_ec, sent] = co_await socket->async_send(asio::buffer(query), use_tuple);
  (void)sent;
  if (send_ec) {
    timer.cancel();
    co_return result;
  }
  std::vector<std::uint8_t> buffer(65535);
  for (;;) {
    auto [recv_ec, n] = co_await socket->async_receive(asio::buffer(buffer), use_tuple);
    if (recv_ec) break;  // timed out (socket closed), or refused
    auto response = parse_response(std::span<const std::uint8_t>(buffer.data(), n));
    if (!response) {
      result.malformed = true;  // garbage, or a forgery: keep listening
      continue;
    }
    if (!answers_query(*response, id, name, type)) continue;
    result.response = std::move(response);
    break;
  }
  timer.cancel();
  co_return result;
}

asio::awaitable<TryResult> tcp_try(const asio::ip::udp::endpoint& server,
                                   const std::vector<std::uint8_t>& query, std::uint16_t id,
                                   const std::string& name, RrType type,
                                   std::chrono::milliseconds timeout) {
  TryResult result;
  auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<asio::ip::tcp::socket>(executor);
  asio::steady_timer timer(executor);
  timer.expires_after(timeout);
  close_on_expiry(timer, socket);
  const asio::ip::tcp::endpoint peer(server.address(), server.port());

  auto [connect_ec] = co_await socket->async_connect(peer, use_tuple);
  if (connect_ec) {
    timer.cancel();
    co_return result;
  }
  // RFC 1035 §4.2.2: each message is preceded by its length in two bytes.
  std::array<std::uint8_t, 2> length{static_cast<std::uint8_t>(query.size() >> 8),
                                     static_cast<std::uint8_t>(query.size() & 0xff)};
  std::array<asio::const_buffer, 2> out{asio::buffer(length), asio::buffer(query)};
  auto [write_ec, written] = co_await asio::async_write(*socket, out, use_tuple);
  (void)written;
  if (write_ec) {
    timer.cancel();
    co_return result;
  }
  auto [head_ec, head_n] = co_await asio::async_read(*socket, asio::buffer(length), use_tuple);
  (void)head_n;
  if (head_ec) {
    timer.cancel();
    co_return result;
  }
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(length[0]) << 8 | length[1]);
  auto [body_ec, body_n] = co_await asio::async_read(*socket, asio::buffer(buffer), use_tuple);
  (void)body_n;
  timer.cancel();
  if (body_ec) co_return result;
  auto response = parse_response(buffer);
  if (!response || !answers_query(*response, id, name, type)) {
    result.malformed = true;  // over TCP nobody else can answer: the server is broken
    co_return result;
  }
  result.response = std::move(response);
  co_return result;
}

}  // namespace

std::uint16_t random_query_id() {
  static std::mutex mutex;
  static std::mt19937 engine{std::random_device{}()};
  static std::uniform_int_distribution<unsigned> distribution(0, 0xffff);
  std::lock_guard lock(mutex);
  return static_cast<std::uint16_t>(distribution(engine));
}

asio::awaitable<ExchangeResult> exchange(const ExchangeOptions& options, const std::string& name, RrType type) {
  ExchangeResult result;
  result.detail = "no DNS server answered";
  bool failed_answer = false;
  for (int attempt = 0; attempt < std::max(options.attempts, 1); ++attempt) {
    for (const auto& server : options.servers) {
      const std::uint16_t id = random_query_id();
      const std::vector<std::uint8_t> query = build_query(name, type, id);
      if (query.empty()) {
        result.status = Status::servfail;
        result.detail = "cannot encode the query for " + name;
        co_return result;
      }
      TryResult tried = co_await udp_try(server, query, id, name, type, options.timeout);
      if (tried.response && tried.response->tc) {
        // Truncated: the whole answer over TCP, same question, new id.
        const std::uint16_t tcp_id = random_query_id();
        const std::vector<std::uint8_t> tcp_query = build_query(name, type, tcp_id);
        tried = co_await tcp_try(server, tcp_query, tcp_id, name, type, options.timeout);
        if (!tried.response && !tried.malformed) {
          failed_answer = true;
          result.detail = server_text(server) + " sent a truncated answer and no TCP answer";
          continue;
        }
      }
      if (!tried.response) {
        if (tried.malformed) {
          failed_answer = true;
          result.detail = server_text(server) + " sent a malformed answer";
        }
        continue;
      }
      const std::uint8_t rcode = tried.response->rcode;
      if (rcode == rcode_noerror || rcode == rcode_nxdomain) {
        result.status = Status::ok;
        result.detail.clear();
        result.response = std::move(tried.response);
        co_return result;
      }
      failed_answer = true;
      result.detail = server_text(server) + " said " + rcode_text(rcode);
    }
  }
  result.status = failed_answer ? Status::servfail : Status::timeout;
  co_return result;
}

}  // namespace imta::core::dns
