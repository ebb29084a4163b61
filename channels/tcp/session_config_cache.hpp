// What SMTP sessions derive from one configuration snapshot, computed once
// instead of for every connection or message: the settings of each channel
// (keywords, option files, a default Options built on each call), the
// channel a client address switches a service to (a run of the rewrite
// rules and the INTERNAL_IP mapping), the route of each recipient address
// (a run of the rewrite rules: several microseconds per RCPT), the local
// domains, this host's name and the log options.
//
// One cache per worker thread for the newest snapshot that thread has seen
// (no locks: a worker's sessions all run on its thread). A session keeps the
// cache it started with (a shared_ptr), so a reload never changes what a
// running session sees and never frees what it uses. Everything here is a
// pure function of the snapshot, so a cached answer is the answer -- except
// a rewrite by a rule whose template has $W (a new unique string each
// time): with such a rule in imta.cnf, routes are not remembered.
// Included by smtp_session.cpp only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "channels/tcp/smtp_policy.hpp"
#include "config/log_options.hpp"
#include "config/snapshot.hpp"
#include "queue/submit.hpp"

namespace imta::channels::tcp {

class SessionConfigCache {
 public:
  explicit SessionConfigCache(std::shared_ptr<const config::Snapshot> snapshot)
      : snapshot_(std::move(snapshot)),
        local_domains_(tcp::local_domains(*snapshot_)),
        local_host_(local_host_name(*snapshot_)),
        log_options_(config::log_options(snapshot_->options)),
        remember_routes_(!uses_unique_strings(snapshot_->imta_cnf)) {}

  /// This thread's cache for `snapshot` (a new one when the thread's last
  /// one was made for another snapshot).
  static std::shared_ptr<SessionConfigCache> for_snapshot(const std::shared_ptr<const config::Snapshot>& snapshot) {
    thread_local std::shared_ptr<SessionConfigCache> current;
    if (!current || current->snapshot_ != snapshot) current = std::make_shared<SessionConfigCache>(snapshot);
    return current;
  }

  const ChannelSettings& settings(std::string_view channel) {
    auto it = settings_.find(channel);
    if (it == settings_.end())
      it = settings_.emplace(std::string(channel), channel_settings(*snapshot_, channel)).first;
    return it->second;
  }

  /// connection_channel() for a client of a service on `listening`.
  std::string connection_channel(std::string_view listening, std::string_view client_ip) {
    std::string key;
    key.reserve(listening.size() + 1 + client_ip.size());
    key.append(listening).append(1, '\0').append(client_ip);
    auto it = connection_channels_.find(key);
    if (it != connection_channels_.end()) return it->second;
    std::string channel = tcp::connection_channel(*snapshot_, listening, client_ip);
    // Bounded: many distinct clients only cost a recomputation now and then.
    if (connection_channels_.size() >= kMaxClients) connection_channels_.clear();
    connection_channels_.emplace(std::move(key), channel);
    return channel;
  }

  /// queue::rewrite_recipient(snapshot, address, source).
  std::optional<Route> rewrite(std::string_view address, std::string_view source) {
    if (!remember_routes_) return queue::rewrite_recipient(*snapshot_, address, source);
    std::string key;
    key.reserve(source.size() + 1 + address.size());
    key.append(source).append(1, '\0').append(address);
    auto it = routes_.find(key);
    if (it != routes_.end()) return it->second;
    auto route = queue::rewrite_recipient(*snapshot_, address, source);
    if (routes_.size() >= kMaxRoutes) routes_.clear();
    routes_.emplace(std::move(key), route);
    return route;
  }

  const std::vector<std::string>& local_domains() const { return local_domains_; }
  const std::string& local_host() const { return local_host_; }
  const core::log::LogOptions& log_options() const { return log_options_; }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static constexpr std::size_t kMaxClients = 4096;
  static constexpr std::size_t kMaxRoutes = 4096;

  static bool uses_unique_strings(const config::ImtaCnf& cnf) {
    for (const auto& rule : cnf.rules)
      if (rule.templ.find("$W") != std::string::npos || rule.templ.find("$w") != std::string::npos) return true;
    return false;
  }

  std::shared_ptr<const config::Snapshot> snapshot_;
  std::vector<std::string> local_domains_;
  std::string local_host_;
  core::log::LogOptions log_options_;
  std::unordered_map<std::string, ChannelSettings, Hash, std::equal_to<>> settings_;
  std::unordered_map<std::string, std::string> connection_channels_;
  bool remember_routes_;
  std::unordered_map<std::string, std::optional<Route>> routes_;  ///< source NUL address
};

}  // namespace imta::channels::tcp
