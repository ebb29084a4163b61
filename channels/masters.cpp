#include "channels/masters.hpp"

#include "channels/bitbucket/bitbucket_master.hpp"
#include "channels/conversion/conversion_master.hpp"
#include "channels/hold/hold_master.hpp"
#include "channels/local/local_master.hpp"
#include "channels/pipe/pipe_master.hpp"
#include "channels/process/process_master.hpp"
#include "channels/tcp/smtp_client.hpp"

namespace imta::channels {

namespace {

bool speaks_smtp(const queue::MasterServices& services, std::string_view channel) {
  if (!services.snapshot) return false;
  const auto* ch = services.snapshot->imta_cnf.find_channel(channel);
  const auto* smtp = ch ? ch->family("smtp") : nullptr;
  return smtp && smtp->name != "nosmtp";
}

}  // namespace

queue::MasterFactory master_factory() {
  return [](std::string_view channel, const queue::MasterServices& services) -> std::unique_ptr<queue::Master> {
    auto named = [&](std::string_view prefix) { return channel.starts_with(prefix); };
    // A channel that speaks SMTP (the `smtp` keyword family) is delivered by
    // the SMTP client whatever its name; tcp_* channels are SMTP by name too,
    // as in the original (cnbuild warns when one lacks `smtp`).
    if (named("tcp_") || speaks_smtp(services, channel)) return tcp::make_client_master(channel, services);
    if (channel == "l") return local::make_master(channel, services);
    if (named("process")) return process::make_master(channel, services);
    if (named("conversion")) return conversion::make_master(channel, services);
    if (named("pipe")) return pipe::make_master(channel, services);
    if (named("bitbucket")) return bitbucket::make_master(channel, services);
    if (named("hold")) return hold::make_master(channel, services);
    return nullptr;
  };
}

}  // namespace imta::channels
