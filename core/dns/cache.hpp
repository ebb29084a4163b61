// Answers kept until their TTL ends, so a queue run that delivers many
// messages to one domain asks the DNS once. One cache is shared by every
// Resolver of the process (delivery jobs each run their own Resolver on
// their own io_context, and still share answers); a mutex guards it.
//
// Kept: ok answers (their smallest TTL, at most max_positive_ttl), nxdomain
// and nodata (the SOA's negative TTL, at most max_negative_ttl). Never kept:
// servfail and timeout, which must be asked again.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/dns/message.hpp"

namespace imta::core::dns {

inline constexpr std::uint32_t max_positive_ttl = 86400;  ///< one day
inline constexpr std::uint32_t max_negative_ttl = 900;    ///< fifteen minutes

struct CachedAnswer {
  Status status = Status::servfail;
  std::vector<Record> records;
  std::string canonical;
  bool operator==(const CachedAnswer&) const = default;
};

class Cache {
 public:
  using Clock = std::chrono::steady_clock;
  /// `now` is injectable so tests can step time.
  explicit Cache(std::size_t max_entries = 20000, std::function<Clock::time_point()> now = Clock::now);

  /// The process-wide cache every Resolver with `cache = true` uses.
  static Cache& shared();

  /// `key` names the servers asked as well as the question (see key()), so
  /// resolvers pointed at other servers never see each other's answers.
  static std::string key(std::string_view servers, std::string_view name, RrType type);

  std::optional<CachedAnswer> find(const std::string& key);
  /// Stores unless the status is temporary or the capped TTL is 0.
  void store(const std::string& key, CachedAnswer answer, std::uint32_t ttl_seconds);
  void clear();
  std::size_t size();

 private:
  struct Entry {
    CachedAnswer answer;
    Clock::time_point expires;
  };
  std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::size_t max_entries_;
  std::function<Clock::time_point()> now_;
};

}  // namespace imta::core::dns
