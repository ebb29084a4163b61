#include "dispatcher/dispatcher.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <thread>

#include "config/access_probes.hpp"
#include "config/mapping_engine.hpp"
#include "core/shared_slot.hpp"
#include "core/text.hpp"

namespace imta::dispatcher {

namespace {

using asio::ip::tcp;
// Asio 1.22 (Debian 12) keeps as_tuple in experimental.
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

/// One worker thread and its io_context; `active` counts its connections.
struct Worker {
  asio::io_context context{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{context.get_executor()};
  std::shared_ptr<std::atomic<int>> active = std::make_shared<std::atomic<int>>(0);
  std::thread thread;
};

struct Listener {
  const config::ServiceConfig* service = nullptr;  // owned by the snapshot bound at bind()
  std::string service_name, channel;
  unsigned port = 0;
  bool implicit_tls = false;
  int max_conns = 0;
  tcp::acceptor acceptor;
  explicit Listener(asio::io_context& ctx) : acceptor(ctx) {}
};

/// Sends a one-line refusal and closes, without waiting long for a slow peer.
asio::awaitable<void> refuse(tcp::socket socket, std::string line) {
  asio::steady_timer timer(socket.get_executor(), std::chrono::seconds(5));
  timer.async_wait([&socket](std::error_code ec) {
    if (!ec) socket.close(ec);
  });
  co_await asio::async_write(socket, asio::buffer(line), use_tuple);
  std::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace

std::string address_text(const asio::ip::address& address) {
  asio::ip::address_v4 v4;
  if (address.is_v4()) {
    v4 = address.to_v4();
  } else if (address.to_v6().is_v4_mapped()) {
    v4 = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  } else {
    return address.to_string();
  }
  std::string text;
  for (auto byte : v4.to_bytes()) {
    if (!text.empty()) text += '.';
    core::append_decimal(text, byte);
  }
  return text;
}

Endpoints endpoints_of(const tcp::socket& socket, std::error_code& ec) {
  auto local = socket.local_endpoint(ec);
  if (ec) return {};
  auto remote = socket.remote_endpoint(ec);
  if (ec) return {};
  return {address_text(local.address()), address_text(remote.address()), local.port(), remote.port()};
}

struct Dispatcher::Impl {
  DispatcherOptions options;
  core::SharedSlot<const config::Snapshot> snapshot;
  // The workers outlive the main context: an accept still pending there
  // holds a socket of the worker it accepts onto, and is destroyed with the
  // main context.
  std::vector<std::unique_ptr<Worker>> workers;
  asio::io_context main{1};
  std::vector<std::unique_ptr<Listener>> listeners;
  std::shared_ptr<std::atomic<bool>> stopping = std::make_shared<std::atomic<bool>>(false);

  void log(const std::string& line) const {
    if (options.log) options.log(line);
  }

  /// The least-loaded worker below `max_conns`, or nullptr when all are full.
  Worker* pick_worker(int max_conns) {
    Worker* best = nullptr;
    int best_load = 0;
    for (auto& w : workers) {
      int load = w->active->load(std::memory_order_relaxed);
      if (load >= max_conns) continue;
      if (!best || load < best_load) {
        best = w.get();
        best_load = load;
      }
    }
    return best;
  }

  /// PORT_ACCESS: nullopt = allowed (with the mapping's output text),
  /// otherwise the refusal text.
  std::optional<std::string> port_access(const config::Snapshot& snap, const Endpoints& ends,
                                         std::string& output) const {
    if (!snap.mappings.find(config::kPortAccess)) return std::nullopt;
    auto probe = config::port_access_probe(ends.local_ip, ends.local_port, ends.remote_ip, ends.remote_port);
    auto result = config::apply_mapping(snap.mappings, config::kPortAccess, probe);
    if (result.matched && result.reject)
      return result.reject_text.empty() ? std::string("Connection not accepted") : result.reject_text;
    if (result.matched) output = result.output;
    return std::nullopt;
  }

  asio::awaitable<void> accept_loop(Listener& l) {
    for (;;) {
      // Accept straight onto the worker that will serve the connection, so no
      // descriptor changes hands after accept.
      Worker* worker = pick_worker(l.max_conns);
      auto& target = worker ? worker->context : workers.front()->context;
      auto [ec, socket] = co_await l.acceptor.async_accept(target, use_tuple);
      if (ec == asio::error::operation_aborted || stopping->load()) co_return;
      if (ec) {
        log("accept on port " + std::to_string(l.port) + " failed: " + ec.message());
        if (ec == asio::error::no_descriptors) {  // EMFILE: back off instead of spinning
          asio::steady_timer t(main, std::chrono::milliseconds(100));
          co_await t.async_wait(use_tuple);
        }
        continue;
      }
      handle(l, std::move(socket));
    }
  }

  void handle(Listener& l, tcp::socket socket) {
    std::error_code ec;
    Endpoints ends = endpoints_of(socket, ec);
    if (ec) return;  // the peer is already gone
    auto snap = snapshot.load();
    auto refused = [&](std::string reason) {
      if (options.refused)
        options.refused(Refusal{l.service_name, l.channel, ends.local_ip, ends.remote_ip, ends.local_port,
                                ends.remote_port, std::move(reason)});
    };
    std::string access_output;
    if (auto denied = port_access(*snap, ends, access_output)) {
      refused("PORT_ACCESS: " + *denied);
      auto exec = socket.get_executor();
      asio::co_spawn(exec, refuse(std::move(socket), "554 5.7.1 " + *denied + "\r\n"), asio::detached);
      return;
    }
    // Capacity is checked again now: the worker chosen before accept may
    // have filled up meanwhile, and the socket must stay on its own context.
    Worker* owner = nullptr;
    for (auto& w : workers)
      if (&w->context == &static_cast<asio::io_context&>(socket.get_executor().context())) owner = w.get();
    if (!owner || owner->active->load() >= l.max_conns) {
      refused("over capacity");
      auto exec = socket.get_executor();
      asio::co_spawn(exec, refuse(std::move(socket), "421 4.3.2 Too many connections, try again later\r\n"),
                     asio::detached);
      return;
    }
    owner->active->fetch_add(1);
    auto conn = std::make_shared<Connection>(Connection{std::move(socket), std::move(ends), l.service_name,
                                                         l.channel, l.implicit_tls, std::move(access_output),
                                                         snap, stopping, ConnectionSlot(owner->active)});
    asio::post(owner->context, [this, conn]() mutable { options.start_session(std::move(*conn)); });
  }

  tcp::endpoint endpoint_for(const std::string& address, unsigned port) const {
    if (address.empty()) return tcp::endpoint(tcp::v6(), static_cast<unsigned short>(port));
    return tcp::endpoint(asio::ip::make_address(address), static_cast<unsigned short>(port));
  }

  void open(Listener& l, const tcp::endpoint& ep, int backlog) {
    l.acceptor.open(ep.protocol());
    l.acceptor.set_option(tcp::acceptor::reuse_address(true));
    if (ep.address().is_v6()) l.acceptor.set_option(asio::ip::v6_only(false));  // one socket, both families
    l.acceptor.bind(ep);
    l.acceptor.listen(backlog);
  }
};

Dispatcher::Dispatcher(std::shared_ptr<const config::Snapshot> snapshot, DispatcherOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->snapshot.store(std::move(snapshot));
}

Dispatcher::~Dispatcher() {
  stop();
  for (auto& w : impl_->workers) {
    w->guard.reset();
    w->context.stop();
    if (w->thread.joinable()) w->thread.join();
  }
}

std::vector<BoundEndpoint> Dispatcher::bind() {
  auto snap = impl_->snapshot.load();
  int threads = static_cast<int>(snap->dispatcher.globals.integer("WORKER_THREADS"));
  for (const auto& s : snap->dispatcher.services) threads = std::max(threads, s.worker_threads);
  threads = std::max(threads, 1);
  for (int i = 0; i < threads; ++i) impl_->workers.push_back(std::make_unique<Worker>());

  std::vector<BoundEndpoint> bound;
  for (const auto& service : snap->dispatcher.services) {
    for (int port : service.ports) {
      auto l = std::make_unique<Listener>(impl_->main);
      l->service = &service;
      l->service_name = service.name;
      l->channel = service.channel;
      l->port = static_cast<unsigned>(port);
      l->implicit_tls = service.is_tls_port(port);
      l->max_conns = std::max(service.max_conns, 1);
      auto ep = impl_->endpoint_for(service.interface_address, l->port);
      try {
        impl_->open(*l, ep, service.backlog > 0 ? service.backlog : 128);
      } catch (const std::system_error& e) {
        throw std::system_error(e.code(), "service " + service.name + ": cannot listen on " +
                                              (service.interface_address.empty() ? std::string("*")
                                                                                 : service.interface_address) +
                                              " port " + std::to_string(port));
      }
      auto actual = l->acceptor.local_endpoint();
      l->port = actual.port();
      bound.push_back({service.name, actual.address().to_string(), actual.port()});
      impl_->listeners.push_back(std::move(l));
    }
  }
  return bound;
}

void Dispatcher::run() {
  auto& impl = *impl_;
  for (auto& w : impl.workers) w->thread = std::thread([ctx = &w->context] { ctx->run(); });
  for (auto& l : impl.listeners) asio::co_spawn(impl.main, impl.accept_loop(*l), asio::detached);

  asio::signal_set signals(impl.main);
  // Lives as long as run(): the SIGHUP branch re-arms the wait with it.
  std::function<void(std::error_code, int)> on_signal;
  if (impl.options.handle_signals) {
    signals.add(SIGTERM);
    signals.add(SIGINT);
    signals.add(SIGHUP);
    on_signal = [&](std::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        try {
          if (impl.options.reload) reload(impl.options.reload());
          impl.log("configuration reloaded");
        } catch (const std::exception& e) {
          impl.log(std::string("reload failed, keeping the old configuration: ") + e.what());
        }
        signals.async_wait(on_signal);
      } else {
        impl.log("stopping (signal " + std::to_string(sig) + ")");
        stop();
      }
    };
    signals.async_wait(on_signal);
  }
  // Once a second, tell the owner how many sessions are open (imta process).
  asio::steady_timer status_timer(impl.main);
  std::function<void(std::error_code)> on_status = [&](std::error_code ec) {
    if (ec || impl.stopping->load()) return;
    if (impl.options.status) impl.options.status(active_connections());
    status_timer.expires_after(std::chrono::seconds(1));
    status_timer.async_wait(on_status);
  };
  if (impl.options.status) on_status({});
  impl.main.run();
  for (auto& w : impl.workers) {
    w->guard.reset();
    w->context.stop();
    if (w->thread.joinable()) w->thread.join();
  }
}

void Dispatcher::stop() {
  auto& impl = *impl_;
  if (impl.stopping->exchange(true)) return;
  asio::post(impl.main, [&impl] {
    for (auto& l : impl.listeners) {
      std::error_code ignored;
      l->acceptor.close(ignored);
    }
    // Sessions see the flag at their next command; wait for them, bounded.
    auto deadline = std::chrono::steady_clock::now() + impl.options.shutdown_grace;
    auto timer = std::make_shared<asio::steady_timer>(impl.main);
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [&impl, timer, deadline, poll] {
      int active = 0;
      for (auto& w : impl.workers) active += w->active->load();
      if (active == 0 || std::chrono::steady_clock::now() >= deadline) {
        if (active) impl.log(std::to_string(active) + " sessions still open at the shutdown deadline; closing them");
        impl.main.stop();
        *poll = nullptr;  // break the self-reference
        return;
      }
      timer->expires_after(std::chrono::milliseconds(50));
      timer->async_wait([poll](std::error_code) {
        if (*poll) (*poll)();
      });
    };
    (*poll)();
  });
}

void Dispatcher::reload(std::shared_ptr<const config::Snapshot> snapshot) {
  impl_->snapshot.store(std::move(snapshot));
}

int Dispatcher::active_connections() const {
  int n = 0;
  for (auto& w : impl_->workers) n += w->active->load();
  return n;
}

}  // namespace imta::dispatcher
