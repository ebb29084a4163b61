#include "channels/masters.hpp"

#include "channels/bitbucket/bitbucket_master.hpp"
#include "channels/conversion/conversion_master.hpp"
#include "channels/hold/hold_master.hpp"
#include "channels/local/local_master.hpp"
#include "channels/pipe/pipe_master.hpp"
#include "channels/process/process_master.hpp"
#include "channels/tcp/smtp_client.hpp"

namespace imta::channels {

queue::MasterFactory master_factory() {
  return [](std::string_view channel, const queue::MasterServices& services) -> std::unique_ptr<queue::Master> {
    auto named = [&](std::string_view prefix) { return channel.starts_with(prefix); };
    if (named("tcp_")) return tcp::make_client_master(channel, services);
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
