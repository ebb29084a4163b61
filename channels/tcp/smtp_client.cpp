// The tcp_* channels' master: the SMTP client. The shape:
//
//   deliver()        runs deliver_file() on the master's own io_context until
//                    the claimed file is done (the job thread blocks there)
//   deliver_file()   groups the recipients by domain (everything goes to one
//                    group under `daemon HOST`), then per group:
//   deliver_group()  finds the hosts (smart host, domain literal, or MX via
//                    core/dns), and tries every address of every host in
//                    order until one takes the transaction; a connection
//                    kept open from an earlier file to the same address is
//                    used first (if it turns out closed, a new one)
//   open_session()   connect, greeting, EHLO (HELO fallback), STARTTLS
//                    (maytlsclient / musttlsclient), EHLO again, AUTH
//   transaction()    MAIL, RCPTs and DATA (one write with PIPELINING), the
//                    dot-stuffed message, the final reply; per-recipient
//                    outcomes (client_outcome.hpp)
//
// A failure before the server accepted MAIL (no connection, a bad greeting,
// TLS required but not offered, AUTH refused, the connection lost, a 4xx
// reply to MAIL) moves on to the next address; once MAIL is accepted (or
// refused with 5xx), the replies decide. After the
// message a session stays open for CLIENT_IDLE_TIMEOUT seconds, so the next
// file of this job to the same host reuses it; idle() closes them with QUIT.
#include "channels/tcp/smtp_client.hpp"

#include <algorithm>
#include <exception>
#include <optional>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include "channels/tcp/client_dot_stuffing.hpp"
#include "channels/tcp/client_esmtp.hpp"
#include "channels/tcp/client_outcome.hpp"
#include "channels/tcp/client_routing.hpp"
#include "channels/tcp/client_settings.hpp"
#include "channels/tcp/dns_options.hpp"
#include "channels/tcp/smtp_client_connection.hpp"
#include "channels/tcp/tls_client_context.hpp"
#include "core/dns/resolver.hpp"
#include "core/log/async_log.hpp"

namespace imta::channels::tcp {

namespace {

using core::smtp::Reply;
using queue::RecipientOutcome;
using queue::RecipientStatus;
using Clock = std::chrono::steady_clock;

/// QUIT and its 221 may take this long before the socket is just closed.
constexpr std::chrono::seconds kQuitTimeout{5};
/// Message bytes encoded and written per write (each under data_block).
constexpr std::size_t kDataChunk = 64 * 1024;

/// An open SMTP session, ready for MAIL.
struct Session {
  std::shared_ptr<ClientConnection> conn;
  PeerFacts peer;
  std::string target;  ///< what was asked for: the domain, or the smart host
  ServerExtensions ext;
  bool authenticated = false;
  unsigned messages = 0;
  std::uint32_t count = 0;  ///< LOG_PROCESS count of its O and C records
  Clock::time_point idle_since;
};

/// One host to try and its addresses, in order.
struct Host {
  std::string name;
  std::vector<asio::ip::address> addresses;
};

struct Targets {
  bool ok = false;
  RecipientOutcome failure;  ///< when not ok: the outcome of every recipient
  std::string target;        ///< the application field's target host
  std::vector<Host> hosts;
};

struct OpenResult {
  std::optional<Session> session;
  RecipientOutcome failure;
  bool retry_without_tls = false;  ///< the TLS handshake failed under maytlsclient
};

enum class TxKind {
  done,          ///< every recipient has its outcome; the session may be reused
  done_close,    ///< every recipient has its outcome; the session is unusable
  host_failure,  ///< nothing was decided: try the next address
};

struct TxResult {
  TxKind kind = TxKind::done;
  RecipientOutcome failure;  ///< host_failure: the outcome if no other address works
  bool used = false;         ///< the transaction delivered at least one recipient
  bool quit = false;         ///< host_failure on a working connection: say QUIT
};

std::optional<asio::ip::address> parse_address(std::string_view text) {
  std::error_code ec;
  auto a = asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return a;
}

std::string first_line(const Reply& r) {
  auto lines = core::smtp::reply_lines(r);
  return std::string(lines.front());
}

/// A failed step reported as a deferral: a 5xx at the greeting, EHLO or AUTH
/// says nothing permanent about the message or its recipients.
RecipientOutcome deferral_from_reply(const Reply& reply, const PeerFacts& peer, const ClientSettings& settings) {
  auto o = reply_outcome(reply, peer, settings, false);
  o.status = RecipientStatus::deferred;
  if (!o.dsn_status.empty()) o.dsn_status.front() = '4';
  return o;
}

core::dns::MxPolicy mx_policy(ClientMx mx) {
  switch (mx) {
    case ClientMx::randommx: return core::dns::MxPolicy::randommx;
    case ClientMx::nomx: return core::dns::MxPolicy::nomx;
    case ClientMx::mx: break;
  }
  return core::dns::MxPolicy::mx;
}

class ClientMaster final : public queue::Master {
 public:
  ClientMaster(std::string_view channel, const queue::MasterServices& services)
      : services_(services), settings_(client_settings(*services.snapshot, channel)) {
    if (!settings_.interface_address.empty()) local_ = parse_address(settings_.interface_address);
    if (settings_.tls != ClientTls::no) {
      std::string error;
      if (auto ctx = make_client_tls_context(error))
        tls_ = std::make_unique<asio::ssl::context>(ctx.release());  // asio owns it now
      else
        trace(error);
    }
  }

  ~ClientMaster() override {
    try {
      idle();
    } catch (...) {
      // Closing politely is a courtesy; the sockets close anyway.
    }
  }

  queue::DeliveryReport deliver(const queue::Claim& claim) override {
    queue::DeliveryReport report;
    report.recipients.resize(claim.file().envelope.recipients.size());
    run(deliver_file(claim, report));
    return report;
  }

  void idle() override {
    if (idle_.empty()) return;
    run(close_idle(Clock::time_point::max()));
  }

 private:
  // ---- running coroutines on the job thread ----
  void run(asio::awaitable<void> work) {
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(io_, std::move(work), [&failure, &done](std::exception_ptr e) {
      failure = e;
      done = true;
    });
    // Until the work is done, not until the context runs out of work: a
    // kept connection's deadline timer may wait on (it does nothing while
    // the connection is idle).
    io_.restart();
    while (!done && io_.run_one() > 0) {
    }
    if (failure) std::rethrow_exception(failure);
  }

  void trace(std::string_view what) const {
    if (services_.trace) services_.trace(std::string(settings_.channel) + ": " + std::string(what));
  }

  bool stopping() const { return services_.stopping && services_.stopping->load(); }

  // ---- files and groups ----
  asio::awaitable<void> deliver_file(const queue::Claim& claim, queue::DeliveryReport& report) {
    co_await close_idle(Clock::now() - settings_.idle_timeout);
    const auto& env = claim.file().envelope;
    const std::string message = claim.message();
    std::vector<RecipientGroup> groups;
    if (!settings_.daemon.empty()) {
      RecipientGroup all{settings_.daemon, {}};
      for (std::size_t i = 0; i < env.recipients.size(); ++i) all.recipients.push_back(i);
      groups.push_back(std::move(all));
    } else {
      groups = group_by_domain(env.recipients);
    }
    for (const auto& group : groups) {
      if (stopping()) {
        auto o = failure_outcome(RecipientStatus::deferred, "4.3.2", "delivery interrupted: the MTA is stopping",
                                 nullptr, settings_);
        for (auto i : group.recipients) report.recipients[i] = o;
        continue;
      }
      co_await deliver_group(env, group, message, report);
    }
  }

  asio::awaitable<void> deliver_group(const core::Envelope& env, const RecipientGroup& group, std::string_view message,
                                      queue::DeliveryReport& report) {
    auto targets = co_await find_targets(group.domain);
    auto& out = report.recipients;
    if (!targets.ok) {
      trace(group.domain + ": " + targets.failure.log_diagnostics);
      for (auto i : group.recipients) out[i] = targets.failure;
      co_return;
    }
    std::vector<const core::Recipient*> recipients;
    for (auto i : group.recipients) recipients.push_back(&env.recipients[i]);
    const auto needs = message_needs(env, recipients, message);

    std::optional<RecipientOutcome> last_failure;
    for (const auto& host : targets.hosts) {
      for (const auto& address : host.addresses) {
        bool try_idle = true;
        bool allow_tls = true;
        // At most: an idle session that turned out dead, a handshake that
        // failed under maytlsclient, then the attempt that counts.
        for (int attempt = 0; attempt < 3; ++attempt) {
          if (stopping()) break;
          std::optional<Session> session;
          bool reused = false;
          if (try_idle) {
            try_idle = false;
            const asio::ip::tcp::endpoint remote(address, settings_.port);
            session = co_await take_idle(remote);
            reused = session.has_value();
          }
          if (!session) {
            trace(targets.target + ": connecting to " + host.name + " [" + address.to_string() + "]:" +
                  std::to_string(settings_.port));
            auto opened = co_await open_session(targets.target, host.name, address, allow_tls);
            if (!opened.session) {
              trace(targets.target + ": " + opened.failure.log_diagnostics);
              last_failure = std::move(opened.failure);
              if (opened.retry_without_tls) {
                allow_tls = false;
                continue;
              }
              break;
            }
            session = std::move(opened.session);
          }
          auto tx = co_await transaction(*session, env, group.recipients, needs, message, out);
          if (tx.kind == TxKind::host_failure) {
            if (tx.quit) {
              co_await quit(*session, &tx.failure.log_diagnostics);
            } else {
              close_now(*session, tx.failure.log_diagnostics);
            }
            if (reused) continue;  // the server had closed the idle connection: a new one
            last_failure = std::move(tx.failure);
            break;
          }
          if (tx.used) {
            if (session->conn->tls()) report.modifiers.tls = true;
            if (session->authenticated) report.modifiers.sasl = true;
          }
          if (tx.kind == TxKind::done && session->messages < settings_.messages_per_connection &&
              settings_.idle_timeout.count() > 0) {
            session->idle_since = Clock::now();
            idle_.push_back(std::move(*session));
          } else if (tx.kind == TxKind::done) {
            co_await quit(*session);
          } else {
            close_now(*session, "connection lost");
          }
          co_return;
        }
      }
    }
    auto failure = last_failure ? std::move(*last_failure)
                                : failure_outcome(RecipientStatus::deferred, "4.4.1", "no address to connect to",
                                                  nullptr, settings_);
    for (auto i : group.recipients) out[i] = failure;
  }

  // ---- where to connect ----
  core::dns::Resolver& resolver() {
    if (!resolver_)
      resolver_ = std::make_unique<core::dns::Resolver>(io_.get_executor(), resolver_options_from(*services_.snapshot));
    return *resolver_;
  }

  asio::awaitable<Targets> find_targets(const std::string& domain) {
    Targets t;
    t.target = domain;
    auto illegal = [&](std::string status, std::string text) {
      t.failure = failure_outcome(RecipientStatus::bounced, std::move(status), std::move(text), nullptr, settings_);
      return t;
    };
    if (!settings_.daemon.empty()) {
      // The smart host. A lookup failure is temporary whatever DNS says: a
      // mistyped `daemon` is fixed by the administrator, the mail must wait.
      std::string host = settings_.daemon;
      if (auto literal = domain_literal(host)) host = *literal;
      if (auto a = parse_address(host)) {
        t.hosts.push_back({settings_.daemon, {*a}});
        t.ok = true;
        co_return t;
      }
      auto answer = co_await resolver().addresses(host);
      if (answer.status != core::dns::Status::ok || answer.addresses.empty()) {
        t.failure = failure_outcome(RecipientStatus::deferred, "4.4.3",
                                    "DNS lookup of " + host + " failed: " +
                                        std::string(core::dns::status_text(answer.status)),
                                    nullptr, settings_);
        co_return t;
      }
      t.hosts.push_back({host, std::move(answer.addresses)});
      t.ok = true;
      co_return t;
    }
    if (domain.empty()) co_return illegal("5.1.2", std::string(core::dns::illegal_domain_text));
    if (auto literal = domain_literal(domain)) {
      auto a = parse_address(*literal);
      if (!a) co_return illegal("5.1.2", std::string(core::dns::illegal_domain_text));
      t.hosts.push_back({domain, {*a}});
      t.ok = true;
      co_return t;
    }
    auto answer = co_await core::dns::delivery_targets(resolver(), domain, mx_policy(settings_.mx));
    if (answer.status == core::dns::Status::ok) {
      for (auto& target : answer.targets)
        if (!target.addresses.empty()) t.hosts.push_back({std::move(target.host), std::move(target.addresses)});
      if (!t.hosts.empty()) {
        t.ok = true;
        co_return t;
      }
    }
    // ok without a single address counts as nodata: nowhere to deliver.
    const bool permanent = !answer.temporary();
    std::string text = answer.error;
    if (text.empty())
      text = permanent ? std::string(core::dns::illegal_domain_text)
                       : "DNS lookup of " + domain + " failed: " + std::string(core::dns::status_text(answer.status));
    if (permanent) co_return illegal(answer.null_mx ? "5.1.10" : "5.1.2", std::move(text));
    t.failure = failure_outcome(RecipientStatus::deferred, "4.4.3", std::move(text), nullptr, settings_);
    co_return t;
  }

  // ---- sessions ----
  asio::awaitable<OpenResult> open_session(const std::string& target, const std::string& host,
                                           const asio::ip::address& address, bool allow_tls) {
    OpenResult r;
    const auto& t = settings_.timeouts;
    auto conn = std::make_shared<ClientConnection>(io_.get_executor());
    auto ec = co_await conn->connect(asio::ip::tcp::endpoint(address, settings_.port), local_, t.connect);
    if (ec) {
      r.failure = failure_outcome(RecipientStatus::deferred, "4.4.1", connect_error_text(ec), nullptr, settings_);
      co_return r;
    }
    Session s;
    s.conn = conn;
    s.target = target;
    s.peer.host = host;
    s.peer.transport = conn->transport();
    s.count = ++connections_;
    log_connection(core::log::RecordCode::ConnectionOpen, s, {});

    auto fail = [&](RecipientOutcome outcome) {
      r.failure = std::move(outcome);
      r.session.reset();
    };
    auto lost = [&](std::string_view during, const std::error_code& e) {
      return failure_outcome(RecipientStatus::deferred, "4.4.2",
                             "lost connection " + std::string(during) + ": " + io_error_text(e), &s.peer, settings_);
    };
    auto malformed = [&](const ClientConnection::ReplyResult& rr) {
      return failure_outcome(RecipientStatus::deferred, "4.5.0", "malformed reply: " + rr.reply.text, &s.peer,
                             settings_);
    };

    auto greeting = co_await conn->read_reply(t.greeting);
    if (!greeting.ok()) {
      fail(greeting.error ? lost("waiting for the greeting", greeting.error) : malformed(greeting));
      close_now(s, r.failure.log_diagnostics);
      co_return r;
    }
    s.peer.banner = first_line(greeting.reply);
    if (greeting.reply.code != 220) {
      fail(deferral_from_reply(greeting.reply, s.peer, settings_));
      co_await quit(s);
      co_return r;
    }

    auto hello = co_await say_hello(s);
    if (hello) {
      fail(std::move(*hello));
      co_await quit(s);
      co_return r;
    }

    if (settings_.tls != ClientTls::no && allow_tls && s.ext.starttls && tls_) {
      auto reply = co_await command(s, "STARTTLS", t.greeting);
      if (!reply.ok()) {
        fail(reply.error ? lost("after STARTTLS", reply.error) : malformed(reply));
        close_now(s, r.failure.log_diagnostics);
        co_return r;
      }
      if (reply.reply.code == 220) {
        // SNI names a host; an address literal is not one (RFC 6066 §3).
        std::string sni;
        if (!parse_address(host) && !domain_literal(host)) sni = host;
        auto hs = co_await conn->start_tls(*tls_, sni, t.greeting);
        if (hs) {
          fail(failure_outcome(RecipientStatus::deferred, "4.7.0", "TLS handshake failed: " + io_error_text(hs),
                               &s.peer, settings_));
          r.retry_without_tls = settings_.tls == ClientTls::may;
          close_now(s, r.failure.log_diagnostics);
          co_return r;
        }
        // RFC 3207 §4.2: forget what EHLO said before TLS and ask again.
        hello = co_await say_hello(s);
        if (hello) {
          fail(std::move(*hello));
          co_await quit(s);
          co_return r;
        }
      } else if (settings_.tls == ClientTls::must) {
        fail(deferral_from_reply(reply.reply, s.peer, settings_));
        co_await quit(s);
        co_return r;
      }
    }
    if (settings_.tls == ClientTls::must && !conn->tls()) {
      fail(failure_outcome(RecipientStatus::deferred, "4.7.0",
                           tls_ ? "TLS required (musttlsclient) but the server does not offer STARTTLS"
                                : "TLS required (musttlsclient) but no TLS client context",
                           &s.peer, settings_));
      co_await quit(s);
      co_return r;
    }

    if (settings_.auth && (s.ext.offers_auth("PLAIN") || s.ext.offers_auth("LOGIN"))) {
      auto refused = co_await authenticate(s);
      if (refused) {
        fail(std::move(*refused));
        co_await quit(s);
        co_return r;
      }
    }
    r.session = std::move(s);
    co_return r;
  }

  /// EHLO, or HELO when EHLO is refused; nullopt when the server greeted us.
  asio::awaitable<std::optional<RecipientOutcome>> say_hello(Session& s) {
    const auto timeout = settings_.timeouts.greeting;
    // (Every string a co_await uses is a named local: GCC 12 mishandles
    // temporaries with destructors in a co_await expression.)
    const std::string ehlo_line = "EHLO " + settings_.helo_name;
    auto ehlo = co_await command(s, ehlo_line, timeout);
    if (!ehlo.ok()) co_return io_failure(s, "after EHLO", ehlo);
    if (ehlo.reply.code == 250) {
      s.ext = parse_ehlo(ehlo.reply);
      co_return std::nullopt;
    }
    const std::string helo_line = "HELO " + settings_.helo_name;
    auto helo = co_await command(s, helo_line, timeout);
    if (!helo.ok()) co_return io_failure(s, "after HELO", helo);
    if (helo.reply.code != 250) co_return deferral_from_reply(helo.reply, s.peer, settings_);
    s.ext = ServerExtensions{};
    co_return std::nullopt;
  }

  /// AUTH PLAIN (RFC 4616) or LOGIN; nullopt when the server accepted us.
  asio::awaitable<std::optional<RecipientOutcome>> authenticate(Session& s) {
    const auto timeout = settings_.timeouts.greeting;
    ClientConnection::ReplyResult rr;
    if (s.ext.offers_auth("PLAIN")) {
      const std::string line = "AUTH PLAIN " + auth_plain_response(settings_.auth_username, settings_.auth_password);
      rr = co_await command(s, line, timeout);
    } else {
      rr = co_await command(s, "AUTH LOGIN", timeout);
      const std::string user = base64_encode(settings_.auth_username);
      const std::string password = base64_encode(settings_.auth_password);
      if (rr.ok() && rr.reply.code == 334) rr = co_await command(s, user, timeout);
      if (rr.ok() && rr.reply.code == 334) rr = co_await command(s, password, timeout);
    }
    if (!rr.ok()) co_return io_failure(s, "during AUTH", rr);
    if (rr.reply.code != 235) {
      auto o = deferral_from_reply(rr.reply, s.peer, settings_);
      o.log_diagnostics += " (AUTH as " + settings_.auth_username + " refused)";
      co_return o;
    }
    s.authenticated = true;
    co_return std::nullopt;
  }

  asio::awaitable<ClientConnection::ReplyResult> command(Session& s, std::string_view line,
                                                         std::chrono::seconds timeout) {
    std::string wire;
    wire.reserve(line.size() + 2);
    wire.append(line);
    wire.append("\r\n");
    auto ec = co_await s.conn->write(wire, timeout);
    if (ec) co_return ClientConnection::ReplyResult{ec, false, {}};
    auto rr = co_await s.conn->read_reply(timeout);
    co_return rr;
  }

  RecipientOutcome io_failure(Session& s, std::string_view during, const ClientConnection::ReplyResult& rr) {
    if (rr.error)
      return failure_outcome(RecipientStatus::deferred, "4.4.2",
                             "lost connection " + std::string(during) + ": " + io_error_text(rr.error), &s.peer,
                             settings_);
    return failure_outcome(RecipientStatus::deferred, "4.5.0", "malformed reply " + std::string(during) + ": " +
                                                                   rr.reply.text,
                           &s.peer, settings_);
  }

  // ---- one message ----
  asio::awaitable<TxResult> transaction(Session& s, const core::Envelope& env, const std::vector<std::size_t>& rcpts,
                                        const MessageNeeds& needs, std::string_view message,
                                        std::vector<RecipientOutcome>& out) {
    TxResult r;
    const auto& t = settings_.timeouts;
    if (auto refusal = refuse_for(needs, s.ext)) {
      for (auto i : rcpts) out[i] = reply_outcome(*refusal, s.peer, settings_, s.ext.dsn);
      co_return r;
    }
    // Everything after MAIL's reply is final for this attempt; a reply that
    // does not come is the connection's failure.
    auto lost_all = [&](std::string_view during, const ClientConnection::ReplyResult& rr,
                        const std::vector<std::size_t>& who) {
      auto o = io_failure(s, during, rr);
      for (auto i : who) out[i] = o;
      r.kind = TxKind::done_close;
    };

    std::vector<std::string> commands;
    commands.push_back(mail_command(env, needs, s.ext));
    for (auto i : rcpts) commands.push_back(rcpt_command(env.recipients[i], s.ext));
    const bool pipelined = s.ext.pipelining;
    if (pipelined) {
      // RFC 2920: MAIL, every RCPT and DATA in one write, the replies read
      // in order afterwards (DATA ends the group: its 354 or refusal is the
      // last reply).
      std::string batch;
      for (const auto& c : commands) batch += c + "\r\n";
      batch += "DATA\r\n";
      auto ec = co_await s.conn->write(batch, t.mail);
      if (ec) {
        r.kind = TxKind::host_failure;
        r.failure = io_failure(s, "sending MAIL", {ec, false, {}});
        co_return r;
      }
    }
    std::vector<Reply> rcpt_replies;
    for (std::size_t k = 0; k < commands.size(); ++k) {
      const auto timeout = k == 0 ? t.mail : t.rcpt;
      ClientConnection::ReplyResult rr;
      if (pipelined) {
        rr = co_await s.conn->read_reply(timeout);
      } else {
        rr = co_await command(s, commands[k], timeout);
      }
      if (!rr.ok()) {
        if (k == 0) {
          r.kind = TxKind::host_failure;
          r.failure = io_failure(s, "after MAIL", rr);
        } else {
          // Refusals already received stand; everyone else waits for a retry.
          std::vector<std::size_t> rest;
          for (std::size_t j = 0; j < rcpts.size(); ++j) {
            if (j < rcpt_replies.size() && rcpt_replies[j].code / 100 != 2)
              out[rcpts[j]] = refusal_outcome(s, rcpt_replies[j]);
            else
              rest.push_back(rcpts[j]);
          }
          lost_all("after RCPT", rr, rest);
        }
        co_return r;
      }
      if (k == 0 && rr.reply.code / 100 == 4) {
        // A temporary refusal of MAIL (or a 421 the server sent while the
        // connection waited) says nothing about the message: like a 4xx
        // greeting, it sends us to the next address (Postfix does the
        // same). The session ends: with QUIT, once the pipelined replies
        // are read, unless the server is closing it anyway (421).
        r.kind = TxKind::host_failure;
        r.failure = reply_outcome(rr.reply, s.peer, settings_, s.ext.dsn);
        r.failure.status = RecipientStatus::deferred;
        if (rr.reply.code != 421) r.quit = co_await skip_pipelined(s, commands.size());
        co_return r;
      }
      if (k == 0 && rr.reply.code / 100 != 2) {
        // MAIL refused: its reply is every recipient's. Pipelined RCPTs and
        // DATA still answer (503s); read them to stay in step, then RSET.
        for (auto i : rcpts) out[i] = reply_outcome(rr.reply, s.peer, settings_, s.ext.dsn);
        if (pipelined) {
          auto in_step = co_await skip_pipelined(s, commands.size());
          if (!in_step) {
            r.kind = TxKind::done_close;
            co_return r;
          }
        }
        r.kind = co_await reset(s);
        co_return r;
      }
      if (k > 0) rcpt_replies.push_back(rr.reply);
    }

    std::vector<std::size_t> accepted;
    std::vector<const Reply*> accepted_replies;
    for (std::size_t j = 0; j < rcpts.size(); ++j) {
      if (rcpt_replies[j].code >= 200 && rcpt_replies[j].code < 300) {
        accepted.push_back(rcpts[j]);
        accepted_replies.push_back(&rcpt_replies[j]);
      } else {
        out[rcpts[j]] = refusal_outcome(s, rcpt_replies[j]);
      }
    }
    if (accepted.empty() && !pipelined) {
      r.kind = co_await reset(s);
      co_return r;
    }

    ClientConnection::ReplyResult data;
    if (pipelined) {
      data = co_await s.conn->read_reply(t.data_init);
    } else {
      data = co_await command(s, "DATA", t.data_init);
    }
    if (!data.ok()) {
      lost_all("after DATA", data, accepted);
      if (accepted.empty()) r.kind = TxKind::done_close;
      co_return r;
    }
    if (accepted.empty()) {
      // Every RCPT refused; the pipelined DATA should have been refused too.
      if (data.reply.code == 354) {
        auto ended = co_await end_empty_data(s);
        if (!ended) {
          r.kind = TxKind::done_close;
          co_return r;
        }
      }
      r.kind = co_await reset(s);
      co_return r;
    }
    if (data.reply.code != 354) {
      auto o = refusal_outcome(s, data.reply);
      for (auto i : accepted) out[i] = o;
      r.kind = co_await reset(s);
      co_return r;
    }

    DotStuffer stuffer;
    std::string chunk;
    for (std::size_t pos = 0;; pos += kDataChunk) {
      chunk.clear();
      const bool last = pos + kDataChunk >= message.size();
      if (pos < message.size()) stuffer.encode(message.substr(pos, kDataChunk), chunk);
      if (last) stuffer.finish(chunk);
      auto ec = co_await s.conn->write(chunk, t.data_block);
      if (ec) {
        lost_all("sending the message", {ec, false, {}}, accepted);
        co_return r;
      }
      if (last) break;
    }
    auto final_reply = co_await s.conn->read_reply(t.data_term);
    if (!final_reply.ok()) {
      // The server may have the message; RFC 5321 §6.1 prefers a duplicate
      // to a loss.
      lost_all("after the end of the message", final_reply, accepted);
      co_return r;
    }
    ++s.messages;
    for (std::size_t j = 0; j < accepted.size(); ++j) {
      auto o = reply_outcome(final_reply.reply, s.peer, settings_, s.ext.dsn);
      if (o.status != RecipientStatus::bounced && o.status != RecipientStatus::deferred) {
        // The log shows the recipient's own reply, as the seed's D records
        // do; the DSN the final one ("queued as ...").
        o.log_diagnostics = reply_outcome(*accepted_replies[j], s.peer, settings_, s.ext.dsn).log_diagnostics;
        r.used = true;
      } else if (o.status != RecipientStatus::bounced) {
        o.status = RecipientStatus::deferred;
      }
      out[accepted[j]] = std::move(o);
    }
    co_return r;
  }

  /// A reply that refuses: 5xx bounces, anything else (4xx, or a success
  /// code where none belongs) waits for a retry.
  RecipientOutcome refusal_outcome(const Session& s, const Reply& reply) const {
    auto o = reply_outcome(reply, s.peer, settings_, s.ext.dsn);
    if (o.status != RecipientStatus::bounced) o.status = RecipientStatus::deferred;
    return o;
  }

  /// After a refused MAIL: reads the replies to the pipelined RCPTs and
  /// DATA (`commands` counts MAIL and the RCPTs), so the session stays in
  /// step. False when the connection failed.
  asio::awaitable<bool> skip_pipelined(Session& s, std::size_t commands) {
    for (std::size_t j = 1; j <= commands; ++j) {
      auto skipped = co_await s.conn->read_reply(settings_.timeouts.rcpt);
      if (!skipped.ok()) co_return false;
      if (j == commands && skipped.reply.code == 354) {
        // A server that takes DATA without a transaction gets an empty
        // message to end it.
        auto ended = co_await end_empty_data(s);
        if (!ended) co_return false;
      }
    }
    co_return true;
  }

  /// Ends a DATA the server accepted although no recipient was: an empty
  /// message (just the final dot), whose reply is read and ignored. False
  /// when the connection failed.
  asio::awaitable<bool> end_empty_data(Session& s) {
    auto ec = co_await s.conn->write(".\r\n", settings_.timeouts.data_block);
    if (ec) co_return false;
    auto rr = co_await s.conn->read_reply(settings_.timeouts.data_term);
    co_return rr.ok();
  }

  /// RSET after a transaction that did not end with the message.
  asio::awaitable<TxKind> reset(Session& s) {
    auto rr = co_await command(s, "RSET", settings_.timeouts.greeting);
    co_return rr.ok() && rr.reply.code == 250 ? TxKind::done : TxKind::done_close;
  }

  // ---- keeping sessions ----
  /// An idle session to `remote`, or nullopt. Not probed with RSET (a round
  /// trip per message): a session the server closed or is closing (421)
  /// fails before MAIL is answered, and deliver_group() then opens a new one.
  asio::awaitable<std::optional<Session>> take_idle(const asio::ip::tcp::endpoint& remote) {
    auto it = std::find_if(idle_.begin(), idle_.end(), [&](const Session& s) { return s.conn->remote() == remote; });
    if (it == idle_.end()) co_return std::nullopt;
    Session s = std::move(*it);
    idle_.erase(it);
    if (!s.conn->is_open()) co_return std::nullopt;
    co_return s;
  }

  /// Closes (with QUIT) the idle sessions that have waited since before `before`.
  asio::awaitable<void> close_idle(Clock::time_point before) {
    std::vector<Session> old;
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (it->idle_since < before) {
        old.push_back(std::move(*it));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& s : old) co_await quit(s);
  }

  /// QUIT, its reply, and the close (`reason`, when given, goes into the C
  /// record; a pointer: GCC 12 mishandles temporaries in co_await calls).
  asio::awaitable<void> quit(Session& s, const std::string* reason = nullptr) {
    auto ec = co_await s.conn->write("QUIT\r\n", kQuitTimeout);
    if (!ec) co_await s.conn->read_reply(kQuitTimeout);
    close_now(s, reason ? *reason : std::string());
  }

  void close_now(Session& s, std::string reason) {
    if (!s.conn || !s.conn->is_open()) return;
    s.conn->close();
    log_connection(core::log::RecordCode::ConnectionClose, s, std::move(reason));
  }

  void log_connection(core::log::RecordCode code, const Session& s, std::string diagnostic) {
    if (!services_.log || !settings_.logging || !(settings_.log_connection & core::log::kLogConnectionRecords))
      return;
    core::log::LogRecord r;
    r.code = code;
    r.source_channel = settings_.channel;
    r.direction = core::log::Direction::Outbound;
    r.count = s.count;
    r.transport = s.peer.transport;
    r.application = "SMTP/" + s.target + "/" + s.peer.host;
    if (!diagnostic.empty()) r.diagnostics = {std::move(diagnostic)};
    services_.log->write(std::move(r));
  }

  queue::MasterServices services_;
  ClientSettings settings_;
  std::optional<asio::ip::address> local_;
  asio::io_context io_{1};
  std::unique_ptr<asio::ssl::context> tls_;
  std::unique_ptr<core::dns::Resolver> resolver_;
  std::vector<Session> idle_;
  std::uint32_t connections_ = 0;
};

}  // namespace

std::unique_ptr<queue::Master> make_client_master(std::string_view channel, const queue::MasterServices& services) {
  if (!services.snapshot) return nullptr;
  return std::make_unique<ClientMaster>(channel, services);
}

}  // namespace imta::channels::tcp
