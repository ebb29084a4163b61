// Submitting a message from inside the MTA; see submit.hpp.
#include "queue/submit.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include "config/conversion_routing.hpp"
#include "config/log_options.hpp"
#include "config/rewrite.hpp"
#include "core/log/async_log.hpp"
#include "core/text.hpp"
#include "queue/log_record.hpp"
#include "queue/notify.hpp"

namespace imta::queue {

namespace {

std::optional<std::int64_t> keyword_integer(const config::Channel& ch, std::string_view name) {
  const auto* k = ch.keyword(name);
  if (!k || k->args.empty()) return std::nullopt;
  return core::parse_integer(k->args.front());
}

const config::Channel* local_channel(const config::Snapshot& s) {
  return s.imta_cnf.channels.empty() ? nullptr : &s.imta_cnf.channels.front();
}

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : std::string(address.substr(at + 1));
}

bool contains_domain(const std::vector<std::string>& domains, std::string_view domain) {
  return std::any_of(domains.begin(), domains.end(), [&](const std::string& d) { return core::iequals(d, domain); });
}

void add_unique(std::vector<Route>& routes, Route route) {
  bool seen = std::any_of(routes.begin(), routes.end(), [&](const Route& r) {
    return core::iequals(r.channel, route.channel) && core::iequals(r.active, route.active);
  });
  if (!seen) routes.push_back(std::move(route));
}

class SubmitCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "imta.submit"; }
  std::string message(int value) const override {
    switch (static_cast<SubmitError>(value)) {
      case SubmitError::no_routable_recipient: return "no recipient could be routed";
    }
    return "unknown submit error";
  }
};

}  // namespace

const std::error_category& submit_category() {
  static const SubmitCategory category;
  return category;
}

std::error_code make_error_code(SubmitError e) { return {static_cast<int>(e), submit_category()}; }

// ---- routing -------------------------------------------------------------------

bool is_local_channel(const config::Snapshot& s, std::string_view channel) {
  const auto* l = local_channel(s);
  return l && core::iequals(l->name, channel);
}

std::string local_host_name(const config::Snapshot& s) {
  const auto* l = local_channel(s);
  if (l && !l->hosts.empty()) return l->official_host();
  return s.local_domain.empty() ? std::string("localhost") : s.local_domain;
}

std::vector<std::string> local_domains(const config::Snapshot& s) {
  std::vector<std::string> out;
  if (const auto* l = local_channel(s)) out = l->hosts;
  if (!s.local_domain.empty() && !contains_domain(out, s.local_domain)) out.push_back(s.local_domain);
  return out;
}

std::optional<Route> rewrite_recipient(const config::Snapshot& s, std::string_view address,
                                       std::string_view source) {
  config::SnapshotLookups lookups(s);
  config::RewriteRequest request;
  request.address = std::string(address);
  request.source_channel = std::string(source);
  auto r = config::rewrite_address(s.imta_cnf, lookups, request);
  if (!r.ok) return std::nullopt;
  return Route{r.channel, r.address};
}

std::vector<std::string> expand_local(const config::Snapshot& s, const std::string& active) {
  std::string domain = domain_of(active);
  // A bare alias name belongs to every local host name, not only to the
  // instance's domain: postmaster@mail.example.org is the postmaster alias.
  std::string_view local = contains_domain(local_domains(s), domain) ? std::string_view(domain)
                                                                     : std::string_view(s.local_domain);
  return config::expand_alias(s.aliases, active, local);
}

RouteResult route_address(const config::Snapshot& s, std::string_view address, std::string_view source) {
  RouteResult out;
  auto first = rewrite_recipient(s, address, source);
  if (!first) {
    out.error = "Illegal host/domain name found";
    return out;
  }
  if (!is_local_channel(s, first->channel)) {
    out.ok = true;
    out.routes.push_back(std::move(*first));
    return out;
  }
  auto members = expand_local(s, first->active);
  if (members.size() == 1 && core::iequals(members.front(), first->active)) {
    out.ok = true;
    out.routes.push_back(std::move(*first));
    return out;
  }
  for (const auto& m : members) {
    auto again = rewrite_recipient(s, m, source);
    if (!again) {
      out.error = "Illegal host/domain name found in the expansion of " + std::string(address);
      out.routes.clear();
      return out;
    }
    add_unique(out.routes, std::move(*again));
  }
  out.ok = !out.routes.empty();
  if (!out.ok) out.error = "alias expands to nothing";
  return out;
}

// ---- queue copies ----------------------------------------------------------------

std::vector<PlannedCopy> plan_copies(const config::Snapshot& s, const std::vector<Route>& routes) {
  std::vector<PlannedCopy> out;
  // Channels in order of first appearance, so the first recipient's copy comes first.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::size_t>> by_channel;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& ch = routes[i].channel;
    auto [it, added] = by_channel.try_emplace(ch);
    if (added) order.push_back(ch);
    it->second.push_back(i);
  }
  for (const auto& name : order) {
    const auto& list = by_channel[name];
    const auto* ch = s.imta_cnf.find_channel(name);
    const auto* copies = ch ? ch->family("copies") : nullptr;
    std::size_t per_file = list.size();
    if (ch)
      if (auto n = keyword_integer(*ch, "addrsperfile"); n && *n > 0) per_file = static_cast<std::size_t>(*n);
    std::vector<std::vector<std::size_t>> groups;
    if (copies && copies->name == "single") {
      for (auto i : list) groups.push_back({i});
    } else if (copies && copies->name == "single_sys") {
      std::vector<std::string> domains;
      for (auto i : list) {
        auto domain = core::to_lower(domain_of(routes[i].active));
        auto pos = std::find(domains.begin(), domains.end(), domain);
        if (pos == domains.end()) {
          domains.push_back(domain);
          groups.emplace_back();
          pos = domains.end() - 1;
        }
        groups[static_cast<std::size_t>(pos - domains.begin())].push_back(i);
      }
    } else {
      groups.push_back(list);
    }
    for (auto& g : groups)
      for (std::size_t start = 0; start < g.size(); start += per_file) {
        PlannedCopy copy{name, {}};
        copy.recipients.assign(g.begin() + static_cast<std::ptrdiff_t>(start),
                               g.begin() + static_cast<std::ptrdiff_t>(std::min(g.size(), start + per_file)));
        out.push_back(std::move(copy));
      }
  }
  return out;
}

// ---- submitting ------------------------------------------------------------------

Submitter::Submitter(std::shared_ptr<const config::Snapshot> snapshot, Store& store, core::log::AsyncMailLog* log,
                     EnqueueNotifier* notifier)
    : snapshot_(std::move(snapshot)), store_(store), log_(log), notifier_(notifier) {}

SubmitResult Submitter::submit(Submission submission) {
  SubmitResult result;
  const config::Snapshot& s = *snapshot_;
  auto& env = submission.envelope;

  // Route every recipient; keep one entry per channel and final address.
  std::vector<Route> routes;
  std::vector<core::Recipient> recipients;  // parallel to routes
  for (const auto& r : submission.recipients) {
    std::vector<Route> found;
    if (!submission.force_channel.empty()) {
      found.push_back({submission.force_channel, r.address});
    } else {
      auto routed = route_address(s, r.address, env.source_channel);
      if (!routed.ok) {
        result.refused.push_back(r.address + ": " + routed.error);
        continue;
      }
      found = std::move(routed.routes);
      // CONVERSIONS: copies that pass through the conversion channel first.
      for (auto& route : found) route.channel = config::conversion_diversion(s, env.source_channel, route.channel);
    }
    for (auto& route : found) {
      bool seen = false;
      for (const auto& have : routes)
        if (core::iequals(have.channel, route.channel) && core::iequals(have.active, route.active)) seen = true;
      if (seen) continue;
      recipients.push_back({route.active, r.original.empty() ? r.address : r.original, r.notify, r.orcpt});
      routes.push_back(std::move(route));
    }
  }
  if (routes.empty()) {
    result.error = SubmitError::no_routable_recipient;
    return result;
  }

  if (env.message_id.empty()) env.message_id = core::header_field(submission.message, "Message-ID");
  if (env.received_ms == 0)
    env.received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  env.size = submission.message.size();

  auto plan = plan_copies(s, routes);
  std::vector<Copy> copies;
  copies.reserve(plan.size());
  for (const auto& p : plan) {
    Copy copy{p.channel, env};
    copy.envelope.recipients.clear();
    for (auto i : p.recipients) copy.envelope.recipients.push_back(recipients[i]);
    copies.push_back(std::move(copy));
  }

  std::error_code ec;
  auto txn = store_.begin(copies, ec);
  if (!txn) {
    result.error = ec ? ec : std::make_error_code(std::errc::io_error);
    return result;
  }
  result.id = txn->id();
  if (auto w = txn->write(submission.message)) {
    txn->abort();
    result.error = w;
    return result;
  }
  if (auto c = txn->commit(&result.files)) {
    result.error = c;
    result.files.clear();
    return result;
  }

  if (log_) {
    std::vector<std::string> ids;
    if (!env.message_id.empty()) ids.push_back(env.message_id);
    for (const auto& id : submission.related_message_ids)
      if (!id.empty()) ids.push_back(id);
    std::vector<core::log::LogRecord> records;
    for (std::size_t i = 0; i < copies.size(); ++i) {
      const auto& copy = copies[i];
      // The same rule as the SMTP server's E records: written when the
      // source or the destination channel has `logging`.
      if (!config::channel_logs(s.imta_cnf, env.source_channel) && !config::channel_logs(s.imta_cnf, copy.channel))
        continue;
      // The store reports the committed files in the order of the copies.
      std::string file = i < result.files.size() && result.files[i].channel == copy.channel
                             ? result.files[i].path
                             : std::string();
      for (const auto& r : copy.envelope.recipients) {
        auto rec = recipient_record(core::log::RecordCode::Enqueue, env.source_channel, env, r, file);
        rec.dest_channel = copy.channel;
        rec.message_ids = ids;
        rec.auth_user = env.auth_user;
        records.push_back(std::move(rec));
      }
    }
    if (!records.empty()) log_->write(std::move(records));
  }
  if (notifier_) notifier_->enqueued(result.files);
  return result;
}

}  // namespace imta::queue
