// Recipient grouping for the SMTP client; see client_routing.hpp.
#include "channels/tcp/client_routing.hpp"

#include "core/text.hpp"

namespace imta::channels::tcp {

std::string address_domain(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  return core::to_lower(address.substr(at + 1));
}

std::vector<RecipientGroup> group_by_domain(const std::vector<core::Recipient>& recipients) {
  std::vector<RecipientGroup> groups;
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    auto domain = address_domain(recipients[i].active);
    RecipientGroup* g = nullptr;
    for (auto& existing : groups)
      if (existing.domain == domain) g = &existing;
    if (!g) g = &groups.emplace_back(RecipientGroup{std::move(domain), {}});
    g->recipients.push_back(i);
  }
  return groups;
}

std::optional<std::string> domain_literal(std::string_view domain) {
  if (domain.size() < 3 || domain.front() != '[' || domain.back() != ']') return std::nullopt;
  auto inner = domain.substr(1, domain.size() - 2);
  if (core::istarts_with(inner, "ipv6:")) inner.remove_prefix(5);
  return std::string(inner);
}

}  // namespace imta::channels::tcp
