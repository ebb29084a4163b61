// imta-loadgen send: C concurrent SMTP client sessions (coroutines, on one
// io_context per --threads) that together send --messages messages, then a
// summary of outcomes, rate and latency.
//
// Each message number is claimed from one shared counter before it is tried,
// and every claimed message ends in exactly one outcome (accepted, refused
// 4xx/5xx, error), so a run always ends, even against a server that is down.
// A session keeps its connection for up to --per-connection messages and
// opens a new one when the server closed it or something failed.
//
// PIPELINING (RFC 2920), when the server offers it and --no-pipelining is not
// given: MAIL, every RCPT and DATA go out in one write and their replies are
// read afterwards; the message and its final dot go out in a second write.
// The next transaction starts after the final reply, so latency measures one
// message and nothing else.
//
// CHUNKING (RFC 3030), with --chunking when the server offers it: the message
// goes as one "BDAT n LAST" chunk, unstuffed, right behind its command, with
// no 354 to wait for; pipelined, the envelope, the BDAT command and the
// message are one write and the transaction one round trip.
#include <atomic>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "tools/loadgen/connection.hpp"
#include "tools/loadgen/message.hpp"
#include "tools/loadgen/options.hpp"
#include "tools/loadgen/smtp_text.hpp"
#include "tools/loadgen/stats.hpp"

namespace imta::tools::loadgen {

namespace {

/// Prints each kind of problem once to stderr (the first few kinds) and
/// counts them all, so a dead server does not flood the terminal with one line
/// per message.
class ProblemLog {
 public:
  void report(const std::string& text) {
    std::lock_guard lock(mutex_);
    ++total_;
    if (seen_.size() < max_kinds && seen_.insert(text).second) std::cerr << "imta-loadgen: " << text << "\n";
  }
  ~ProblemLog() {
    if (total_ > seen_.size())
      std::cerr << "imta-loadgen: " << total_ << " problems in all (each kind shown once)\n";
  }

 private:
  static constexpr std::size_t max_kinds = 10;
  std::mutex mutex_;
  std::set<std::string> seen_;
  std::uint64_t total_ = 0;
};

/// What all sessions share; read-only apart from the claim counter and the log.
struct Run {
  const SendOptions& options;
  std::vector<tcp::endpoint> endpoints;
  MessageFactory factory;
  std::string rcpt_commands;        ///< every "RCPT TO:<...>\r\n" of a message
  std::string mail_command;         ///< "MAIL FROM:<...>" without CRLF or SIZE
  std::unique_ptr<asio::ssl::context> tls;
  std::atomic<std::uint64_t> next_message{0};
  ProblemLog problems;

  /// The next message number (1-based), or nullopt when all are taken.
  std::optional<std::uint64_t> claim() {
    std::uint64_t n = next_message.fetch_add(1, std::memory_order_relaxed);
    if (n >= options.messages) return std::nullopt;
    return n + 1;
  }
};

enum class Result { accepted, refused_4xx, refused_5xx, error };

Result refusal(const Reply& reply) { return reply.kind() == 4 ? Result::refused_4xx : Result::refused_5xx; }

void count(SendTotals& totals, Result result) {
  switch (result) {
    case Result::accepted: ++totals.accepted; break;
    case Result::refused_4xx: ++totals.refused_4xx; break;
    case Result::refused_5xx: ++totals.refused_5xx; break;
    case Result::error: ++totals.errors; break;
  }
}

std::string first_line(const Reply& reply) {
  return std::to_string(reply.code) + (reply.lines.empty() ? "" : " " + reply.lines.front());
}

/// One client session's view of its current connection.
class ClientConnection {
 public:
  ClientConnection(Run& run, std::shared_ptr<Connection> connection)
      : run_(run), conn_(std::move(connection)) {}
  ~ClientConnection() { conn_->close(); }

  Capabilities capabilities;

  /// Why the last read failed, for the problem log.
  std::string trouble(const std::string& what, std::error_code ec) const {
    if (conn_->timed_out()) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", run_.options.timeout_seconds);
      return what + ": timed out after " + seconds + " s";
    }
    if (ec == asio::error::eof) return what + ": server closed the connection";
    return what + ": " + ec.message();
  }

  /// Reads one reply; nullopt (after logging) when the connection failed.
  asio::awaitable<std::optional<Reply>> read_reply(const char* what) {
    while (true) {
      ReplyParse parsed = parse_reply(conn_->input);
      if (parsed.status == ParseStatus::complete) {
        conn_->input.erase(0, parsed.consumed);
        co_return std::move(parsed.reply);
      }
      if (parsed.status == ParseStatus::bad) {
        run_.problems.report(std::string(what) + ": " + parsed.error);
        co_return std::nullopt;
      }
      std::error_code ec = co_await conn_->fill();
      if (ec) {
        run_.problems.report(trouble(what, ec));
        co_return std::nullopt;
      }
    }
  }

  asio::awaitable<bool> send(std::string_view text, const char* what) {
    return write(asio::buffer(text.data(), text.size()), what);
  }

  /// Writes all of `buffers` (taken by value: the coroutine outlives the
  /// caller's temporaries); false (and the problem reported) on failure.
  template <class Buffers>
  asio::awaitable<bool> write(Buffers buffers, const char* what) {
    std::error_code ec = co_await conn_->write(buffers);
    if (ec) {
      run_.problems.report(trouble(what, ec));
      co_return false;
    }
    co_return true;
  }

  /// Sends a command and reads its reply.
  asio::awaitable<std::optional<Reply>> command(std::string line, const char* what) {
    bool sent = co_await send(line, what);
    if (!sent) co_return std::nullopt;
    std::optional<Reply> reply = co_await read_reply(what);
    co_return reply;
  }

 private:
  Run& run_;
  std::shared_ptr<Connection> conn_;
};

/// How a connection attempt ended: usable, or the result it gives the
/// message that was waiting for it.
struct Opened {
  std::unique_ptr<ClientConnection> client;
  Result failure = Result::error;
};

/// EHLO (or HELO when EHLO is refused); fills in the capabilities.
asio::awaitable<std::optional<Reply>> greet(Run& run, ClientConnection& client) {
  auto reply = co_await client.command("EHLO " + run.options.ehlo + "\r\n", "EHLO");
  if (reply && reply->kind() == 2) {
    client.capabilities = parse_ehlo(*reply);
  } else if (reply && reply->code != 421) {
    client.capabilities = {};
    reply = co_await client.command("HELO " + run.options.ehlo + "\r\n", "HELO");
  }
  co_return reply;
}

asio::awaitable<Opened> open(Run& run, SendTotals& totals) {
  auto executor = co_await asio::this_coro::executor;
  auto connection = std::make_shared<Connection>(tcp::socket(executor),
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(run.options.timeout_seconds)));
  connection->start_watchdog();
  Opened result;
  auto client = std::make_unique<ClientConnection>(run, connection);
  std::string where = run.options.host + ":" + std::to_string(run.options.port);
  std::error_code ec = co_await connection->connect(run.endpoints);
  if (ec) {
    run.problems.report(client->trouble("connect " + where, ec));
    co_return result;
  }
  ++totals.connections;
  auto reply = co_await client->read_reply("greeting");
  if (!reply) co_return result;
  if (reply->code != 220) {
    run.problems.report("greeting from " + where + ": " + first_line(*reply));
    result.failure = reply->kind() == 2 ? Result::error : refusal(*reply);
    co_return result;
  }
  reply = co_await greet(run, *client);
  if (!reply) co_return result;
  if (reply->kind() != 2) {
    run.problems.report("EHLO/HELO: " + first_line(*reply));
    result.failure = refusal(*reply);
    co_return result;
  }
  if (run.options.starttls) {
    if (!client->capabilities.starttls) {
      run.problems.report(where + " does not offer STARTTLS");
      co_return result;
    }
    reply = co_await client->command("STARTTLS\r\n", "STARTTLS");
    if (!reply) co_return result;
    if (reply->code != 220) {
      run.problems.report("STARTTLS: " + first_line(*reply));
      result.failure = reply->kind() == 2 ? Result::error : refusal(*reply);
      co_return result;
    }
    ec = co_await connection->handshake(*run.tls, asio::ssl::stream_base::client, run.options.host);
    if (ec) {
      run.problems.report(client->trouble("TLS handshake", ec));
      co_return result;
    }
    reply = co_await greet(run, *client);
    if (!reply) co_return result;
    if (reply->kind() != 2) {
      run.problems.report("EHLO after STARTTLS: " + first_line(*reply));
      result.failure = refusal(*reply);
      co_return result;
    }
  }
  result.client = std::move(client);
  co_return result;
}

/// The outcome of one mail transaction.
struct Transaction {
  Result result = Result::error;
  bool connection_usable = false;  ///< false after I/O trouble or a 421
  bool needs_rset = false;         ///< the server may still hold MAIL/RCPT state
};

/// Sends message `number`: MAIL, RCPTs, DATA and the message (or BDAT with the
/// message), and reads the final reply, pipelined or in lock-step as the
/// server allows.
asio::awaitable<Transaction> transact(Run& run, ClientConnection& client, std::uint64_t number,
                                      SendTotals& totals) {
  const SendOptions& o = run.options;
  const bool pipelined = o.pipelining && client.capabilities.pipelining;
  const bool chunked = o.chunking && client.capabilities.chunking;
  std::string mail = run.mail_command;
  if (client.capabilities.size) mail += " SIZE=" + std::to_string(run.factory.message_size());
  mail += "\r\n";
  Transaction t;
  // A 421 means the server is closing the connection: whatever else was
  // pipelined will never be answered.
  auto closing = [](const Reply& r) { return r.code == 421; };
  auto closed_by_server = [&run](const Reply& r, const char* what) {
    run.problems.report(std::string(what) + ": " + first_line(r));
    return Transaction{Result::refused_4xx, false, false};
  };

  // With BDAT the message follows its command at once, so it is made now.
  std::string header;
  std::string bdat_command;
  if (chunked) {
    header = run.factory.header(number, std::time(nullptr));
    bdat_command = "BDAT " + std::to_string(header.size() + run.factory.body().size()) + " LAST\r\n";
  }
  // Sends `command`, then the message unstuffed (BDAT).
  auto send_chunk = [&run, &client, &header](std::string_view command) {
    std::array<asio::const_buffer, 3> chunk{asio::buffer(command.data(), command.size()), asio::buffer(header),
                                            asio::buffer(run.factory.body())};
    return client.write(chunk, "BDAT");
  };
  Clock::time_point data_sent;  // when the message was written

  // Envelope: the replies to MAIL, each RCPT and DATA (or BDAT), in order.
  // (No temporaries inside co_await expressions: GCC 12 mishandles some.)
  const std::string first_write = !pipelined ? mail : mail + run.rcpt_commands + (chunked ? bdat_command : "DATA\r\n");
  bool sent = false;
  if (pipelined && chunked) {
    sent = co_await send_chunk(first_write);
    data_sent = Clock::now();
  } else {
    sent = co_await client.send(first_write, "MAIL");
  }
  if (!sent) co_return t;
  auto mail_reply = co_await client.read_reply("MAIL");
  if (!mail_reply) co_return t;
  if (closing(*mail_reply)) co_return closed_by_server(*mail_reply, "MAIL");
  if (mail_reply->kind() != 2) {
    run.problems.report("MAIL: " + first_line(*mail_reply));
    if (!pipelined) {
      t = {refusal(*mail_reply), true, true};
      co_return t;
    }
  }
  unsigned accepted_rcpts = 0;
  std::optional<Reply> first_rcpt_refusal;
  std::size_t rcpt_offset = 0;
  for (unsigned i = 0; i < o.recipients; ++i) {
    std::size_t end = run.rcpt_commands.find('\n', rcpt_offset) + 1;
    if (!pipelined) {
      const std::string_view rcpt = std::string_view(run.rcpt_commands).substr(rcpt_offset, end - rcpt_offset);
      sent = co_await client.send(rcpt, "RCPT");
      if (!sent) co_return t;
    }
    rcpt_offset = end;
    auto rcpt_reply = co_await client.read_reply("RCPT");
    if (!rcpt_reply) co_return t;
    if (closing(*rcpt_reply)) co_return closed_by_server(*rcpt_reply, "RCPT");
    if (rcpt_reply->kind() == 2) {
      ++accepted_rcpts;
    } else if (!first_rcpt_refusal) {
      first_rcpt_refusal = rcpt_reply;
    }
  }
  if (mail_reply->kind() == 2) {
    totals.recipients_accepted += accepted_rcpts;
    totals.recipients_refused += o.recipients - accepted_rcpts;
    if (first_rcpt_refusal) run.problems.report("RCPT: " + first_line(*first_rcpt_refusal));
  }
  // Which reply decides, when the envelope failed.
  std::optional<Result> envelope_refused;
  if (mail_reply->kind() != 2) envelope_refused = refusal(*mail_reply);
  else if (accepted_rcpts == 0) envelope_refused = refusal(*first_rcpt_refusal);

  if (!pipelined && envelope_refused) {
    t = {*envelope_refused, true, true};
    co_return t;
  }
  if (chunked) {
    if (!pipelined) {
      sent = co_await send_chunk(bdat_command);
      if (!sent) co_return t;
      data_sent = Clock::now();
    }
  } else {
    if (!pipelined) {
      sent = co_await client.send("DATA\r\n", "DATA");
      if (!sent) co_return t;
    }
    auto data_reply = co_await client.read_reply("DATA");
    if (!data_reply) co_return t;
    if (closing(*data_reply)) co_return closed_by_server(*data_reply, "DATA");
    if (data_reply->code != 354) {
      if (!envelope_refused) run.problems.report("DATA: " + first_line(*data_reply));
      t = {envelope_refused ? *envelope_refused
                            : (data_reply->kind() == 2 ? Result::error : refusal(*data_reply)),
           true, true};
      co_return t;
    }
    // The message. A server that says 354 although it refused the envelope
    // gets an empty message, so it never stores ours by mistake.
    if (!envelope_refused) header = run.factory.header(number, std::time(nullptr));
    std::string_view body = envelope_refused ? std::string_view() : std::string_view(run.factory.stuffed_body());
    std::array<asio::const_buffer, 3> message{asio::buffer(header), asio::buffer(body.data(), body.size()),
                                              asio::buffer(".\r\n", 3)};
    sent = co_await client.write(message, "message data");
    if (!sent) co_return t;
    data_sent = Clock::now();
  }
  // The reply to the end of the data (or to BDAT ... LAST).
  auto final_reply = co_await client.read_reply("end of data");
  if (!final_reply) co_return t;
  if (!envelope_refused) totals.latency.add(milliseconds_between(data_sent, Clock::now()));
  const bool usable = !closing(*final_reply);
  if (envelope_refused) {
    t = {*envelope_refused, usable, false};
  } else if (final_reply->kind() == 2) {
    totals.bytes += run.factory.message_size();
    if (o.record) totals.arrivals.push_back({run.factory.message_id(number), unix_microseconds_now()});
    t = {Result::accepted, usable, false};
  } else {
    run.problems.report("end of data: " + first_line(*final_reply));
    t = {final_reply->kind() == 3 ? Result::error : refusal(*final_reply), usable, false};
  }
  co_return t;
}

/// One of the --concurrency sessions: claims messages and sends them until
/// none are left.
asio::awaitable<void> session(Run& run, SendTotals& totals) {
  std::optional<std::uint64_t> number = run.claim();
  while (number) {
    Opened opened = co_await open(run, totals);
    if (!opened.client) {
      count(totals, opened.failure);
      number = run.claim();
      continue;
    }
    ClientConnection& client = *opened.client;
    bool usable = true;
    for (unsigned sent = 0; number && usable && sent < run.options.per_connection; ++sent) {
      Transaction t = co_await transact(run, client, *number, totals);
      count(totals, t.result);
      usable = t.connection_usable;
      if (usable && t.needs_rset) {
        auto reply = co_await client.command("RSET\r\n", "RSET");
        usable = reply && reply->kind() == 2;
      }
      number = run.claim();
    }
    if (usable) {
      // Be polite, but a slow goodbye is not worth waiting for per message.
      bool sent = co_await client.send("QUIT\r\n", "QUIT");
      if (sent) co_await client.read_reply("QUIT");
    }
  }
}

std::vector<tcp::endpoint> resolve(const SendOptions& o) {
  asio::io_context io;
  tcp::resolver resolver(io);
  std::error_code ec;
  auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
  if (ec) throw std::runtime_error("cannot resolve " + o.host + ": " + ec.message());
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  return endpoints;
}

std::string make_rcpt_commands(const SendOptions& o) {
  std::string commands;
  for (unsigned i = 1; i <= o.recipients; ++i)
    commands += "RCPT TO:<" + expand_recipient(o.to, i) + ">\r\n";
  return commands;
}

}  // namespace

int run_send(const SendOptions& options) {
  Run run{options, resolve(options),
          MessageFactory(options.from, expand_recipient(options.to, 1), options.ehlo, options.size,
                         options.random_message_ids ? MessageIds::scattered : MessageIds::ordered),
          make_rcpt_commands(options), "MAIL FROM:<" + options.from + ">", nullptr, {}, {}};
  if (options.starttls) {
    // A benchmark talks to test servers with self-signed certificates, so the
    // certificate is not verified; the cost of TLS is what is measured.
    run.tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    run.tls->set_verify_mode(asio::ssl::verify_none);
  }

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (unsigned i = 0; i < options.threads; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
  std::vector<SendTotals> per_context(options.threads);
  auto rethrow = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  };
  for (unsigned i = 0; i < options.concurrency; ++i) {
    unsigned c = i % options.threads;
    asio::co_spawn(*contexts[c], session(run, per_context[c]), rethrow);
  }

  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < options.threads; ++i) threads.emplace_back([&, i] { contexts[i]->run(); });
  contexts[0]->run();
  for (auto& t : threads) t.join();

  SendTotals totals;
  totals.messages = options.messages;
  totals.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& t : per_context) totals.merge(t);
  std::cout << (options.json ? format_send_json(totals) : format_send_summary(totals)) << std::flush;
  if (options.record) {
    if (std::string error = write_arrivals(*options.record, totals.arrivals); !error.empty()) {
      std::cerr << "imta-loadgen: " << error << "\n";
      return exit_failure;
    }
  }
  return totals.accepted == totals.messages ? exit_ok : exit_failure;
}

}  // namespace imta::tools::loadgen
