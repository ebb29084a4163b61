#include "core/dns/targets.hpp"

#include <algorithm>
#include <set>

#include "core/dns/message.hpp"
#include "core/text.hpp"

namespace imta::core::dns {

bool is_null_mx(const std::vector<MxRecord>& records) {
  return records.size() == 1 && records.front().exchange.empty();
}

std::vector<MxRecord> order_mx(std::vector<MxRecord> records, bool shuffle_equal, std::mt19937_64& random) {
  std::erase_if(records, [](const MxRecord& r) { return r.exchange.empty(); });
  std::stable_sort(records.begin(), records.end(),
                   [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
  std::set<std::string> seen;
  std::erase_if(records, [&](const MxRecord& r) { return !seen.insert(r.exchange).second; });
  if (shuffle_equal) {
    auto begin = records.begin();
    while (begin != records.end()) {
      auto end = std::find_if(begin, records.end(),
                              [&](const MxRecord& r) { return r.preference != begin->preference; });
      std::shuffle(begin, end, random);
      begin = end;
    }
  }
  return records;
}

bool looks_like_domain_literal(std::string_view domain) {
  return domain.size() >= 2 && domain.front() == '[' && domain.back() == ']';
}

std::optional<asio::ip::address> parse_domain_literal(std::string_view domain) {
  std::string text;
  bool v6_only = false;
  if (looks_like_domain_literal(domain)) {
    std::string_view inner = domain.substr(1, domain.size() - 2);
    constexpr std::string_view tag = "ipv6:";
    if (inner.size() > tag.size() &&
        std::equal(tag.begin(), tag.end(), inner.begin(),
                   [](char t, char c) { return t == core::ascii_lower(c); })) {
      inner.remove_prefix(tag.size());
      v6_only = true;
    }
    text = std::string(inner);
  } else {
    text = std::string(domain);
  }
  if (text.empty() || text.find('%') != std::string::npos) return std::nullopt;
  std::error_code ec;
  if (v6_only) {
    auto v6 = asio::ip::make_address_v6(text, ec);
    if (ec) return std::nullopt;
    return asio::ip::address(v6);
  }
  if (looks_like_domain_literal(domain)) {  // "[...]" without the tag: IPv4 only
    auto v4 = asio::ip::make_address_v4(text, ec);
    if (ec) return std::nullopt;
    return asio::ip::address(v4);
  }
  auto any = asio::ip::make_address(text, ec);
  if (ec) return std::nullopt;
  return any;
}

namespace {

std::mt19937_64& shuffle_random() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

std::string lookup_failure(std::string_view what, std::string_view name, Status status) {
  std::string text = "DNS lookup of " + std::string(what) + " for " + std::string(name) + " failed: ";
  text += status == Status::timeout ? "no DNS server answered" : "DNS server failure";
  return text;
}

std::string lower_trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return core::to_lower(s);
}

/// The domain's own addresses as the single target (implicit MX, nomx).
asio::awaitable<TargetsAnswer> own_addresses(Resolver& resolver, const std::string& domain, bool ipv6,
                                             bool implicit_mx) {
  TargetsAnswer answer;
  answer.implicit_mx = implicit_mx;
  AddressAnswer found = co_await resolver.addresses(domain, ipv6);
  answer.status = found.status;
  switch (found.status) {
    case Status::ok:
      answer.targets.push_back(Target{domain, 0, std::move(found.addresses)});
      break;
    case Status::nxdomain:
      answer.error = std::string(illegal_domain_text);
      break;
    case Status::nodata:
      answer.error = implicit_mx ? domain + " has no MX and no address records"
                                 : domain + " has no address records";
      break;
    case Status::servfail:
    case Status::timeout:
      answer.error = lookup_failure("addresses", domain, found.status);
      break;
  }
  co_return answer;
}

}  // namespace

asio::awaitable<TargetsAnswer> delivery_targets(Resolver& resolver, std::string domain, MxPolicy policy,
                                                bool ipv6) {
  TargetsAnswer answer;
  domain = lower_trimmed(domain);
  if (!domain.empty() && domain.back() == '.' && !looks_like_domain_literal(domain)) domain.pop_back();

  if (auto literal = parse_domain_literal(domain)) {
    answer.status = Status::ok;
    answer.targets.push_back(Target{domain, 0, {*literal}});
    co_return answer;
  }
  if (looks_like_domain_literal(domain) || !normalize_name(domain)) {
    answer.status = Status::nxdomain;
    answer.error = std::string(illegal_domain_text);
    co_return answer;
  }

  if (policy == MxPolicy::nomx) {
    TargetsAnswer own = co_await own_addresses(resolver, domain, ipv6, false);
    co_return own;
  }

  MxAnswer mx = co_await resolver.mx(domain);
  if (mx.status == Status::nodata) {
    // RFC 5321 §5.1: no MX records, the domain itself is the host.
    TargetsAnswer own = co_await own_addresses(resolver, domain, ipv6, true);
    co_return own;
  }
  if (mx.status != Status::ok) {
    answer.status = mx.status;
    answer.error = mx.status == Status::nxdomain ? std::string(illegal_domain_text)
                                                 : lookup_failure("MX records", domain, mx.status);
    co_return answer;
  }
  if (is_null_mx(mx.records)) {
    answer.status = Status::nxdomain;
    answer.null_mx = true;
    answer.error = std::string(illegal_domain_text);
    co_return answer;
  }

  std::vector<MxRecord> ordered = order_mx(mx.records, policy == MxPolicy::randommx, shuffle_random());
  std::optional<Status> temporary;
  std::string without_address;
  for (const auto& record : ordered) {
    AddressAnswer found = co_await resolver.addresses(record.exchange, ipv6);
    if (found.status == Status::ok) {
      answer.targets.push_back(Target{record.exchange, record.preference, std::move(found.addresses)});
      continue;
    }
    if (is_temporary(found.status) && !temporary) temporary = found.status;
    if (!without_address.empty()) without_address += ", ";
    without_address += record.exchange;
  }
  if (!answer.targets.empty()) {
    answer.status = Status::ok;
    co_return answer;
  }
  if (temporary) {
    answer.status = *temporary;
    answer.error = lookup_failure("the MX hosts' addresses", domain, *temporary) + " (" + without_address + ")";
  } else {
    answer.status = Status::nodata;
    answer.error = "no MX host of " + domain + " has an address (" + without_address + ")";
  }
  co_return answer;
}

}  // namespace imta::core::dns
