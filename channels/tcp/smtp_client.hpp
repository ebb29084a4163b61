// The tcp_* channels' master: the SMTP client (see queue/master.hpp).
#pragma once

#include <memory>
#include <string_view>

#include "queue/master.hpp"

namespace imta::channels::tcp {

std::unique_ptr<queue::Master> make_client_master(std::string_view channel, const queue::MasterServices& services);

}  // namespace imta::channels::tcp
