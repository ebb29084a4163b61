// The Resolver: one question (name, type) at a time through the cache and
// then the servers (transport.cpp), CNAMEs followed across answers, and the
// MX / address views the SMTP client asks for.
#include "core/dns/resolver.hpp"

#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include <asio/ip/address.hpp>

#include "core/dns/cache.hpp"
#include "core/dns/message.hpp"
#include "core/dns/transport.hpp"

namespace imta::core::dns {

std::string_view status_text(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::nxdomain: return "nxdomain";
    case Status::nodata: return "nodata";
    case Status::servfail: return "servfail";
    case Status::timeout: return "timeout";
  }
  return "unknown";
}

namespace {

std::vector<asio::ip::udp::endpoint> servers_from_resolv_conf(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto servers = parse_resolv_conf(text);
  if (servers.empty()) servers.push_back(default_server());
  return servers;
}

std::string servers_key(const std::vector<asio::ip::udp::endpoint>& servers) {
  std::ostringstream out;
  for (const auto& s : servers) out << s << ',';
  return out.str();
}

}  // namespace

struct Resolver::Impl {
  ExchangeOptions exchange;
  std::string cache_prefix;  // the servers, so other servers' answers never mix
  bool use_cache = true;

  /// One question, CNAMEs followed across answers, through the cache.
  asio::awaitable<CachedAnswer> lookup(const std::string& name, RrType type) {
    const std::string key = Cache::key(cache_prefix, name, type);
    if (use_cache) {
      if (auto hit = Cache::shared().find(key)) co_return *hit;
    }
    CachedAnswer answer;
    std::string current = name;
    std::set<std::string> seen{name};
    std::uint32_t ttl = 0xffffffffu;
    int hops = 0;
    for (;;) {
      ExchangeResult exchanged = co_await dns::exchange(exchange, current, type);
      if (exchanged.status != Status::ok) {
        answer.status = exchanged.status;
        answer.canonical = current;
        co_return answer;  // temporary: never cached
      }
      Resolution resolution = interpret(*exchanged.response, current, type);
      ttl = std::min(ttl, resolution.ttl);
      hops += static_cast<int>(resolution.chain.size()) - 1;
      if (resolution.follow) {
        if (hops > max_cname_chain || !seen.insert(resolution.canonical).second) {
          answer.status = Status::servfail;  // a CNAME loop across zones
          answer.canonical = resolution.canonical;
          co_return answer;
        }
        current = resolution.canonical;
        continue;
      }
      answer.status = resolution.status;
      answer.records = std::move(resolution.records);
      answer.canonical = std::move(resolution.canonical);
      break;
    }
    if (use_cache) Cache::shared().store(key, answer, ttl);
    co_return answer;
  }
};

Resolver::Resolver(asio::any_io_executor executor, ResolverOptions options) : impl_(std::make_unique<Impl>()) {
  (void)executor;  // the lookups run on the awaiting coroutine's executor
  impl_->exchange.servers =
      options.servers.empty() ? servers_from_resolv_conf(options.resolv_conf) : std::move(options.servers);
  impl_->exchange.timeout = options.timeout;
  impl_->exchange.attempts = options.attempts;
  impl_->use_cache = options.cache;
  impl_->cache_prefix = servers_key(impl_->exchange.servers);
}

Resolver::~Resolver() = default;

const std::vector<asio::ip::udp::endpoint>& Resolver::servers() const { return impl_->exchange.servers; }

asio::awaitable<MxAnswer> Resolver::mx(std::string domain) {
  MxAnswer answer;
  auto name = normalize_name(domain);
  if (!name) {
    answer.status = Status::nxdomain;
    co_return answer;
  }
  CachedAnswer found = co_await impl_->lookup(*name, RrType::mx);
  answer.status = found.status;
  answer.canonical = found.canonical;
  for (const auto& record : found.records) answer.records.push_back(MxRecord{record.preference, record.target});
  co_return answer;
}

asio::awaitable<AddressAnswer> Resolver::addresses(std::string host, bool ipv6) {
  AddressAnswer answer;
  std::error_code ec;
  auto literal = asio::ip::make_address(host, ec);
  if (!ec) {
    answer.status = Status::ok;
    answer.canonical = host;
    answer.addresses.push_back(literal);
    co_return answer;
  }
  auto name = normalize_name(host);
  if (!name) {
    answer.status = Status::nxdomain;
    co_return answer;
  }
  CachedAnswer v4 = co_await impl_->lookup(*name, RrType::a);
  CachedAnswer v6;
  v6.status = Status::nodata;
  if (ipv6) {
    CachedAnswer asked = co_await impl_->lookup(*name, RrType::aaaa);
    v6 = std::move(asked);
  }
  for (const auto& r : v4.records)
    if (r.address) answer.addresses.push_back(*r.address);
  for (const auto& r : v6.records)
    if (r.address) answer.addresses.push_back(*r.address);
  answer.canonical = v4.canonical.empty() ? v6.canonical : v4.canonical;
  // Any address is success; otherwise a missing name is permanent, a failed
  // server temporary (we cannot tell the other family is absent too), and
  // two "no such records" answers are nodata.
  if (!answer.addresses.empty())
    answer.status = Status::ok;
  else if (v4.status == Status::nxdomain || v6.status == Status::nxdomain)
    answer.status = Status::nxdomain;
  else if (is_temporary(v4.status))
    answer.status = v4.status;
  else if (is_temporary(v6.status))
    answer.status = v6.status;
  else
    answer.status = Status::nodata;
  co_return answer;
}

}  // namespace imta::core::dns
