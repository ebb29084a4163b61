#include "core/dns/cache.hpp"

#include <algorithm>

namespace imta::core::dns {

Cache::Cache(std::size_t max_entries, std::function<Clock::time_point()> now)
    : max_entries_(std::max<std::size_t>(max_entries, 1)), now_(std::move(now)) {}

Cache& Cache::shared() {
  static Cache cache;
  return cache;
}

std::string Cache::key(std::string_view servers, std::string_view name, RrType type) {
  std::string k(servers);
  k += '|';
  k += name;
  k += '|';
  k += std::to_string(static_cast<unsigned>(type));
  return k;
}

std::optional<CachedAnswer> Cache::find(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= now_()) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.answer;
}

void Cache::store(const std::string& key, CachedAnswer answer, std::uint32_t ttl_seconds) {
  if (is_temporary(answer.status)) return;
  const std::uint32_t cap = answer.status == Status::ok ? max_positive_ttl : max_negative_ttl;
  ttl_seconds = std::min(ttl_seconds, cap);
  if (ttl_seconds == 0) return;
  std::lock_guard lock(mutex_);
  const auto now = now_();
  if (entries_.size() >= max_entries_ && !entries_.contains(key)) {
    std::erase_if(entries_, [&](const auto& kv) { return kv.second.expires <= now; });
    // Still full of live answers: start over rather than track ages; the
    // cache is an optimisation and every answer can be asked again.
    if (entries_.size() >= max_entries_) entries_.clear();
  }
  entries_.insert_or_assign(key, Entry{std::move(answer), now + std::chrono::seconds(ttl_seconds)});
}

void Cache::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

std::size_t Cache::size() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace imta::core::dns
