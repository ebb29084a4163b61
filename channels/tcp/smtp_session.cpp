// One SMTP server session; see smtp_session.hpp. The shape:
//
//   run()        greeting, then next_line() / handle_line() until QUIT, a
//                timeout, a disconnect limit, the client's close or a stop
//   next_line()  hands out buffered command lines; when none is complete it
//                first sends the replies gathered so far (pipelining: a
//                client that sent ten commands at once gets ten replies in
//                one write), then reads more
//   on(...)      one member per verb: check the sequence (smtp_policy),
//                act, queue the reply
//
// Errors on the network are values (as_tuple), never exceptions; the
// watchdog (worker_context.hpp) turns an expired deadline into a cancelled
// operation, which the waiting code sees as operation_aborted.
#include "channels/tcp/smtp_session.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <ctime>
#include <unordered_set>

#include "channels/tcp/received_header.hpp"
#include "channels/tcp/session_config_cache.hpp"
#include "channels/tcp/smtp_auth.hpp"
#include "channels/tcp/smtp_data.hpp"
#include "channels/tcp/worker_context.hpp"
#include "config/access_probes.hpp"
#include "config/log_options.hpp"
#include "core/smtp/data_decoder.hpp"
#include "core/password_hash.hpp"
#include "core/smtp/line_reader.hpp"
#include "core/text.hpp"

namespace imta::channels::tcp {

struct TlsContext {
  explicit TlsContext(SSL_CTX* native) : ssl(native) {}
  asio::ssl::context ssl;
};

std::shared_ptr<TlsContext> make_tls_context(SslCtxPtr context) {
  return std::make_shared<TlsContext>(context.release());  // asio::ssl::context owns it now
}

namespace {

using asio::ip::tcp;
using core::log::LogRecord;
using core::log::RecordCode;
using core::smtp::Command;
using Clock = std::chrono::steady_clock;
// Asio 1.22 (Debian 12) keeps as_tuple in experimental.
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// A line that never ends is dropped as it comes; past this much the
/// client is not speaking SMTP and the connection ends.
constexpr std::uint64_t kMaxDiscard = 1 << 20;
/// Replies gathered beyond this are sent even if more commands are buffered.
constexpr std::size_t kMaxPendingOutput = 64 * 1024;
/// How long the last words (421, 221) may take before we just close.
constexpr std::chrono::seconds kGoodbyeTimeout{5};

bool counts_as_bad(int code) { return (code >= 500 && code <= 504) || code == 555; }

struct CommitOutcome {
  std::error_code error;
  std::vector<queue::QueuePath> paths;
};

class Session final : public Watched {
 public:
  Session(dispatcher::Connection connection, std::shared_ptr<ServerResources> resources, WorkerContext& worker)
      : conn_(std::move(connection)),
        res_(std::move(resources)),
        worker_(worker),
        snap_(conn_.snapshot),
        config_(SessionConfigCache::for_snapshot(snap_)),
        tls_ctx_(res_->tls.load()),
        log_options_(config_->log_options()),
        count_(worker.next_count()) {
    worker_.add(this);
  }
  ~Session() override { worker_.remove(this); }

  asio::awaitable<void> run();
  void on_tick(Clock::time_point now) override;

 private:
  // ---- I/O ----
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : conn_.socket; }
  asio::awaitable<bool> next_line();
  asio::awaitable<std::error_code> read_some();
  asio::awaitable<bool> read_more(std::chrono::seconds timeout);
  asio::awaitable<bool> flush(std::chrono::seconds timeout);
  asio::awaitable<bool> start_tls();
  asio::awaitable<void> finish();
  void arm(std::chrono::seconds timeout, bool idle);
  void arm_until(Clock::time_point deadline, bool idle);
  void disarm();
  void cancel_io();

  // ---- replies and logs ----
  void reply(const Reply& r);
  void bad_command(const Reply& r, std::string_view shown);
  void close_with(const Reply& r, std::string reason);
  core::log::Modifiers modifiers() const;
  LogRecord record(RecordCode code) const;
  void log_connection(RecordCode code, std::string diagnostic);
  void log_refusal(std::string_view to, const Reply& r);
  void log_auth(const Reply& r);
  void log_etrn(std::string_view node, const Reply& r);
  void refuse_recipient(std::string_view address, const Reply& r);

  // ---- commands ----
  asio::awaitable<void> handle_line();
  asio::awaitable<void> on(const core::smtp::Helo& c);
  asio::awaitable<void> on(const core::smtp::Ehlo& c);
  asio::awaitable<void> on(const core::smtp::Mail& c);
  asio::awaitable<void> on(const core::smtp::Rcpt& c);
  asio::awaitable<void> on(const core::smtp::Data& c);
  asio::awaitable<void> on(const core::smtp::Bdat& c);
  asio::awaitable<void> on(const core::smtp::Rset& c);
  asio::awaitable<void> on(const core::smtp::Noop& c);
  asio::awaitable<void> on(const core::smtp::Quit& c);
  asio::awaitable<void> on(const core::smtp::Help& c);
  asio::awaitable<void> on(const core::smtp::Vrfy& c);
  asio::awaitable<void> on(const core::smtp::Expn& c);
  asio::awaitable<void> on(const core::smtp::Starttls& c);
  asio::awaitable<void> on(const core::smtp::Auth& c);
  asio::awaitable<void> on(const core::smtp::Etrn& c);
  asio::awaitable<void> auth_step(const SaslExchange::Step& step);
  asio::awaitable<void> auth_failed(const Reply& r);
  asio::awaitable<bool> skip_bytes(std::uint64_t n);
  asio::awaitable<void> deliver(MessageAssembler& message);
  asio::awaitable<void> pause(int hundredths);

  // ---- state ----
  SessionFacts facts() const;
  void switch_channel(const std::string& channel);
  void reset_transaction();
  std::unique_ptr<MessageAssembler> new_message();
  const std::string& greeting_host() const { return listening_->banner_host; }

  dispatcher::Connection conn_;
  std::shared_ptr<ServerResources> res_;
  WorkerContext& worker_;
  std::shared_ptr<const config::Snapshot> snap_;
  std::shared_ptr<SessionConfigCache> config_;  // what is derived from snap_
  std::shared_ptr<TlsContext> tls_ctx_;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls_;
  std::vector<char> tls_buffer_;
  core::log::LogOptions log_options_;
  std::uint32_t count_;

  std::string transport_, port_probe_, client_literal_;
  std::chrono::seconds command_timeout_{300}, data_timeout_{180}, dot_timeout_{600};
  // Into config_, which outlives them (pointers: an idle session is small).
  const ChannelSettings* listening_ = nullptr;  // the service's channel: banner
  const ChannelSettings* settings_ = nullptr;   // the current source channel

  core::smtp::LineReader reader_;
  std::string line_;
  std::string out_;
  SessionState state_;
  std::string helo_;
  std::string auth_user_;
  std::string tls_info_;
  SaslExchange sasl_;
  bool in_auth_ = false;

  // Deadline and wake-up, set by the I/O code, read by the watchdog.
  Clock::time_point deadline_ = Clock::time_point::max();
  bool idle_ = false;
  bool timed_out_ = false;
  bool stop_requested_ = false;

  bool closing_ = false;
  bool reply_just_sent_ = false;  ///< read_some(): the client has to read it before it answers
  std::string close_reason_;
  int bad_commands_ = 0;
  int bad_auths_ = 0;
  int b_records_ = 0;
  // For the disconnect*limit keywords: counted over the whole session.
  int session_transactions_ = 0;
  int session_recipients_ = 0;
  int session_rejects_ = 0;
  std::unique_ptr<LogRecord> pending_j_;  // the last J is marked at the close (a pointer: rare, and big)
  std::chrono::system_clock::time_point pending_j_time_;

  // The mail transaction.
  std::string from_;
  /// Fields a `submit` channel adds to the message being received (Date:,
  /// Message-ID:), after the Received: field; empty otherwise.
  std::string submission_fields_;
  core::smtp::MailParams mail_params_;
  Diversion diversion_ = Diversion::none;
  std::vector<AcceptedRecipient> recipients_;
  std::unordered_set<std::string> recipient_keys_;  // channel NUL lower-cased address
  bool used_chunking_ = false;
  std::unique_ptr<MessageAssembler> bdat_message_;
  /// From MAIL FROM until the message is committed or the transaction ends:
  /// the queue's commit batch waits a little for messages on their way.
  queue::ExpectedMessage expected_;
  core::smtp::CrlfChecker bdat_crlf_;
  std::uint64_t bdat_size_ = 0;
  /// DOT_TIMEOUT: when the message data must be complete (from the 354 or
  /// the first BDAT), however steadily it trickles in.
  Clock::time_point data_deadline_ = Clock::time_point::max();
};

// ---- the session --------------------------------------------------------------------

asio::awaitable<void> Session::run() {
  std::error_code ec;
  const auto& ends = conn_.ends;
  transport_ = core::log::transport_info(ends.local_ip, ends.local_port, ends.remote_ip, ends.remote_port);
  port_probe_ = config::port_access_probe(ends.local_ip, ends.local_port, ends.remote_ip, ends.remote_port);
  client_literal_ = ends.remote_ip.find(':') != std::string::npos ? "[IPv6:" + ends.remote_ip + "]" : "[" + ends.remote_ip + "]";
  conn_.socket.non_blocking(true, ec);
  conn_.socket.set_option(tcp::no_delay(true), ec);

  if (const auto* service = snap_->dispatcher.service(conn_.service)) {
    if (service->command_timeout > 0) command_timeout_ = std::chrono::seconds(service->command_timeout);
    if (service->data_timeout > 0) data_timeout_ = std::chrono::seconds(service->data_timeout);
    if (service->dot_timeout > 0) dot_timeout_ = std::chrono::seconds(service->dot_timeout);
  }
  listening_ = &config_->settings(conn_.channel);
  settings_ = &config_->settings(config_->connection_channel(conn_.channel, ends.remote_ip));
  reader_ = core::smtp::LineReader(settings_->sasl != Offer::no ? 12288 : core::smtp::LineReader::default_max_line);
  log_connection(RecordCode::ConnectionOpen, {});

  try {
    bool ready = true;
    if (conn_.implicit_tls) {
      if (!tls_ctx_) {
        close_reason_ = "no TLS certificate for an implicit-TLS port";
        ready = false;
      } else {
        ready = co_await start_tls();
      }
    }
    if (ready) {
      if (conn_.stopping && conn_.stopping->load())
        close_with(replies::shutting_down(greeting_host()), "shutting down");
      else
        reply({220, "", greeting_host() + " " + listening_->banner_body});
      // (No co_await inside && or ||: GCC 12 miscompiles it.)
      while (!closing_) {
        bool got = co_await next_line();
        if (!got) break;
        co_await handle_line();
      }
    }
  } catch (const std::exception& e) {
    // Nothing a client sends should get here; if something does, the
    // session ends and the daemon's log says what happened.
    res_->diagnostic("session with " + ends.remote_ip + " ended by an internal error: " + e.what());
    close_reason_ = "internal error";
  }
  co_await finish();
}

void Session::on_tick(Clock::time_point now) {
  if (now >= deadline_) {
    timed_out_ = true;
    deadline_ = Clock::time_point::max();
    cancel_io();
  } else if (idle_ && conn_.stopping && conn_.stopping->load() && !stop_requested_) {
    stop_requested_ = true;
    cancel_io();
  }
}

void Session::cancel_io() {
  std::error_code ignored;
  socket().cancel(ignored);
}

void Session::arm(std::chrono::seconds timeout, bool idle) { arm_until(Clock::now() + timeout, idle); }

void Session::arm_until(Clock::time_point deadline, bool idle) {
  deadline_ = deadline;
  idle_ = idle;
  timed_out_ = false;
}

void Session::disarm() {
  deadline_ = Clock::time_point::max();
  idle_ = false;
}

asio::awaitable<std::error_code> Session::read_some() {
  if (tls_) {
    auto [ec, n] = co_await tls_->async_read_some(asio::buffer(tls_buffer_), use_tuple);
    if (!ec) reader_.feed(std::string_view(tls_buffer_.data(), n));
    co_return ec;
  }
  // Plain text: read into the thread's buffer; when nothing is there, wait
  // until readable. Reading first is cheaper when the client may have
  // answered already (a wait costs an epoll_ctl, as Asio re-arms the
  // descriptor to learn whether it is readable); right after a reply it
  // cannot have (it has to read the reply first), and the read would only
  // fail with EAGAIN: then the wait comes first.
  bool wait_first = reply_just_sent_;
  reply_just_sent_ = false;
  for (;;) {
    if (wait_first) {
      wait_first = false;
      auto [wait_ec] = co_await conn_.socket.async_wait(tcp::socket::wait_read, use_tuple);
      if (wait_ec) co_return wait_ec;
    }
    std::error_code ec;
    std::size_t n = conn_.socket.read_some(asio::buffer(worker_.read_buffer), ec);
    if (!ec) {
      reader_.feed(std::string_view(worker_.read_buffer.data(), n));
      co_return ec;
    }
    if (ec != asio::error::would_block && ec != asio::error::try_again) co_return ec;
    wait_first = true;
  }
}

asio::awaitable<bool> Session::read_more(std::chrono::seconds timeout) {
  // Message data waits for at most `timeout` per read and, in all, until
  // the DOT_TIMEOUT deadline. (Checked here too: a client that keeps the
  // socket always readable never waits, so the watchdog never fires.)
  const auto now = Clock::now();
  const bool by_dot = data_deadline_ != Clock::time_point::max() && data_deadline_ < now + timeout;
  if (by_dot && now >= data_deadline_) {
    close_with(replies::timeout(greeting_host()), "timeout waiting for the end of the message data");
    co_return false;
  }
  arm_until(by_dot ? data_deadline_ : now + timeout, false);
  auto ec = co_await read_some();
  bool expired = timed_out_;
  disarm();
  if (!ec) co_return true;
  if (ec == asio::error::operation_aborted && expired) {
    close_with(replies::timeout(greeting_host()),
               by_dot ? "timeout waiting for the end of the message data" : "timeout");
  } else if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    closing_ = true;
    close_reason_ = "connection closed by the client";
  } else {
    closing_ = true;
    close_reason_ = "read error: " + ec.message();
  }
  co_return false;
}

asio::awaitable<bool> Session::flush(std::chrono::seconds timeout) {
  if (out_.empty()) co_return true;
  std::error_code ec;
  if (!tls_ && conn_.socket.non_blocking()) {
    // Replies are small and the socket buffer has room: send right away
    // (non-blocking) without a trip through the event loop; only what does
    // not fit waits for the socket to become writable.
    std::size_t n = conn_.socket.send(asio::buffer(out_), 0, ec);
    if (!ec && n == out_.size()) {
      out_.clear();
      reply_just_sent_ = true;
      co_return true;
    }
    if (!ec) {
      out_.erase(0, n);
    } else if (ec != asio::error::would_block && ec != asio::error::try_again) {
      out_.clear();
      closing_ = true;
      if (close_reason_.empty()) close_reason_ = "write error: " + ec.message();
      co_return false;
    }
    ec.clear();
  }
  arm(timeout, false);
  if (tls_) {
    auto [e, n] = co_await asio::async_write(*tls_, asio::buffer(out_), use_tuple);
    ec = e;
  } else {
    auto [e, n] = co_await asio::async_write(conn_.socket, asio::buffer(out_), use_tuple);
    ec = e;
  }
  bool expired = timed_out_;
  disarm();
  out_.clear();
  if (!ec) {
    reply_just_sent_ = true;
    co_return true;
  }
  closing_ = true;
  if (close_reason_.empty()) close_reason_ = expired ? "timeout while sending" : "write error: " + ec.message();
  co_return false;
}

asio::awaitable<bool> Session::next_line() {
  for (;;) {
    auto next = reader_.next();
    if (next.status == core::smtp::LineReader::Status::line) {
      line_.assign(next.line);
      co_return true;
    }
    if (next.status == core::smtp::LineReader::Status::too_long) {
      bad_command(replies::line_too_long(), "(line too long)");
      if (closing_) co_return false;
      continue;
    }
    if (reader_.discarding() > kMaxDiscard) {
      close_with(replies::line_too_long(), "line too long");
      co_return false;
    }
    if (conn_.stopping && conn_.stopping->load()) {
      close_with(replies::shutting_down(greeting_host()), "shutting down");
      co_return false;
    }
    if (!out_.empty()) {
      bool sent = co_await flush(command_timeout_);
      if (!sent) co_return false;
    }
    // Waiting for the client's next command: the watchdog may wake us for a stop.
    arm(command_timeout_, true);
    auto ec = co_await read_some();
    bool expired = timed_out_, stop = stop_requested_;
    disarm();
    if (!ec) continue;
    if (ec == asio::error::operation_aborted && expired) {
      close_with(replies::timeout(greeting_host()), "timeout");
    } else if (ec == asio::error::operation_aborted && stop) {
      close_with(replies::shutting_down(greeting_host()), "shutting down");
    } else if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      closing_ = true;
      close_reason_ = in_auth_ || state_.in_transaction ? "connection closed by the client during a transaction"
                                                        : "connection closed by the client";
    } else {
      closing_ = true;
      close_reason_ = "read error: " + ec.message();
    }
    co_return false;
  }
}

asio::awaitable<bool> Session::start_tls() {
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(conn_.socket), tls_ctx_->ssl);
  tls_buffer_.resize(4096);
  arm(command_timeout_, false);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_tuple);
  bool expired = timed_out_;
  disarm();
  if (ec) {
    closing_ = true;
    close_reason_ = expired ? "timeout in the TLS handshake" : "TLS handshake failed: " + ec.message();
    co_return false;
  }
  SSL* ssl = tls_->native_handle();
  tls_info_ = std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
  state_.tls = true;
  if (!settings_->tls_switch.empty()) switch_channel(settings_->tls_switch);
  co_return true;
}

asio::awaitable<void> Session::finish() {
  if (!out_.empty()) co_await flush(kGoodbyeTimeout);
  std::error_code ignored;
  socket().shutdown(tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
  reset_transaction();
  if (pending_j_) {
    pending_j_->last_in_session = true;
    res_->log.write(std::move(*pending_j_), pending_j_time_);
    pending_j_.reset();
  }
  log_connection(RecordCode::ConnectionClose, close_reason_.empty() ? "connection closed" : close_reason_);
}

// ---- replies and logs --------------------------------------------------------------------

void Session::reply(const Reply& r) {
  if (r.code == 334 && r.text.empty()) {
    out_ += "334 \r\n";  // RFC 4954: an empty challenge is "334" and a space
    return;
  }
  core::smtp::append_wire(out_, r);
}

void Session::close_with(const Reply& r, std::string reason) {
  reply(r);
  closing_ = true;
  close_reason_ = std::move(reason);
}

void Session::bad_command(const Reply& r, std::string_view shown) {
  reply(r);
  if (!counts_as_bad(r.code)) return;
  ++bad_commands_;
  if (b_records_ < settings_->max_b_entries && settings_->logging) {
    ++b_records_;
    auto rec = record(RecordCode::BadCommand);
    rec.active_to = std::string(shown.substr(0, 200));
    rec.diagnostics = {std::to_string(r.code) + " " + r.enhanced + " " + r.text};
    res_->log.write(std::move(rec));
  }
  if (bad_commands_ >= settings_->bad_command_limit)
    close_with(replies::too_many_bad_commands(), "disconnect bad command limit reached");
}

core::log::Modifiers Session::modifiers() const {
  // S (TLS), A (AUTH) and C (BDAT), as the 2005Q4 manual's ES, EA, ESA; the
  // later "E for ESMTP" modifier is not written (nearly every session is ESMTP).
  core::log::Modifiers m;
  m.chunking = used_chunking_;
  m.tls = state_.tls;
  m.sasl = state_.authenticated;
  return m;
}

LogRecord Session::record(RecordCode code) const {
  LogRecord r;
  r.code = code;
  r.modifiers = modifiers();
  r.thread = worker_.number;
  r.count = count_;
  r.source_channel = settings_->name;
  r.username = res_->username;
  r.auth_user = auth_user_;
  r.transport = transport_;
  r.application = "SMTP";
  r.direction = core::log::Direction::Inbound;
  return r;
}

void Session::log_connection(RecordCode code, std::string diagnostic) {
  int bit = code == RecordCode::Auth ? core::log::kLogConnectionAuth : core::log::kLogConnectionRecords;
  if (!(log_options_.connection & bit) || !settings_->logging) return;
  auto r = record(code);
  r.modifiers = {};
  if (!diagnostic.empty()) r.diagnostics = {std::move(diagnostic)};
  res_->log.write(std::move(r));
}

void Session::log_refusal(std::string_view to, const Reply& r) {
  if (!settings_->logging) return;
  auto rec = record(RecordCode::Refused);
  rec.modifiers.chunking = false;
  rec.env_from = from_;
  rec.active_to = std::string(to);
  rec.diagnostics = {std::to_string(r.code) + " " + r.enhanced + " " + r.text};
  if (pending_j_) res_->log.write(std::move(*pending_j_), pending_j_time_);
  pending_j_ = std::make_unique<LogRecord>(std::move(rec));
  pending_j_time_ = std::chrono::system_clock::now();
}

void Session::log_etrn(std::string_view node, const Reply& r) {
  if (!(log_options_.connection & core::log::kLogConnectionRecords) || !settings_->logging) return;
  auto rec = record(RecordCode::Etrn);
  rec.modifiers = {};
  rec.etrn_argument = std::string(node);
  rec.diagnostics = {std::to_string(r.code) + " " + r.enhanced + " " + r.text};
  res_->log.write(std::move(rec));
}

void Session::refuse_recipient(std::string_view address, const Reply& r) {
  log_refusal(address, r);
  reply(r);
  if (settings_->reject_limit > 0 && ++session_rejects_ >= settings_->reject_limit)
    close_with(replies::too_many_rejections(), "disconnect reject limit reached");
}

void Session::log_auth(const Reply& r) {
  if (!(log_options_.connection & core::log::kLogConnectionAuth) || !settings_->logging) return;
  auto rec = record(RecordCode::Auth);
  rec.modifiers = {};
  rec.auth_user = sasl_.user();
  rec.diagnostics = {std::to_string(r.code) + " " + r.enhanced + " " + r.text};
  res_->log.write(std::move(rec));
}

// ---- state ----------------------------------------------------------------------------

SessionFacts Session::facts() const {
  SessionFacts f;
  f.source_channel = settings_->name;
  f.port_probe = port_probe_;
  f.helo = helo_;
  f.esmtp = state_.esmtp;
  f.tls = state_.tls;
  f.authenticated = state_.authenticated;
  f.auth_user = auth_user_;
  return f;
}

void Session::switch_channel(const std::string& channel) {
  if (channel.empty() || core::iequals(channel, settings_->name) || !snap_->imta_cnf.find_channel(channel)) return;
  settings_ = &config_->settings(channel);
}

void Session::reset_transaction() {
  state_.in_transaction = false;
  state_.recipients = 0;
  state_.chunking_started = false;
  from_.clear();
  mail_params_ = {};
  diversion_ = Diversion::none;
  recipients_.clear();
  recipient_keys_.clear();
  used_chunking_ = false;
  bdat_message_.reset();  // an unfinished BDAT message is aborted (its files removed)
  bdat_crlf_.reset();
  bdat_size_ = 0;
  data_deadline_ = Clock::time_point::max();
  expected_ = {};
}

std::unique_ptr<MessageAssembler> Session::new_message() {
  auto maker = [this](const HeaderFacts& header) {
    TransactionInfo info;  // (views of the session's state, and of `added_id`)
    std::string added_id;
    info.from = from_;
    if (mail_params_.envid) info.envid = *mail_params_.envid;
    info.ret = mail_params_.ret;
    info.source_channel = settings_->name;
    info.client_ip = conn_.ends.remote_ip;
    info.client_helo = helo_;
    info.client_name = client_literal_;
    info.auth_user = auth_user_;
    info.tls = tls_info_;
    info.received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    info.message_id = header.message_id;
    submission_fields_.clear();
    if (settings_->submit) {  // RFC 6409 section 8.3: the MSA may add what the client left out
      if (!header.date) submission_fields_ += "Date: " + rfc5322_date_now() + "\r\n";
      if (header.message_id.empty()) {
        added_id = "<" + queue::new_queue_id() + "@" + config_->local_host() + ">";
        info.message_id = added_id;
        submission_fields_ += "Message-ID: " + added_id + "\r\n";
      }
    }
    return make_copies(info, recipients_, plan_copies(*snap_, recipients_));
  };
  auto received = [this](const std::string& id) {
    ReceivedInfo r;
    r.helo = helo_;
    r.client_ip = conn_.ends.remote_ip;
    r.by_host = config_->local_host();
    r.esmtp = state_.esmtp;
    r.tls = state_.tls;
    r.authenticated = state_.authenticated;
    r.utf8 = mail_params_.smtputf8;
    r.tls_info = tls_info_;
    r.id = id;
    if (state_.recipients == 1 && !recipients_.empty()) r.for_address = recipients_.front().original;
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&now, &tm);
    r.unix_time = now;
    r.utc_offset_minutes = static_cast<int>(tm.tm_gmtoff / 60);
    return received_header(r) + submission_fields_;
  };
  return std::make_unique<MessageAssembler>(res_->store, maker, received);
}

// ---- commands --------------------------------------------------------------------------

asio::awaitable<void> Session::handle_line() {
  if (in_auth_) {
    in_auth_ = false;
    auto step = sasl_.respond(line_);
    co_await auth_step(step);
    co_return;
  }
  core::smtp::CommandContext context;
  context.utf8_transaction = state_.in_transaction && mail_params_.smtputf8;
  auto parsed = core::smtp::parse_command(line_, context);
  // What a B record shows: never an AUTH initial response (a password).
  std::string_view shown = line_;
  if (core::istarts_with(shown, "AUTH")) shown = shown.substr(0, std::min<std::size_t>(shown.find(' ', 5), 20));
  if (!parsed) {
    bad_command(parsed.error(), shown);
    co_return;
  }
  const Command& command = *parsed;
  if (auto refusal = check_sequence(*settings_, state_, tls_ctx_ != nullptr, command)) {
    if (const auto* bdat = std::get_if<core::smtp::Bdat>(&command)) {
      if (refusal->code == 502) {  // not offered: the chunk that follows cannot be told from commands
        bad_command(*refusal, shown);
        close_with(*refusal, "BDAT without CHUNKING");
        co_return;
      }
      // Stay in step: the chunk's bytes follow the command in any case.
      bool skipped = co_await skip_bytes(bdat->size);
      if (!skipped) co_return;
    }
    bad_command(*refusal, shown);
    co_return;
  }
  co_await std::visit([this](const auto& c) { return on(c); }, command);
}

asio::awaitable<void> Session::on(const core::smtp::Helo& c) {
  reset_transaction();
  state_.greeted = true;
  state_.esmtp = false;
  helo_ = c.domain;
  reply(helo_reply(greeting_host(), conn_.ends.remote_ip));
  co_return;
}

asio::awaitable<void> Session::on(const core::smtp::Ehlo& c) {
  reset_transaction();
  state_.greeted = true;
  state_.esmtp = true;
  helo_ = c.domain;
  reply(ehlo_reply(greeting_host(), conn_.ends.remote_ip, capabilities(*settings_, state_, tls_ctx_ != nullptr)));
  co_return;
}

asio::awaitable<void> Session::on(const core::smtp::Mail& c) {
  if (settings_->transaction_limit > 0 && session_transactions_ >= settings_->transaction_limit) {
    close_with(replies::too_many_transactions(), "disconnect transaction limit reached");
    co_return;
  }
  if (auto refusal = check_mail_parameters(*settings_, state_, c)) {
    bad_command(*refusal, line_);
    co_return;
  }
  auto decision = check_mail(*snap_, facts(), c);
  if (decision.delay_cs > 0) co_await pause(decision.delay_cs);
  if (decision.refusal) {
    from_ = c.from.address();
    log_refusal("", *decision.refusal);
    from_.clear();
    reply(*decision.refusal);
    co_return;
  }
  reset_transaction();
  state_.in_transaction = true;
  expected_ = res_->store.expect_message();
  ++session_transactions_;
  from_ = decision.from;
  mail_params_ = c.params;
  diversion_ = decision.diversion;
  reply({250, "2.1.0", "Sender <" + c.from.address() + "> OK"});
}

asio::awaitable<void> Session::on(const core::smtp::Rcpt& c) {
  const std::string address = c.to.address();
  if (settings_->recipient_limit > 0 && session_recipients_ >= settings_->recipient_limit) {
    Reply r = replies::too_many_session_recipients();
    log_refusal(address, r);
    close_with(r, "disconnect recipient limit reached");
    co_return;
  }
  if (state_.recipients >= settings_->max_recipients) {
    refuse_recipient(address, {452, "4.5.3", "Too many recipients"});
    co_return;
  }
  auto lookup = [this](std::string_view a) { return res_->users.find(a, config_->local_domains()); };
  // (Named, not a temporary in the call: GCC 12 and co_await expressions.)
  RecipientRewriter rewriter = [this](std::string_view a, std::string_view source) {
    return config_->rewrite(a, source);
  };
  auto decision = route_recipient(*snap_, facts(), from_, c, diversion_, lookup, rewriter);
  if (decision.delay_cs > 0) co_await pause(decision.delay_cs);
  if (decision.refusal) {
    refuse_recipient(address, *decision.refusal);
    co_return;
  }
  std::string orcpt = c.params.orcpt ? c.params.orcpt->type + ";" + c.params.orcpt->address : std::string();
  for (auto& route : decision.routes) {
    // The same final address twice in one transaction (repeated RCPT, or
    // two aliases naming one member) is delivered once.
    if (!recipient_keys_.insert(route.channel + '\0' + core::to_lower(route.active)).second) continue;
    recipients_.push_back({std::move(route), address, c.params.notify, orcpt});
  }
  ++state_.recipients;
  ++session_recipients_;
  reply({250, "2.1.5", "Recipient <" + address + "> OK"});
}

asio::awaitable<void> Session::on(const core::smtp::Data&) {
  reply({354, "", "Start mail input; end with <CRLF>.<CRLF>"});
  bool sent = co_await flush(command_timeout_);
  if (!sent) co_return;
  data_deadline_ = Clock::now() + dot_timeout_;
  auto message = new_message();
  core::smtp::DataDecoder decoder({settings_->max_message_size, 0});
  std::string decoded;
  for (;;) {
    auto pending = reader_.buffered();
    if (!pending.empty()) {
      decoded.clear();
      decoded.reserve(pending.size());  // never longer than its input: one allocation, not one per doubling
      auto progress = decoder.feed(pending, decoded);
      reader_.consume(progress.consumed);
      if (!decoder.refusal()) message->append(decoded);
      if (progress.status == core::smtp::DataStatus::failed) {
        // A bare CR or LF: where this data really ends is unknowable.
        close_with(*decoder.refusal(), "bare CR or LF in message data");
        reset_transaction();
        co_return;
      }
      if (progress.status == core::smtp::DataStatus::done) break;
      continue;
    }
    bool got = co_await read_more(data_timeout_);
    if (!got) {
      reset_transaction();
      co_return;
    }
  }
  if (decoder.refusal()) {  // too big: read to the end, refused
    reply(*decoder.refusal());
    reset_transaction();
    co_return;
  }
  co_await deliver(*message);
}

asio::awaitable<bool> Session::skip_bytes(std::uint64_t n) {
  if (n > settings_->max_message_size) {
    close_with({552, "5.3.4", "Message size exceeds fixed maximum message size"}, "BDAT chunk too large to skip");
    co_return false;
  }
  while (n > 0) {
    auto pending = reader_.buffered();
    if (pending.empty()) {
      bool got = co_await read_more(data_timeout_);
      if (!got) co_return false;
      continue;
    }
    auto take = static_cast<std::size_t>(std::min<std::uint64_t>(n, pending.size()));
    reader_.consume(take);
    n -= take;
  }
  co_return true;
}

asio::awaitable<void> Session::on(const core::smtp::Bdat& c) {
  if (!state_.chunking_started) {
    state_.chunking_started = true;
    used_chunking_ = true;
    data_deadline_ = Clock::now() + dot_timeout_;
    bdat_message_ = new_message();
    bdat_crlf_.reset();
    bdat_size_ = 0;
  }
  bool oversize = bdat_size_ + c.size > settings_->max_message_size;
  if (oversize) {
    bool skipped = co_await skip_bytes(c.size);
    if (!skipped) co_return;
    reply({552, "5.3.4", "Message size exceeds fixed maximum message size"});
    reset_transaction();
    co_return;
  }
  std::uint64_t left = c.size;
  while (left > 0) {
    auto pending = reader_.buffered();
    if (pending.empty()) {
      bool got = co_await read_more(data_timeout_);
      if (!got) {
        reset_transaction();
        co_return;
      }
      continue;
    }
    auto take = static_cast<std::size_t>(std::min<std::uint64_t>(left, pending.size()));
    auto piece = pending.substr(0, take);
    bdat_crlf_.check(piece);
    if (!bdat_crlf_.refusal()) bdat_message_->append(piece);
    reader_.consume(take);
    left -= take;
  }
  bdat_size_ += c.size;
  if (!c.last) {
    if (bdat_crlf_.refusal()) {
      reply(*bdat_crlf_.refusal());
      reset_transaction();
    } else {
      reply({250, "2.0.0", std::to_string(c.size) + " octets received"});
    }
    co_return;
  }
  bdat_crlf_.finish();
  if (bdat_crlf_.refusal()) {
    reply(*bdat_crlf_.refusal());
    reset_transaction();
    co_return;
  }
  auto message = std::move(bdat_message_);
  co_await deliver(*message);
}

asio::awaitable<void> Session::deliver(MessageAssembler& message) {
  if (auto refusal = message.finish()) {
    if (!message.storage_error().empty()) res_->diagnostic(message.storage_error());
    reply(*refusal);
    reset_transaction();
    co_return;
  }
  auto* txn = &message.transaction();
  expected_.handed_over();
  std::function<void(std::function<void(CommitOutcome)>)> commit = [txn](std::function<void(CommitOutcome)> done) {
    txn->commit_async([done](std::error_code ec, std::vector<queue::QueuePath> paths) {
      done({ec, std::move(paths)});
    });
  };
  auto outcome = co_await await_foreign<CommitOutcome>(worker_, std::move(commit));
  if (outcome.error) {
    res_->diagnostic("enqueue failed (nothing kept): " + outcome.error.message());
    reply(replies::storage_failure());
    reset_transaction();
    co_return;
  }
  TransactionInfo info;
  info.from = from_;
  info.source_channel = settings_->name;
  info.auth_user = auth_user_;
  // The copies carry the Message-ID a `submit` channel added, if it did,
  // and the arrival every later record of the message repeats (tracking).
  info.message_id = message.copies().empty() ? message.facts().message_id : message.copies().front().envelope.message_id;
  if (!message.copies().empty()) info.received_ms = message.copies().front().envelope.received_ms;
  EnqueueFacts facts;
  facts.modifiers = modifiers();
  facts.size = message.size();
  facts.username = res_->username;
  if (log_options_.connection & core::log::kLogConnectionInfo)
    facts.connection_info = connection_field(helo_, conn_.ends.remote_ip, conn_.ends.remote_ip);
  auto logs = [this](std::string_view channel) { return config::channel_logs(snap_->imta_cnf, channel); };
  auto records = enqueue_records(info, facts, message.copies(), outcome.paths, logs);
  for (auto& r : records) {
    r.thread = worker_.number;
    r.count = count_;
  }
  // The job controller hears of the files once their E records are in
  // mail.log (the writer sends one datagram per round; if it is lost, the
  // controller's rescan finds them), so no D can be logged before its E.
  // (A plain pointer: the notifier outlives the log writer, and the action
  // must never hold the last reference to the resources.)
  auto* notifier = &res_->notifier;
  res_->log.write(std::move(records),
                  [notifier, paths = std::move(outcome.paths)]() mutable { notifier->add(std::move(paths)); });
  reply({250, "2.0.0", "Ok: queued as " + message.id()});
  reset_transaction();
}

asio::awaitable<void> Session::on(const core::smtp::Rset&) {
  reset_transaction();
  reply({250, "2.0.0", "OK"});
  co_return;
}

asio::awaitable<void> Session::on(const core::smtp::Noop&) {
  reply({250, "2.0.0", "OK"});
  co_return;
}

asio::awaitable<void> Session::on(const core::smtp::Quit&) {
  close_with({221, "2.0.0", greeting_host() + " closing connection"}, "QUIT");
  co_return;
}

asio::awaitable<void> Session::on(const core::smtp::Help&) {
  reply({214, "2.0.0",
         "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY EXPN STARTTLS AUTH ETRN\n"
         "See RFC 5321; this server is imta"});
  co_return;
}

asio::awaitable<void> Session::on(const core::smtp::Vrfy&) {
  reply({252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"});
  co_return;
}

asio::awaitable<void> Session::on(const core::smtp::Expn& c) {
  std::string name(core::trim(c.argument));
  if (name.size() > 2 && name.front() == '<' && name.back() == '>') name = name.substr(1, name.size() - 2);
  const auto* entry = snap_->aliases.find(name, snap_->local_domain);
  if (!entry) {
    reply({550, "5.1.1", name + ": not a mailing list"});
    co_return;
  }
  auto members = config::expand_alias(snap_->aliases, name, snap_->local_domain);
  std::string text;
  for (const auto& m : members) text += (text.empty() ? "<" : "\n<") + m + ">";
  reply({250, "2.1.5", text});
}

asio::awaitable<void> Session::on(const core::smtp::Starttls&) {
  reply({220, "2.0.0", "Ready to start TLS"});
  bool sent = co_await flush(command_timeout_);
  if (!sent) co_return;
  // RFC 3207 §4.2: nothing the client sent in clear text after STARTTLS
  // counts (command injection); nothing it said before does either.
  reader_.discard_buffered();
  bool secure = co_await start_tls();
  if (!secure) co_return;
  reset_transaction();
  state_.greeted = false;
  state_.esmtp = false;
  helo_.clear();
}

asio::awaitable<void> Session::on(const core::smtp::Auth& c) {
  auto step = sasl_.start(c.mechanism, c.initial_response);
  co_await auth_step(step);
}

asio::awaitable<void> Session::auth_step(const SaslExchange::Step& step) {
  switch (step.kind) {
    case SaslExchange::Kind::challenge:
      reply(step.reply);
      in_auth_ = true;
      co_return;
    case SaslExchange::Kind::failed:
      co_await auth_failed(step.reply);
      co_return;
    case SaslExchange::Kind::verify: break;
  }
  std::string user = sasl_.user();
  auto password = std::make_shared<std::string>(sasl_.password());
  std::function<void(std::function<void(core::VerifyResult)>)> check =
      [res = res_, user, password](std::function<void(core::VerifyResult)> done) {
        res->auth_threads.post([res, user, password, done] {
          auto result = res->users.verify(user, *password);
          core::wipe(*password);
          done(result);
        });
      };
  auto result = co_await await_foreign<core::VerifyResult>(worker_, std::move(check));
  auto answer = core::auth_reply(result);
  Reply r{answer.code, std::string(answer.status), std::string(answer.text)};
  if (result != core::VerifyResult::ok) {
    co_await auth_failed(r);
    co_return;
  }
  state_.authenticated = true;
  auth_user_ = core::to_lower(user);
  log_auth(r);
  sasl_.reset();
  switch_channel(settings_->sasl_switch);
  reply(r);
}

asio::awaitable<void> Session::auth_failed(const Reply& r) {
  log_auth(r);
  sasl_.reset();
  reply(r);
  if (r.code == 454) co_return;  // our database failed, not the client
  if (++bad_auths_ >= settings_->bad_auth_limit)
    close_with(replies::too_many_auth_failures(), "disconnect bad authentication limit reached");
  co_return;
}

asio::awaitable<void> Session::on(const core::smtp::Etrn& c) {
  auto decision = decide_etrn(*snap_, settings_->name, c.node);
  Reply r;
  if (decision.refusal) {
    r = *decision.refusal;
  } else {
    // The job controller runs the queues; we only ask (RFC 1985 lets the
    // server start the run after the reply).
    bool asked = false;
    for (const auto& channel : decision.channels) asked = res_->notifier.submit(channel) || asked;
    r = asked ? Reply{250, "2.0.0", "Queuing for node " + c.node + " started"}
              : Reply{458, "4.3.0", "Unable to queue messages for node " + c.node};
  }
  log_etrn(c.node, r);
  if (r.code == 501) bad_command(r, line_);
  else reply(r);
  co_return;
}

asio::awaitable<void> Session::pause(int hundredths) {
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(hundredths * 10));
  co_await timer.async_wait(use_tuple);
}

asio::awaitable<void> run_session(dispatcher::Connection connection, std::shared_ptr<ServerResources> resources) {
  auto& worker = asio::use_service<WorkerContext>(connection.socket.get_executor().context());
  Session session(std::move(connection), std::move(resources), worker);
  co_await session.run();
}

}  // namespace

void start_session(dispatcher::Connection connection, std::shared_ptr<ServerResources> resources) {
  auto executor = connection.socket.get_executor();
  asio::co_spawn(executor, run_session(std::move(connection), std::move(resources)), asio::detached);
}

}  // namespace imta::channels::tcp
