// Which master delivers a channel's files, by the channel's name as in the
// original MTA: tcp_* (and any channel with the `smtp` keyword) the SMTP client, l the local Maildir delivery, and
// process, conversion, pipe, bitbucket, hold (and names starting with them,
// e.g. conversion_virus) their own masters.
#pragma once

#include "queue/master.hpp"

namespace imta::channels {

/// The factory imtad's job controller and `imta run` use.
queue::MasterFactory master_factory();

}  // namespace imta::channels
