// The SMTP server of the tcp_* channels (the channels' "slave" side): serves
// the connections the dispatcher hands over, decides per recipient which
// channel the message goes to and whether it is allowed, and enqueues it
// durably before saying 250.
#pragma once

#include <memory>

#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "dispatcher/connection.hpp"

namespace imta::channels::tcp {

class SmtpServer {
 public:
  /// Opens what every session shares: the queue store, the mail.log writer,
  /// the users database, the TLS contexts (config/tls/server.pem and
  /// server.key). Throws std::runtime_error with a clear message on failure.
  SmtpServer(const core::Instance& instance, std::shared_ptr<const config::Snapshot> snapshot);
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  /// The dispatcher's SessionStarter: serves one connection on the calling
  /// (worker) thread's io_context; returns at once.
  void start(dispatcher::Connection connection);

  /// After SIGHUP: reread certificates (new sessions use them; sessions in
  /// progress keep theirs).
  void reload(std::shared_ptr<const config::Snapshot> snapshot);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace imta::channels::tcp
