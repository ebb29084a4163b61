// The local channel's master (see queue/master.hpp): delivery of each
// recipient into its user's Maildir.
//
// Per recipient of a claimed file:
//  - its active address is routed again (queue::route_address) in case the
//    aliases changed since it was queued. An address that is now an alias
//    (and does not name itself) is delivered to the expansion: members of
//    this channel into their Maildirs here, the others re-enqueued through
//    the submitter (E records `l tcp_local ...`); the recipient then counts
//    as delivered;
//  - every local address must belong to a user of the users database
//    (core/users_db.hpp) now: otherwise the recipient bounces, 5.1.1
//    "no such user" (nothing of its expansion is delivered, as the SMTP
//    server refuses such a RCPT);
//  - the message goes into the user's Maildir (MAILDIR_TEMPLATE, see
//    mailbox_path.hpp; bytes and durability in maildir.hpp). One copy per
//    mailbox and file: a user named twice (two addresses, aliases) gets the
//    message once, with the first recipient's Delivered-To;
//  - a write that fails (disk full, permissions, I/O) defers the recipient
//    (4.3.1 disk full, 4.2.2 over quota, 4.2.0 permission, 4.3.0 else) with
//    the system's error text; a users database that cannot be read defers
//    it too (4.3.0).
// A retry delivers again what an earlier attempt of the same recipient
// already put in a Maildir when a later step failed (an alias member here
// written, the re-enqueue of the others failed): at least once, never lost.
#pragma once

#include <memory>
#include <string_view>

#include "queue/master.hpp"

namespace imta::channels::local {

std::unique_ptr<queue::Master> make_master(std::string_view channel, const queue::MasterServices& services);

}  // namespace imta::channels::local
