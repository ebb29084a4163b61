// The conversion channel's master (see queue/master.hpp).
#pragma once

#include <memory>
#include <string_view>

#include "queue/master.hpp"

namespace imta::channels::conversion {

std::unique_ptr<queue::Master> make_master(std::string_view channel, const queue::MasterServices& services);

}  // namespace imta::channels::conversion
