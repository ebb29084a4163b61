// The mail.log message entry for one recipient of a queued message, as every
// queue-side writer (the SMTP server's E records, Submitter, apply_outcome,
// the return job) fills it alike.
#pragma once

#include <string>
#include <string_view>

#include "core/envelope.hpp"
#include "core/log/mail_log.hpp"

namespace imta::queue {

/// The original recipient as mail.log shows it: the ORCPT address when its
/// type is rfc822, else the address as first given (the active one when
/// that is unknown).
std::string original_for_log(const core::Recipient& recipient);

/// The user this process runs as (LOG_USERNAME); looked up once.
const std::string& process_user();

/// An entry of `code` written by (or enqueued from) `source_channel` about
/// `recipient` of `envelope`: size, envelope From, original and active
/// recipient, NOTARY, the queue file, the Message-ID and the process's user.
core::log::LogRecord recipient_record(core::log::RecordCode code, std::string_view source_channel,
                                      const core::Envelope& envelope, const core::Recipient& recipient,
                                      std::string filename);

}  // namespace imta::queue
