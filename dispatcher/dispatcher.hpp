// The dispatcher: one listening socket per PORT of every [SERVICE=...] in
// dispatcher.cnf, a fixed set of worker threads each running its own
// io_context, and the hand-off between them. At accept it applies
// PORT_ACCESS, picks the least-loaded worker that is below MAX_CONNS (or
// answers "421 4.3.2" and closes when all are full), and gives the socket to
// the service's channel through a SessionStarter. It never speaks SMTP beyond
// those two refusal lines.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dispatcher/connection.hpp"

namespace imta::dispatcher {

/// One line for the dispatcher's own log (dispatcher.log / stderr).
using DiagnosticLog = std::function<void(const std::string&)>;

/// A connection refused before any session ran (PORT_ACCESS or capacity):
/// reported so the caller can write the X record.
struct Refusal {
  std::string service, channel;
  std::string local_ip, remote_ip;
  unsigned local_port = 0, remote_port = 0;
  std::string reason;  ///< e.g. "PORT_ACCESS: Not from your address" or "over capacity"
};

struct DispatcherOptions {
  SessionStarter start_session;
  DiagnosticLog log;                                 ///< may be empty
  std::function<void(const Refusal&)> refused;       ///< may be empty
  /// How to get a fresh snapshot on SIGHUP (load the image); may throw.
  std::function<std::shared_ptr<const config::Snapshot>()> reload;
  std::chrono::seconds shutdown_grace{30};           ///< sessions' time to finish on SIGTERM
  bool handle_signals = true;                        ///< SIGTERM/SIGINT stop, SIGHUP reload
  std::function<void(int)> status;                   ///< every second: open connections; may be empty
};

/// Listening addresses actually bound (useful with port 0 in tests).
struct BoundEndpoint {
  std::string service;
  std::string address;
  unsigned port = 0;
};

class Dispatcher {
 public:
  Dispatcher(std::shared_ptr<const config::Snapshot> snapshot, DispatcherOptions options);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  /// Binds every service's ports. Throws std::system_error naming the
  /// address and port on failure (e.g. "address in use").
  std::vector<BoundEndpoint> bind();
  /// Serves until stop() (or SIGTERM); returns when every worker has stopped.
  void run();
  /// Stops accepting, lets sessions finish up to the grace period, then stops.
  /// Thread-safe; returns at once.
  void stop();
  /// Swaps in a new configuration for connections accepted from now on.
  void reload(std::shared_ptr<const config::Snapshot> snapshot);
  /// Connections being served now, over all workers.
  int active_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imta::dispatcher
