// The mail.log settings of a configuration: option.dat's LOG_* options, BLOCK_SIZE
// and SEPARATE_CONNECTION_LOG as the formatter's and the writer's settings, and
// whether a channel logs at all (its `logging` keyword).
#pragma once

#include <string_view>

#include "core/log/mail_log.hpp"
#include "core/log/mail_log_file.hpp"

namespace imta::core {
class Instance;
}

namespace imta::config {

class Options;
struct ImtaCnf;

/// LOG_FILENAME, LOG_MESSAGE_ID, LOG_PROCESS, LOG_USERNAME, LOG_NOTARY,
/// LOG_NODE, LOG_CONNECTION, LOG_FORMAT, LOG_DIAGNOSTICS, LOG_JSON,
/// LOG_MESSAGES_SYSLOG, LOG_CONNECTIONS_SYSLOG, LOG_TRACKING, LOG_COUNTERS
/// and BLOCK_SIZE of option.dat (registry defaults where the file is silent).
core::log::LogOptions log_options(const Options& option_dat);

/// SEPARATE_CONNECTION_LOG=1: connection records go to connection.log_current.
bool separate_connection_log(const Options& option_dat);

struct Snapshot;
/// The mail.log writer's settings for an instance under a configuration
/// (log/, the LOG_* options, SEPARATE_CONNECTION_LOG).
core::log::MailLogFileOptions mail_log_file_options(const core::Instance& instance, const Snapshot& snapshot);

/// True when `channel` has the `logging` keyword in effect (in its block or
/// through `defaults`). Without it, or with `nologging`, or for a channel the
/// configuration does not know, nothing is logged: Sun's default is nologging.
bool channel_logs(const ImtaCnf& cnf, std::string_view channel);

}  // namespace imta::config
