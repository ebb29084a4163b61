// Acting on a master's report for one claimed file: the only place that turns
// per-recipient outcomes into queue operations, mail.log records and
// notifications. In order (the order of the seed's examples 21-4 and 21-5):
//   1. bounced recipients: one failure notice enqueued to `process` (E records
//      <channel> -> process for the sender, plus postmaster per sendpost /
//      copysendpost / errsendpost / nosendpost), then an R record each; NOTIFY=NEVER
//      recipients get a K record and no notice; a notice about a message with
//      an empty sender goes to postmaster only (or is dropped and logged), never to <>;
//   2. delivered/relayed recipients: D records (unless report.log_dequeue is
//      false); NOTIFY=SUCCESS ones get a success notice ("relayed" when so);
//   3. removed recipients: K records;
//   4. deferred recipients: if every recipient is deferred, Q records and the
//      file is renamed to its next retry name (ZZ -> ZY -> ZX); if some
//      finished, Z records and a new file for the rest (Store::partial, then
//      retry). If nothing is deferred the file is removed (Store::complete).
// A report with hold=true renames the file to .HELD (no records but a note).
#pragma once

#include <cstdint>
#include <string>

#include "queue/master.hpp"

namespace imta::queue {

struct OutcomeSummary {
  unsigned delivered = 0, deferred = 0, bounced = 0, removed = 0;
  bool file_removed = false;   ///< nothing left of this file
  bool held = false;
  std::string next_name;       ///< the retry name, when deferred
  std::string error;           ///< a queue operation failed (the file stays; a later attempt redoes it)
};

/// Applies `report` to `claim` (see above). `channel` is the claimed file's channel.
OutcomeSummary apply_outcome(const MasterServices& services, Claim& claim, const DeliveryReport& report);

}  // namespace imta::queue
