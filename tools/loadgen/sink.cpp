// imta-loadgen sink: an SMTP server that accepts every session, answers
// (almost) everything with 250, counts what arrives, optionally stores each
// message as a file, and prints its rate every second.
//
// Threads: the acceptor, signals and timers run on a control io_context in
// the main thread; sessions run on --threads worker io_contexts, each in its
// own thread, handed out round-robin at accept (the shape of imta's
// dispatcher). Counters are atomics shared by all of them.
//
// Replies to pipelined commands are collected and written once no complete
// command is left in the input (RFC 2920 §3.2). Storing a message is a plain
// synchronous write and rename on the session's thread: the sink is a test
// tool, and a benchmark of a server does not use --store.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "tools/loadgen/connection.hpp"
#include "tools/loadgen/message.hpp"
#include "tools/loadgen/options.hpp"
#include "tools/loadgen/smtp_text.hpp"
#include "tools/loadgen/stats.hpp"

namespace imta::tools::loadgen {

namespace {

constexpr std::size_t max_command_line = 4096;         // well above RFC 5321's 512
constexpr std::size_t max_message_size = 256u << 20;   // advertised with SIZE
constexpr unsigned max_recipients = 10000;
constexpr std::size_t max_header_kept = 64 * 1024;     // --record without --store

/// Counters shared by every session.
struct Counters {
  std::atomic<std::uint64_t> messages{0}, refused{0}, recipients{0}, bytes{0}, connections{0};
  std::atomic<std::uint64_t> open_connections{0};
  std::atomic<std::uint64_t> next_file{0};
  std::atomic<Clock::rep> first_connection{0}, last_message{0};  ///< 0 = not yet

  void note_connection() {
    ++connections;
    Clock::rep none = 0;
    first_connection.compare_exchange_strong(none, Clock::now().time_since_epoch().count());
  }
  void note_message() {
    Clock::rep now = Clock::now().time_since_epoch().count();
    Clock::rep seen = last_message.load();
    while (seen < now && !last_message.compare_exchange_weak(seen, now)) {
    }
  }
};

/// Closes a file descriptor when it goes out of scope.
struct FileDescriptor {
  int fd = -1;
  explicit FileDescriptor(int f) : fd(f) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

/// Writes `message` to DIR/NNNNNNNNNN.eml through a hidden temporary name, so
/// a reader never sees half a message. Returns an error text, empty on success.
std::string store_message(const std::string& dir, std::uint64_t number, const std::string& message) {
  char name[32];
  std::snprintf(name, sizeof name, "%010llu.eml", static_cast<unsigned long long>(number));
  std::string final_path = dir + "/" + name;
  std::string temp_path = dir + "/." + name + ".tmp";
  {
    FileDescriptor file(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (file.fd < 0) return "cannot create " + temp_path + ": " + std::strerror(errno);
    std::size_t written = 0;
    while (written < message.size()) {
      ssize_t n = ::write(file.fd, message.data() + written, message.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return "cannot write " + temp_path + ": " + std::strerror(errno);
      written += static_cast<std::size_t>(n);
    }
  }
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) return "cannot rename to " + final_path + ": " + std::strerror(errno);
  return {};
}

std::string enhanced(int code) { return std::to_string(code / 100) + ".0.0"; }

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  return true;
}

class Sink;

/// One client's SMTP session.
class SinkSession {
 public:
  SinkSession(Sink& sink, std::shared_ptr<Connection> connection) : sink_(sink), conn_(std::move(connection)) {}
  ~SinkSession() { conn_->close(); }
  asio::awaitable<void> run();

 private:
  enum class Next { more, data, chunk, starttls, quit };

  Next handle(std::string_view line);
  void reply(std::string_view text) {
    output_ += text;
    output_ += "\r\n";
  }
  void reset_transaction() {
    in_transaction_ = false;
    recipients_ = 0;
    chunked_message_.clear();
    chunked_size_ = 0;
    chunking_ = false;
  }
  asio::awaitable<bool> flush();
  asio::awaitable<bool> receive_data();
  /// Reads the chunk a BDAT command announced (RFC 3030), whatever its
  /// command's reply: the client sends it without waiting.
  asio::awaitable<bool> receive_chunk();
  /// How much of a message to keep: all of it with --store, the header for
  /// --record, nothing otherwise.
  std::size_t keep_up_to() const;
  /// Counts/stores the message and queues the reply; true when it was the
  /// last one --messages asked for.
  bool finish_message(const std::string& message, std::size_t size);

  Sink& sink_;
  std::shared_ptr<Connection> conn_;
  std::string output_;
  bool in_transaction_ = false;
  unsigned recipients_ = 0;
  // BDAT: the chunk announced, and the message so far.
  std::size_t chunk_size_ = 0;
  bool chunk_last_ = false;
  std::string chunk_refusal_;  ///< the reply when the chunk cannot be taken
  std::string chunked_message_;
  std::size_t chunked_size_ = 0;
  bool chunking_ = false;  ///< a chunk of this transaction was taken: no DATA now
};

/// The listening side: acceptor, workers, counters, stopping.
class Sink {
 public:
  explicit Sink(const SinkOptions& options) : options(options), signals_(control_, SIGINT, SIGTERM) {
    for (unsigned i = 0; i < options.threads; ++i) {
      workers_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(workers_.back()->get_executor());
    }
    if (options.starttls) {
      tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      tls->use_certificate_chain_file(options.cert_file);
      tls->use_private_key_file(options.key_file, asio::ssl::context::pem);
    }
  }

  int run();
  /// Ends the run (from any thread): stops accepting and every session.
  void request_stop() { asio::post(control_, [this] { stop(); }); }

  const SinkOptions& options;
  std::unique_ptr<asio::ssl::context> tls;
  Counters counters;
  /// --record: one entry per accepted message, from every worker thread.
  void record(Arrival arrival) {
    std::lock_guard lock(arrivals_mutex_);
    arrivals_.push_back(std::move(arrival));
  }

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> report_rates();
  void stop();

  // Workers come first so they are destroyed last: a pending accept on the
  // control context holds a socket that belongs to a worker.
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  asio::io_context control_{1};
  asio::signal_set signals_;
  tcp::acceptor acceptor_{control_};
  asio::steady_timer duration_timer_{control_};
  asio::steady_timer* rate_timer_ = nullptr;
  bool stopping_ = false;
  std::mutex arrivals_mutex_;
  std::vector<Arrival> arrivals_;
};

asio::awaitable<bool> SinkSession::flush() {
  if (output_.empty()) co_return true;
  std::error_code ec = co_await conn_->write(asio::buffer(output_));
  output_.clear();
  co_return !ec;
}

SinkSession::Next SinkSession::handle(std::string_view line) {
  const SinkOptions& o = sink_.options;
  Command command = split_command(line);
  const std::string& verb = command.verb;
  if (verb == "EHLO") {
    reset_transaction();
    reply("250-" + o.hostname + " Hello");
    reply("250-PIPELINING");
    reply("250-SIZE " + std::to_string(max_message_size));
    reply("250-8BITMIME");
    reply("250-CHUNKING");
    if (sink_.tls && !conn_->tls_active()) reply("250-STARTTLS");
    reply("250 ENHANCEDSTATUSCODES");
  } else if (verb == "HELO") {
    reset_transaction();
    reply("250 " + o.hostname);
  } else if (verb == "MAIL") {
    if (in_transaction_) reply("503 5.5.1 Error: nested MAIL command");
    else if (!starts_with_ci(command.argument, "FROM:")) reply("501 5.5.4 Syntax: MAIL FROM:<address>");
    else {
      in_transaction_ = true;
      reply("250 2.1.0 Ok");
    }
  } else if (verb == "RCPT") {
    if (!in_transaction_) reply("503 5.5.1 Error: need MAIL command");
    else if (!starts_with_ci(command.argument, "TO:")) reply("501 5.5.4 Syntax: RCPT TO:<address>");
    else if (recipients_ >= max_recipients) reply("452 4.5.3 Too many recipients");
    else if (o.reply_code / 100 == 2) {
      ++recipients_;
      reply(std::to_string(o.reply_code) + " 2.1.5 Ok");
    } else {
      reply(std::to_string(o.reply_code) + " " + enhanced(o.reply_code) + " Recipient refused by sink");
    }
  } else if (verb == "DATA") {
    if (!in_transaction_) reply("503 5.5.1 Error: need MAIL command");
    else if (recipients_ == 0) reply("554 5.5.1 Error: no valid recipients");
    else if (chunking_) reply("503 5.5.1 Error: DATA after BDAT");
    else {
      reply("354 End data with <CR><LF>.<CR><LF>");
      return Next::data;
    }
  } else if (verb == "BDAT") {
    // Without a size nobody knows where the chunk ends: the rest is read
    // as commands.
    auto chunk = parse_bdat(command.argument);
    if (!chunk) {
      reply("501 5.5.4 Syntax: BDAT size [LAST]");
      return Next::more;
    }
    chunk_size_ = chunk->size;
    chunk_last_ = chunk->last;
    chunk_refusal_.clear();
    if (!in_transaction_) chunk_refusal_ = "503 5.5.1 Error: need MAIL command";
    else if (recipients_ == 0) chunk_refusal_ = "554 5.5.1 Error: no valid recipients";
    return Next::chunk;
  } else if (verb == "RSET") {
    reset_transaction();
    reply("250 2.0.0 Ok");
  } else if (verb == "NOOP") {
    reply("250 2.0.0 Ok");
  } else if (verb == "VRFY") {
    reply("252 2.5.0 Cannot VRFY user, but will accept message");
  } else if (verb == "HELP") {
    reply("214 2.0.0 imta-loadgen sink");
  } else if (verb == "QUIT") {
    reply("221 2.0.0 Bye");
    return Next::quit;
  } else if (verb == "STARTTLS" && sink_.tls && !conn_->tls_active()) {
    reset_transaction();
    reply("220 2.0.0 Ready to start TLS");
    return Next::starttls;
  } else {
    reply("502 5.5.2 Error: command not recognized");
  }
  return Next::more;
}

bool SinkSession::finish_message(const std::string& message, std::size_t size) {
  const SinkOptions& o = sink_.options;
  Counters& c = sink_.counters;
  if (size > max_message_size) {
    reply("552 5.3.4 Message too big");
  } else if (o.data_reply_code / 100 != 2) {
    ++c.refused;
    reply(std::to_string(o.data_reply_code) + " " + enhanced(o.data_reply_code) + " Message refused by sink");
  } else {
    std::uint64_t file_number = ++c.next_file;
    if (o.store_dir) {
      if (std::string error = store_message(*o.store_dir, file_number, message); !error.empty()) {
        std::cerr << "imta-loadgen: " << error << "\n";
        reply("451 4.3.0 Error: cannot store the message");
        reset_transaction();
        return false;
      }
    }
    if (o.record) sink_.record({find_message_id(message), unix_microseconds_now()});
    c.recipients += recipients_;
    c.bytes += size;
    c.note_message();
    std::uint64_t count = ++c.messages;
    reply("250 2.0.0 Ok: queued as " + std::to_string(file_number));
    reset_transaction();
    return o.messages && count == *o.messages;
  }
  reset_transaction();
  return false;
}

std::size_t SinkSession::keep_up_to() const {
  // --record alone needs the header only (for the Message-ID).
  if (sink_.options.store_dir) return max_message_size;
  return sink_.options.record ? max_header_kept : 0;
}

asio::awaitable<bool> SinkSession::receive_data() {
  bool flushed = co_await flush();  // the client waits for 354
  if (!flushed) co_return false;
  DataDecoder decoder;
  std::string message;
  const std::size_t keep = keep_up_to();
  while (true) {
    std::string* out = keep > 0 && decoder.size() <= keep ? &message : nullptr;
    std::size_t used = decoder.feed(conn_->input, out);
    conn_->input.erase(0, used);
    if (decoder.done()) break;
    std::error_code ec = co_await conn_->fill();
    if (ec) co_return false;
  }
  if (finish_message(message, decoder.size())) {
    // The client must see its 250 before the sink stops.
    co_await flush();
    sink_.request_stop();
  }
  co_return true;
}

asio::awaitable<bool> SinkSession::receive_chunk() {
  const std::size_t keep = keep_up_to();
  std::size_t left = chunk_size_;
  while (true) {
    std::size_t take = std::min(left, conn_->input.size());
    if (chunk_refusal_.empty() && chunked_size_ < keep)
      chunked_message_.append(conn_->input, 0, std::min(take, keep - chunked_size_));
    if (chunk_refusal_.empty()) chunked_size_ += take;
    conn_->input.erase(0, take);
    left -= take;
    if (left == 0) break;
    std::error_code ec = co_await conn_->fill();
    if (ec) co_return false;
  }
  if (!chunk_refusal_.empty()) {
    reply(chunk_refusal_);
    if (in_transaction_) reset_transaction();  // RFC 3030: a failed BDAT ends the transaction
  } else if (!chunk_last_) {
    chunking_ = true;
    reply("250 2.0.0 " + std::to_string(chunk_size_) + " octets received");
  } else {
    std::string message = std::move(chunked_message_);
    if (finish_message(message, chunked_size_)) {
      co_await flush();
      sink_.request_stop();
    }
  }
  co_return true;
}

asio::awaitable<void> SinkSession::run() {
  reply("220 " + sink_.options.hostname + " ESMTP imta-loadgen sink");
  while (true) {
    LineFind found = find_line(conn_->input, max_command_line);
    if (found.status == ParseStatus::bad) {
      reply("500 5.5.2 Error: line too long");
      co_await flush();
      co_return;
    }
    if (found.status == ParseStatus::complete) {
      Next next = handle(found.line);
      conn_->input.erase(0, found.consumed);
      if (next == Next::data) {
        bool received = co_await receive_data();
        if (!received) co_return;
      }
      if (next == Next::chunk) {
        bool received = co_await receive_chunk();
        if (!received) co_return;
      }
      if (next == Next::quit) {
        co_await flush();
        co_return;
      }
      if (next == Next::starttls) {
        bool flushed = co_await flush();
        if (!flushed) co_return;
        std::error_code ec = co_await conn_->handshake(*sink_.tls, asio::ssl::stream_base::server);
        if (ec) co_return;
      }
      continue;
    }
    // Nothing complete is left: answer what was pipelined, then wait.
    bool flushed = co_await flush();
    if (!flushed) co_return;
    std::error_code ec = co_await conn_->fill();
    if (ec) co_return;
  }
}

asio::awaitable<void> Sink::accept_loop() {
  const auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_seconds));
  std::size_t next_worker = 0;
  while (!stopping_) {
    asio::io_context& worker = *workers_[next_worker++ % workers_.size()];
    auto [ec, socket] = co_await acceptor_.async_accept(asio::any_io_executor(worker.get_executor()), as_result);
    if (stopping_) break;
    if (ec) {
      // Out of descriptors and the like: say so, breathe, go on.
      std::cerr << "imta-loadgen: accept: " << ec.message() << "\n";
      asio::steady_timer pause(control_, std::chrono::milliseconds(100));
      co_await pause.async_wait(as_result);
      continue;
    }
    counters.note_connection();
    auto connection = std::make_shared<Connection>(std::move(socket), timeout);
    asio::co_spawn(worker, [this, connection]() -> asio::awaitable<void> {
      ++counters.open_connections;
      std::error_code ignored;
      connection->socket().set_option(tcp::no_delay(true), ignored);
      connection->start_watchdog();
      {
        SinkSession session(*this, connection);
        co_await session.run();
      }
      --counters.open_connections;
    }, asio::detached);
  }
}

asio::awaitable<void> Sink::report_rates() {
  asio::steady_timer timer(control_);
  rate_timer_ = &timer;
  std::uint64_t messages = 0, recipients = 0, bytes = 0;
  Clock::time_point last = Clock::now();
  while (!stopping_) {
    timer.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer.async_wait(as_result);
    if (ec || stopping_) break;
    Clock::time_point now = Clock::now();
    std::uint64_t m = counters.messages, r = counters.recipients, b = counters.bytes;
    // Quiet until the first client arrives, so an idle sink does not chatter.
    if (counters.connections > 0 && !options.quiet) {
      std::cerr << format_rate_line(m - messages, r - recipients, b - bytes,
                                    std::chrono::duration<double>(now - last).count(), m,
                                    counters.open_connections)
                << std::flush;
    }
    messages = m, recipients = r, bytes = b, last = now;
  }
  rate_timer_ = nullptr;
}

void Sink::stop() {
  if (stopping_) return;
  stopping_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  duration_timer_.cancel();
  if (rate_timer_) rate_timer_->cancel();
  signals_.cancel(ignored);
  for (auto& guard : guards_) guard.reset();
  for (auto& worker : workers_) worker->stop();
  control_.stop();
}

int Sink::run() {
  try {
    tcp::endpoint endpoint(asio::ip::make_address(options.host), options.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  } catch (const std::system_error& e) {
    std::cerr << "imta-loadgen: cannot listen on " << options.host << ":" << options.port << ": "
              << e.code().message() << "\n";
    return exit_failure;
  }
  tcp::endpoint local = acceptor_.local_endpoint();
  std::string address = local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                                 : local.address().to_string();
  std::cout << "listening on " << address << ":" << local.port() << std::endl;

  Clock::time_point start = Clock::now();
  auto rethrow = [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  };
  signals_.async_wait([this](std::error_code ec, int) {
    if (!ec) stop();
  });
  asio::co_spawn(control_, accept_loop(), rethrow);
  asio::co_spawn(control_, report_rates(), rethrow);
  if (options.duration_seconds) {
    duration_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(*options.duration_seconds)));
    duration_timer_.async_wait([this](std::error_code ec) {
      if (!ec) stop();
    });
  }

  std::vector<std::thread> threads;
  for (auto& worker : workers_) threads.emplace_back([&worker] { worker->run(); });
  control_.run();
  for (auto& t : threads) t.join();
  Clock::time_point end = Clock::now();

  SinkTotals totals;
  totals.messages = counters.messages;
  totals.refused = counters.refused;
  totals.recipients = counters.recipients;
  totals.bytes = counters.bytes;
  totals.connections = counters.connections;
  totals.elapsed_seconds = std::chrono::duration<double>(end - start).count();
  if (Clock::rep first = counters.first_connection, last = counters.last_message; first && last > first)
    totals.active_seconds = std::chrono::duration<double>(Clock::duration(last - first)).count();
  std::cout << (options.json ? format_sink_json(totals) : format_sink_summary(totals)) << std::flush;
  if (options.record) {
    std::lock_guard lock(arrivals_mutex_);
    if (std::string error = write_arrivals(*options.record, arrivals_); !error.empty()) {
      std::cerr << "imta-loadgen: " << error << "\n";
      return exit_failure;
    }
  }
  return exit_ok;
}

}  // namespace

int run_sink(const SinkOptions& options) {
  if (options.store_dir && ::access(options.store_dir->c_str(), W_OK) != 0) {
    std::cerr << "imta-loadgen: cannot write to " << *options.store_dir << ": " << std::strerror(errno) << "\n";
    return exit_failure;
  }
  std::unique_ptr<Sink> sink;
  try {
    sink = std::make_unique<Sink>(options);
  } catch (const std::system_error& e) {
    std::cerr << "imta-loadgen: cannot load the TLS certificate or key: " << e.what() << "\n";
    return exit_failure;
  }
  return sink->run();
}

}  // namespace imta::tools::loadgen
