// Who is told about a failure (or a success), and the copy enqueued to the
// `process` channel that carries the notice (core::Notice in its envelope and
// the original message as its bytes; the process channel turns it into the
// RFC 3464 report). Recipients of the notice: the envelope sender, plus
// postmaster per the channel keywords sendpost / copysendpost / errsendpost /
// nosendpost (failure notices) and postheadonly / postheadbody (how much of
// the message postmaster sees). A notice about a message whose sender is
// empty (<>) never goes to <>: postmaster gets it, or it is dropped (the
// caller logs that).
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

/// One recipient of the original file the notice reports, with its outcome.
struct NoticeItem {
  const core::Recipient* recipient = nullptr;
  const RecipientOutcome* outcome = nullptr;
};

/// The submission that enqueues the notice to `process` (force_channel set,
/// E records show `<new>,<original>` Message-IDs), or nullopt when nobody is
/// to be told (every item NOTIFY=NEVER, or an empty sender and no postmaster
/// copy). `channel` is the reporting channel; `message` the original bytes.
std::optional<Submission> notice_submission(const config::Snapshot& snapshot, std::string_view channel,
                                            std::string_view original_id, const core::Envelope& original,
                                            std::string message, core::NoticeKind kind,
                                            const std::vector<NoticeItem>& items, std::int64_t now_ms);

}  // namespace imta::queue
