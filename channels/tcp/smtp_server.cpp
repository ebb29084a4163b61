// The SMTP server of the tcp_* channels: the resources every session shares
// and the hand-off from the dispatcher. The sessions themselves are in
// smtp_session.cpp.
#include "channels/tcp/smtp_server.hpp"

#include <pwd.h>
#include <unistd.h>

#include <ctime>
#include <iostream>

#include "channels/tcp/server_resources.hpp"
#include "channels/tcp/smtp_session.hpp"
#include "config/log_options.hpp"
#include "queue/log_record.hpp"
#include "core/text.hpp"

namespace imta::channels::tcp {

// ---- users database connections ------------------------------------------------

std::unique_ptr<core::UsersDb> UsersPool::borrow(std::string& error) {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto db = std::move(idle_.back());
      idle_.pop_back();
      return db;
    }
  }
  try {
    // Created when missing, so a new instance without users refuses local
    // recipients as unknown instead of failing them as unavailable.
    return std::make_unique<core::UsersDb>(core::UsersDb::open(path_, {.create = true, .busy_timeout_ms = 2000}));
  } catch (const std::exception& e) {
    error = e.what();
    return nullptr;
  }
}

void UsersPool::give_back(std::unique_ptr<core::UsersDb> db) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(db));
}

UserStatus UsersPool::find(std::string_view address, std::span<const std::string> local_domains) {
  const auto now = std::chrono::steady_clock::now();
  std::string key(address);
  {
    std::lock_guard lock(found_mutex_);
    if (auto it = found_.find(key); it != found_.end() && now - it->second < kFoundTtl) return UserStatus::found;
  }
  std::string error;
  auto db = borrow(error);
  if (!db) return UserStatus::unavailable;
  auto match = db->find_recipient(address, local_domains);
  give_back(std::move(db));
  switch (match.status) {
    case core::RecipientStatus::found: {
      std::lock_guard lock(found_mutex_);
      if (found_.size() >= kMaxFound) found_.clear();  // a crude bound; refilled in 2 s
      found_[std::move(key)] = now;
      return UserStatus::found;
    }
    case core::RecipientStatus::unknown: return UserStatus::unknown;
    case core::RecipientStatus::unavailable: break;
  }
  return UserStatus::unavailable;
}

core::VerifyResult UsersPool::verify(std::string_view user, std::string_view password) {
  std::string error;
  auto db = borrow(error);
  if (!db) return core::VerifyResult::unavailable;
  auto result = db->verify(user, password, true);
  give_back(std::move(db));
  return result;
}

// ---- shared resources -----------------------------------------------------------

namespace {

queue::StoreOptions store_options(const core::Instance& instance, const config::Snapshot& snapshot,
                                  ServerResources& resources) {
  queue::StoreOptions o;
  o.root = instance.queue_dir();
  // QUEUE_SYNC (option.dat): how a message is made durable before its 250.
  // Read at start; a reload does not change it.
  queue::apply_queue_sync(o, snapshot.options.text("QUEUE_SYNC"));
  // QUEUE_RECYCLE: new messages go into files the job controller delivered
  // (queue/.recycle) where there are any.
  o.recycle = snapshot.options.integer("QUEUE_RECYCLE") != 0;
  o.subdirs = [&resources](std::string_view channel) -> unsigned {
    auto snap = resources.snapshot.load();
    return snap ? config::channel_subdirs(snap->imta_cnf, channel) : 0u;
  };
  return o;
}

}  // namespace

ServerResources::ServerResources(const core::Instance& inst, std::shared_ptr<const config::Snapshot> snap)
    : instance(inst),
      snapshot(snap),
      notifier(queue::notify_socket_path(inst.run_dir())),
      store(store_options(inst, *snap, *this)),
      log(config::mail_log_file_options(inst, *snap)),
      users(core::users_db_path(inst)),
      username(queue::process_user()) {
  // The files whose E records the log writer just wrote go to the job
  // controller in one datagram per round (sessions hand them over with
  // their records: see Session::deliver).
  log.set_after_round([this] { notifier.flush(); });
}

void ServerResources::load_tls() {
  auto dir = instance.config_dir() / "tls";
  std::string error;
  auto ctx = make_server_tls_context(dir / "server.pem", dir / "server.key", error);
  if (!ctx) {
    diagnostic("TLS is off (no STARTTLS, implicit-TLS ports refuse connections): " + error);
    tls.store(nullptr);
    return;
  }
  tls.store(make_tls_context(std::move(ctx)));
}

void ServerResources::diagnostic(std::string_view text) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::tm tm{};
  ::localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  std::lock_guard lock(diagnostic_mutex_);
  std::cerr << stamp << " imtad[" << ::getpid() << "] smtp: " << text << std::endl;
}

// ---- SmtpServer -----------------------------------------------------------------

struct SmtpServer::Impl {
  std::shared_ptr<ServerResources> resources;
};

SmtpServer::SmtpServer(const core::Instance& instance, std::shared_ptr<const config::Snapshot> snapshot)
    : impl_(std::make_unique<Impl>()) {
  if (!snapshot) throw std::runtime_error("SMTP server: no configuration");
  std::error_code ec;
  if (!std::filesystem::is_directory(instance.queue_dir(), ec))
    throw std::runtime_error("SMTP server: no queue directory " + instance.queue_dir().string());
  impl_->resources = std::make_shared<ServerResources>(instance, std::move(snapshot));
  impl_->resources->load_tls();
}

SmtpServer::~SmtpServer() = default;

void SmtpServer::start(dispatcher::Connection connection) {
  start_session(std::move(connection), impl_->resources);
}

void SmtpServer::reload(std::shared_ptr<const config::Snapshot> snapshot) {
  auto& r = *impl_->resources;
  if (snapshot) {
    r.log.set_options(config::mail_log_file_options(r.instance, *snapshot));
    r.snapshot.store(std::move(snapshot));
  }
  r.load_tls();
}

}  // namespace imta::channels::tcp
