#include "config/log_options.hpp"

#include "config/imta_cnf.hpp"
#include "config/options.hpp"
#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "core/text.hpp"

namespace imta::config {

core::log::LogOptions log_options(const Options& o) {
  core::log::LogOptions l;
  l.filename = o.integer("LOG_FILENAME") != 0;
  l.message_id = o.integer("LOG_MESSAGE_ID") != 0;
  l.process = o.integer("LOG_PROCESS") != 0;
  l.username = o.integer("LOG_USERNAME") != 0;
  l.notary = o.integer("LOG_NOTARY") != 0;
  l.node = o.integer("LOG_NODE") != 0;
  l.connection = static_cast<int>(o.integer("LOG_CONNECTION"));
  l.block_size = o.integer("BLOCK_SIZE");
  l.format = static_cast<int>(o.integer("LOG_FORMAT"));
  l.diagnostics = o.integer("LOG_DIAGNOSTICS") != 0;
  l.json = o.integer("LOG_JSON") != 0;
  l.messages_syslog = static_cast<int>(o.integer("LOG_MESSAGES_SYSLOG"));
  l.connections_syslog = static_cast<int>(o.integer("LOG_CONNECTIONS_SYSLOG"));
  l.tracking = o.integer("LOG_TRACKING") != 0;
  l.counters = o.integer("LOG_COUNTERS") != 0;
  return l;
}

bool separate_connection_log(const Options& o) { return o.integer("SEPARATE_CONNECTION_LOG") != 0; }

core::log::MailLogFileOptions mail_log_file_options(const core::Instance& instance, const Snapshot& snapshot) {
  core::log::MailLogFileOptions o;
  o.log_dir = instance.log_dir();
  o.format = log_options(snapshot.options);
  o.separate_connection_log = separate_connection_log(snapshot.options);
  return o;
}

bool channel_logs(const ImtaCnf& cnf, std::string_view channel) {
  const auto* ch = cnf.find_channel(channel);
  if (ch == nullptr) return false;
  const auto* kw = ch->family("logging");
  return kw != nullptr && core::iequals(kw->name, "logging");
}

}  // namespace imta::config
