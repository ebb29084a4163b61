// Who is told about a failure (or a success), and the copy enqueued to the
// `process` channel that carries the notice (core::Notice in its envelope and
// the original message as its bytes; the process channel turns it into the
// RFC 3464 report). Recipients of the notice: the envelope sender, plus
// postmaster per the channel keywords sendpost / copysendpost / errsendpost /
// nosendpost (failure notices) and postheadonly / postheadbody (how much of
// the message postmaster sees). A notice about a message whose sender is
// empty (<>) never goes to <>: postmaster gets it, or it is dropped (the
// caller logs that); so is one about a notification that failed for the
// postmaster itself, which would loop. See imta-notices(5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/snapshot.hpp"
#include "core/envelope.hpp"
#include "queue/master.hpp"
#include "queue/message_file.hpp"
#include "queue/submit.hpp"

namespace imta::queue {

/// The postmaster: option.dat's RETURN_ADDRESS, else postmaster@ the
/// instance's local domain (else the local host name). Notices come from
/// this address and postmaster copies go to it.
std::string postmaster_address(const config::Snapshot& snapshot);

/// A new Message-ID for a message the MTA writes: "<queue-id@local-host>".
std::string new_message_id(const config::Snapshot& snapshot);

/// Who gets a copy of a notice besides the sender (channel keywords
/// sendpost / copysendpost / errsendpost / nosendpost for failures,
/// warnpost / copywarnpost / errwarnpost / nowarnpost for delay warnings;
/// success notices go to the sender only).
enum class PostmasterCopy : std::uint8_t {
  always,        ///< sendpost: a copy of every notice
  copy,          ///< copysendpost (and the default): a copy, or the notice when the sender is <>
  when_blank,    ///< errsendpost: only the notices that cannot go to the sender
  never,         ///< nosendpost
};
PostmasterCopy postmaster_copy(const config::Snapshot& snapshot, std::string_view channel, core::NoticeKind kind);

/// One recipient of the original file the notice reports, with its outcome.
struct NoticeItem {
  const core::Recipient* recipient = nullptr;
  const RecipientOutcome* outcome = nullptr;
};

/// The submission that enqueues the notice to `process` (force_channel set,
/// E records show `<new>,<original>` Message-IDs), or nullopt when nobody is
/// to be told (every item NOTIFY=NEVER, or an empty sender and no postmaster
/// copy). `channel` is the reporting channel; `message` the original bytes.
/// The sender is told when an item asks for this kind of notice (NOTIFY
/// not given counts as FAILURE,DELAY; success needs SUCCESS); every item
/// that is not NOTIFY=NEVER is reported. The envelope sender of the notice
/// is empty, its Message-ID new (envelope.message_id), and its envelope
/// carries the core::Notice the process channel turns into the report.
std::optional<Submission> notice_submission(const config::Snapshot& snapshot, std::string_view channel,
                                            std::string_view original_id, const core::Envelope& original,
                                            std::string message, core::NoticeKind kind,
                                            const std::vector<NoticeItem>& items, std::int64_t now_ms);

}  // namespace imta::queue
