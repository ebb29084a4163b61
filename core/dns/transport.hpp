// One question to the configured servers, over the network: UDP first, TCP
// when the answer comes truncated. Each try has its own timer; the servers
// are asked in order, `attempts` rounds over the list. Datagrams that are
// not an answer to our query (other id, other question, not from the server)
// are ignored and the wait goes on.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/udp.hpp>

#include "core/dns/message.hpp"

namespace imta::core::dns {

struct ExchangeOptions {
  std::vector<asio::ip::udp::endpoint> servers;
  std::chrono::milliseconds timeout{2000};  ///< per try (UDP wait, or whole TCP exchange)
  int attempts = 2;                         ///< rounds over `servers`
};

struct ExchangeResult {
  /// ok: `response` has rcode NOERROR or NXDOMAIN. servfail: a server said
  /// SERVFAIL/REFUSED/FORMERR/... or sent a malformed answer, and none gave a
  /// usable one. timeout: no server answered at all.
  Status status = Status::timeout;
  std::optional<Response> response;
  std::string detail;  ///< what went wrong, for messages: "127.0.0.1:53 said REFUSED"
};

/// Asks for (name, type); `name` must be normalized (normalize_name).
/// The executor must not run this coroutine's handlers concurrently (a
/// single-threaded io_context or a strand).
asio::awaitable<ExchangeResult> exchange(const ExchangeOptions& options, const std::string& name, RrType type);

/// A random query id (not predictable from earlier ids: answers are matched
/// on it to ignore spoofed datagrams).
std::uint16_t random_query_id();

}  // namespace imta::core::dns
