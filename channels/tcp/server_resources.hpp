// What every SMTP session of one imtad shares: the queue store, the
// buffered mail.log writer, the users database connections, the threads for
// password checks, the TLS context and the process facts logs need. Owned by
// SmtpServer; sessions hold a shared_ptr. Everything here is thread-safe:
// sessions run on several worker threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "channels/tcp/blocking_pool.hpp"
#include "channels/tcp/smtp_policy.hpp"
#include "core/instance.hpp"
#include "core/log/async_log.hpp"
#include "core/shared_slot.hpp"
#include "core/users_db.hpp"
#include "queue/notify.hpp"
#include "queue/store.hpp"

namespace imta::channels::tcp {

/// Opaque: the Asio TLS context sessions use (defined in smtp_session.cpp,
/// the only translation unit that includes Asio's TLS headers).
struct TlsContext;

/// Users database connections for many threads: a lookup borrows one
/// (opening a new one when none is free) and gives it back.
///
/// Addresses found are remembered for kFoundTtl: most mail goes to a few
/// local users, and each lookup is an SQLite read transaction (file locks
/// and checks, a few system calls). Unknown addresses are always looked up,
/// so a user just added gets mail at once; a user just deleted may still
/// get mail accepted for that long (its delivery then fails and bounces).
class UsersPool {
 public:
  explicit UsersPool(std::filesystem::path path) : path_(std::move(path)) {}

  /// Whether `address` (of the local channel) is a user's. Never throws.
  UserStatus find(std::string_view address, std::span<const std::string> local_domains);
  /// Checks a login (slow: run it on a BlockingPool thread). Never throws.
  core::VerifyResult verify(std::string_view user, std::string_view password);

 private:
  std::unique_ptr<core::UsersDb> borrow(std::string& error);
  void give_back(std::unique_ptr<core::UsersDb> db);

  std::filesystem::path path_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<core::UsersDb>> idle_;

  static constexpr std::chrono::seconds kFoundTtl{2};
  static constexpr std::size_t kMaxFound = 10000;
  std::mutex found_mutex_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> found_;  ///< address -> when looked up
};

struct ServerResources {
  ServerResources(const core::Instance& instance, std::shared_ptr<const config::Snapshot> snapshot);

  core::Instance instance;
  /// The configuration of the last load or reload (the store asks it for
  /// each channel's `subdirs`; sessions use the one they started with).
  core::SharedSlot<const config::Snapshot> snapshot;
  /// Tells the job controller about each commit (once its E records are
  /// written) and each ETRN. Before the log: the log writer's thread uses it
  /// until the log is gone.
  queue::EnqueueNotifier notifier;
  queue::Store store;
  core::log::AsyncMailLog log;
  UsersPool users;
  BlockingPool auth_threads{2};
  core::SharedSlot<TlsContext> tls;  ///< null: STARTTLS not offered
  std::string username;  ///< the process owner, for LOG_USERNAME

  /// Loads config/tls/server.pem and server.key; on failure keeps TLS off
  /// and says why on stderr.
  void load_tls();
  /// One line on the daemon's own log (stderr): problems worth an
  /// administrator's eye (TLS files, enqueue failures, internal errors).
  void diagnostic(std::string_view text);

 private:
  std::mutex diagnostic_mutex_;
};


}  // namespace imta::channels::tcp
