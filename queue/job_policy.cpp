// Channel job policies from a snapshot; see job_policy.hpp.
#include "queue/job_policy.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace imta::queue {

namespace {

/// The integer argument of keyword `name`, if the channel has it.
std::optional<std::int64_t> integer_keyword(const config::Channel& channel, std::string_view name) {
  const auto* kw = channel.keyword(name);
  if (kw == nullptr || kw->args.empty()) return std::nullopt;
  auto n = core::parse_integer(kw->args.front());
  if (!n || *n < 1) return std::nullopt;
  return n;
}

}  // namespace

std::vector<PoolPolicy> pool_policies(const config::Snapshot& snapshot) {
  std::vector<PoolPolicy> pools;
  for (const auto& p : snapshot.job_controller.pools)
    pools.push_back({p.name, static_cast<unsigned>(std::max(1, p.job_limit))});
  if (pools.empty()) pools.push_back({"DEFAULT", 10});
  return pools;
}

ChannelPolicy channel_policy(const config::Snapshot& snapshot, std::string_view channel) {
  ChannelPolicy p;
  p.channel = std::string(channel);
  const auto& jc = snapshot.job_controller;
  const auto& settings = jc.settings_for(channel);
  if (settings.max_life_conns > 0) p.files_per_job = static_cast<std::uint64_t>(settings.max_life_conns);
  if (settings.max_life_age > 0) p.max_life_ms = settings.max_life_age * 1000;
  p.schedule = retry_schedule(snapshot.imta_cnf, channel);
  const auto* ch = snapshot.imta_cnf.find_channel(channel);
  if (ch == nullptr) return p;
  p.configured = true;
  if (auto n = integer_keyword(*ch, "maxjobs")) p.maxjobs = static_cast<unsigned>(std::min<std::int64_t>(*n, 100000));
  if (auto n = integer_keyword(*ch, "threaddepth")) p.threaddepth = static_cast<unsigned>(std::min<std::int64_t>(*n, 1 << 30));
  if (ch->keyword("smtp") != nullptr) {
    // The SMTP client runs several deliveries per job (Sun's multithreaded
    // tcp_smtp_client); other masters one at a time.
    auto it = snapshot.channel_options.find(std::string(channel));
    const config::Options defaults{config::channel_option_registry()};
    const config::Options& o = it != snapshot.channel_options.end() ? it->second : defaults;
    p.max_threads = static_cast<unsigned>(std::clamp<std::int64_t>(o.integer("MAX_CLIENT_THREADS"), 1, 1000));
  }
  if (auto n = integer_keyword(*ch, "filesperjob"))
    p.files_per_job = p.files_per_job == 0 ? static_cast<std::uint64_t>(*n)
                                           : std::min<std::uint64_t>(p.files_per_job, static_cast<std::uint64_t>(*n));
  // Every message is normal priority so far: immurgent leaves it to the
  // periodic runs; immediate, immnormal and immnonurgent deliver it at once.
  if (const auto* imm = ch->family("immediate"))
    p.immediate = !(core::iequals(imm->name, "periodic") || core::iequals(imm->name, "immurgent"));
  std::string pool_name;
  if (const auto* kw = ch->keyword("pool"); kw != nullptr && !kw->args.empty()) pool_name = kw->args.front();
  const auto& pools = jc.pools;
  for (std::size_t i = 0; i < pools.size(); ++i)
    if (!pool_name.empty() && core::iequals(pools[i].name, pool_name)) p.pool = i;
  return p;
}

}  // namespace imta::queue
