// The tcp_* channels' master: the SMTP client (see queue/master.hpp and the
// file comment of smtp_client.cpp). What it reads from the configuration is
// in client_settings.hpp; how replies become per-recipient outcomes and log
// text, in client_outcome.hpp. It writes only the O and C records of its
// connections (direction `-`); queue/ writes D/Q/R/Z from its report.
#pragma once

#include <memory>
#include <string_view>

#include "queue/master.hpp"

namespace imta::channels::tcp {

/// The master of `channel` for one job; nullptr without a snapshot. It keeps
/// connections open between deliver() calls (CLIENT_IDLE_TIMEOUT) and closes
/// them with QUIT in idle() and when destroyed.
std::unique_ptr<queue::Master> make_client_master(std::string_view channel, const queue::MasterServices& services);

}  // namespace imta::channels::tcp
