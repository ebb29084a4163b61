// Who is told about a delivery outcome, and the copy to `process` that
// carries the notice; see notice.hpp.
#include "queue/notice.hpp"

#include "core/text.hpp"

namespace imta::queue {

namespace {

/// The NOTIFY bit a kind of notice needs; 0 (not given) means FAILURE,DELAY.
bool wants(const core::Recipient& r, core::NoticeKind kind) {
  const unsigned n = r.notify;
  if ((n & core::notify_never) != 0 && (n & core::notify_failure) == 0) return false;
  switch (kind) {
    case core::NoticeKind::failure: return n == 0 || (n & core::notify_failure) != 0;
    case core::NoticeKind::delay: return n == 0 || (n & core::notify_delay) != 0;
    case core::NoticeKind::success: return (n & core::notify_success) != 0;
    case core::NoticeKind::none: break;
  }
  return false;
}

bool never(const core::Recipient& r) {
  return (r.notify & core::notify_never) != 0 && (r.notify & core::notify_failure) == 0;
}

std::string_view action_of(core::NoticeKind kind, const RecipientOutcome& o) {
  switch (kind) {
    case core::NoticeKind::failure: return "failed";
    case core::NoticeKind::delay: return "delayed";
    case core::NoticeKind::success: return o.status == RecipientStatus::relayed ? "relayed" : "delivered";
    case core::NoticeKind::none: break;
  }
  return "failed";
}

std::string_view default_status(core::NoticeKind kind) {
  switch (kind) {
    case core::NoticeKind::success: return "2.0.0";
    case core::NoticeKind::delay: return "4.0.0";
    default: return "5.0.0";
  }
}

/// postheadonly / postheadbody; Sun's default is the whole message.
bool postmaster_headers_only(const config::Snapshot& s, std::string_view channel) {
  const auto* ch = s.imta_cnf.find_channel(channel);
  const auto* k = ch ? ch->family("posthead") : nullptr;
  return k && k->name == "postheadonly";
}

}  // namespace

std::string postmaster_address(const config::Snapshot& s) {
  if (const auto& configured = s.options.text("RETURN_ADDRESS"); !configured.empty()) return configured;
  return "postmaster@" + (s.local_domain.empty() ? local_host_name(s) : s.local_domain);
}

std::string new_message_id(const config::Snapshot& s) {
  return "<" + new_queue_id() + "@" + local_host_name(s) + ">";
}

PostmasterCopy postmaster_copy(const config::Snapshot& s, std::string_view channel, core::NoticeKind kind) {
  if (kind == core::NoticeKind::success) return PostmasterCopy::never;
  const std::string_view family = kind == core::NoticeKind::delay ? "warnpost" : "sendpost";
  const auto* ch = s.imta_cnf.find_channel(channel);
  const auto* k = ch ? ch->family(family) : nullptr;
  if (!k) return PostmasterCopy::copy;
  const std::string_view name = k->name;
  if (name.starts_with("copy")) return PostmasterCopy::copy;
  if (name.starts_with("err")) return PostmasterCopy::when_blank;
  if (name.starts_with("no")) return PostmasterCopy::never;
  return PostmasterCopy::always;
}

std::optional<Submission> notice_submission(const config::Snapshot& s, std::string_view channel,
                                            std::string_view original_id, const core::Envelope& original,
                                            std::string message, core::NoticeKind kind,
                                            const std::vector<NoticeItem>& items, std::int64_t now_ms) {
  core::Notice notice;
  notice.kind = kind;
  notice.original_id = std::string(original_id);
  notice.original_message_id = original.message_id;
  notice.original_from = original.from;
  notice.original_envid = original.envid;
  notice.original_ret = original.ret;
  notice.reporting_channel = std::string(channel);
  notice.arrival_ms = original.received_ms;
  bool sender_wants = false;
  for (const auto& item : items) {
    if (!item.recipient || !item.outcome || never(*item.recipient)) continue;
    if (wants(*item.recipient, kind)) sender_wants = true;
    const auto& r = *item.recipient;
    const auto& o = *item.outcome;
    core::NoticeRecipient nr;
    nr.final_recipient = r.active;
    nr.original_recipient = r.orcpt;
    nr.action = std::string(action_of(kind, o));
    nr.status = o.dsn_status.empty() ? std::string(default_status(kind)) : o.dsn_status;
    nr.remote_mta = o.remote_mta;
    nr.diagnostic = o.diagnostic_code;
    nr.last_attempt_ms = now_ms;
    notice.recipients.push_back(std::move(nr));
  }
  if (notice.recipients.empty()) return std::nullopt;

  const std::string postmaster = postmaster_address(s);
  const bool sender_known = !original.from.empty();
  // A notification (empty sender) that failed for the postmaster has nobody
  // left to tell: telling the postmaster again would loop.
  if (!sender_known) {
    bool only_postmaster = true;
    for (const auto& item : items)
      if (item.recipient && !never(*item.recipient) && !core::iequals(item.recipient->active, postmaster) &&
          !core::iequals(item.recipient->original, postmaster))
        only_postmaster = false;
    if (only_postmaster) return std::nullopt;
  }

  const bool tell_sender = sender_known && sender_wants;
  bool tell_postmaster = false;
  switch (postmaster_copy(s, channel, kind)) {
    case PostmasterCopy::always:
    case PostmasterCopy::copy: tell_postmaster = true; break;
    case PostmasterCopy::when_blank: tell_postmaster = !sender_known; break;
    case PostmasterCopy::never: break;
  }
  if (!tell_sender && !tell_postmaster) return std::nullopt;

  Submission sub;
  if (tell_sender) sub.recipients.push_back({original.from, original.from, 0, {}});
  if (tell_postmaster) {
    // A sender who is the postmaster is told once.
    if (!(tell_sender && core::iequals(postmaster, original.from))) {
      sub.recipients.push_back({postmaster, postmaster, 0, {}});
      notice.postmaster = postmaster;
      notice.postmaster_headers_only = postmaster_headers_only(s, channel);
    }
  }
  sub.envelope.from.clear();  // notices go out with <>, never to be bounced back
  sub.envelope.source_channel = std::string(channel);
  sub.envelope.received_ms = now_ms;
  sub.envelope.message_id = new_message_id(s);
  sub.envelope.notice = std::move(notice);
  sub.message = std::move(message);
  if (!original.message_id.empty()) sub.related_message_ids.push_back(original.message_id);
  sub.force_channel = "process";
  return sub;
}

}  // namespace imta::queue
