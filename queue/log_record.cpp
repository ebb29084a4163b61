// Queue-side mail.log entries; see log_record.hpp.
#include "queue/log_record.hpp"

#include <pwd.h>
#include <unistd.h>

#include "core/text.hpp"

namespace imta::queue {

std::string original_for_log(const core::Recipient& r) {
  auto semi = r.orcpt.find(';');
  if (semi != std::string::npos && core::iequals(std::string_view(r.orcpt).substr(0, semi), "rfc822"))
    return r.orcpt.substr(semi + 1);
  return r.original.empty() ? r.active : r.original;
}

const std::string& process_user() {
  static const std::string name = [] {
    if (const passwd* pw = ::getpwuid(::geteuid())) return std::string(pw->pw_name);
    return std::to_string(::geteuid());
  }();
  return name;
}

core::log::LogRecord recipient_record(core::log::RecordCode code, std::string_view source_channel,
                                      const core::Envelope& envelope, const core::Recipient& recipient,
                                      std::string filename) {
  core::log::LogRecord rec;
  rec.code = code;
  rec.source_channel = std::string(source_channel);
  rec.size_bytes = envelope.size;
  rec.env_from = envelope.from;
  rec.orig_to = original_for_log(recipient);
  rec.active_to = recipient.active;
  rec.notary = recipient.notify;
  rec.filename = std::move(filename);
  if (!envelope.message_id.empty()) rec.message_ids = {envelope.message_id};
  rec.arrival_ms = envelope.received_ms;
  rec.username = process_user();
  return rec;
}

}  // namespace imta::queue
