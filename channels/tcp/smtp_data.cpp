// Message facts, queue copies and E records; see smtp_data.hpp.
#include "channels/tcp/smtp_data.hpp"

#include "core/text.hpp"
#include "queue/log_record.hpp"

namespace imta::channels::tcp {

namespace {

/// The header section's fields, unfolded: name and value, one at a time.
/// A field on one line is seen in place; only a folded one is copied (its
/// lines joined).
template <class Visit>
void for_each_field(std::string_view text, Visit visit) {
  std::size_t pos = 0;
  std::string_view name, value;  // the field's first line, in `text`
  std::string folded;            // its value unfolded, once it has a second line
  bool open = false, is_folded = false;
  auto flush = [&] {
    if (open) visit(name, core::trim(is_folded ? std::string_view(folded) : value));
    open = false;
  };
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    bool complete = eol != std::string_view::npos;
    std::string_view line = text.substr(pos, complete ? eol - pos : std::string_view::npos);
    pos = complete ? eol + 1 : text.size();
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header section
    if (line.front() == ' ' || line.front() == '\t') {
      if (!open) continue;
      if (!is_folded) folded.assign(value);
      is_folded = true;
      folded.append(line);
      continue;
    }
    flush();
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a field: ignore it
    name = core::trim(line.substr(0, colon));
    value = line.substr(colon + 1);
    is_folded = false;
    open = complete;  // a field cut off by the end of the buffer is not trusted
  }
  flush();
}

// The whole path, as Sun logs it (/imta/queue/tcp_local/ZZ...): shows channel and subfolder too.
std::string file_name_of(const queue::QueuePath& p) { return p.path; }

}  // namespace

HeaderFacts scan_headers(std::string_view message_start) {
  HeaderFacts facts;
  for_each_field(message_start, [&](std::string_view name, std::string_view value) {
    if (core::iequals(name, "Received")) {
      ++facts.received;
    } else if (core::iequals(name, "Message-ID") && facts.message_id.empty()) {
      facts.message_id = std::string(value.substr(0, 998));
    } else if (core::iequals(name, "Date")) {
      facts.date = true;
    }
  });
  return facts;
}

std::vector<queue::Copy> make_copies(const TransactionInfo& info, const std::vector<AcceptedRecipient>& recipients,
                                     const std::vector<PlannedCopy>& plan) {
  std::vector<queue::Copy> copies;
  copies.reserve(plan.size());
  for (const auto& p : plan) {
    queue::Copy c;
    c.channel = p.channel;
    auto& e = c.envelope;
    e.from = info.from;
    e.envid = info.envid;
    e.ret = info.ret;
    e.source_channel = info.source_channel;
    e.client_ip = info.client_ip;
    e.client_helo = info.client_helo;
    e.client_name = info.client_name;
    e.auth_user = info.auth_user;
    e.tls = info.tls;
    e.received_ms = info.received_ms;
    e.message_id = info.message_id;
    for (auto i : p.recipients) {
      const auto& r = recipients[i];
      e.recipients.push_back({r.route.active, r.original, r.notify, r.orcpt});
    }
    copies.push_back(std::move(c));
  }
  return copies;
}

MessageAssembler::MessageAssembler(queue::Store& store, CopyMaker copies, HeaderMaker received)
    : store_(store), make_copies_(std::move(copies)), make_received_(std::move(received)) {}

MessageAssembler::~MessageAssembler() = default;  // an uncommitted transaction aborts itself

const std::string& MessageAssembler::id() const {
  static const std::string none;
  return txn_ ? txn_->id() : none;
}

void MessageAssembler::append(std::string_view bytes) {
  if (bytes.empty() || loop_) return;
  if (begun_) {
    store(bytes);
    return;
  }
  const std::size_t seen = head_.size();
  head_.append(bytes);
  // The header ends at the first empty line (or the message starts with one);
  // only the new bytes (and the three before them) can complete one.
  bool header_done = head_.starts_with("\r\n") || head_.find("\r\n\r\n", seen < 3 ? 0 : seen - 3) != std::string::npos;
  if (header_done || head_.size() >= kHeadKeep) begin();
}

void MessageAssembler::begin() {
  begun_ = true;
  facts_ = scan_headers(head_);
  if (facts_.received > kMaxHops) {
    loop_ = true;
    head_.clear();
    return;
  }
  copies_ = make_copies_(facts_);
  std::error_code ec;
  txn_ = store_.begin(copies_, ec);
  if (!txn_) {
    storage_error_ = "cannot create queue files: " + (ec ? ec.message() : std::string("unknown error"));
  } else {
    store(make_received_(txn_->id()));
    store(head_);
  }
  head_.clear();
  head_.shrink_to_fit();
}

void MessageAssembler::store(std::string_view bytes) {
  size_ += bytes.size();
  if (!txn_ || !storage_error_.empty()) return;
  if (auto ec = txn_->write(bytes)) storage_error_ = "cannot write queue files: " + ec.message();
}

std::optional<Reply> MessageAssembler::finish() {
  if (!begun_) begin();
  if (loop_) return Reply{554, "5.4.6", "Too many hops (Received: headers), mail loop suspected"};
  if (!storage_error_.empty()) {
    if (txn_) txn_->abort();
    return replies::storage_failure();
  }
  return std::nullopt;
}

std::string connection_field(std::string_view helo, std::string_view name, std::string_view ip) {
  return std::string(helo) + " (" + std::string(name) + " [" + std::string(ip) + "])";
}

std::vector<core::log::LogRecord> enqueue_records(const TransactionInfo& info, const EnqueueFacts& facts,
                                                  const std::vector<queue::Copy>& copies,
                                                  const std::vector<queue::QueuePath>& committed,
                                                  const std::function<bool(std::string_view)>& logs) {
  std::vector<core::log::LogRecord> out;
  for (std::size_t i = 0; i < copies.size(); ++i) {
    const auto& copy = copies[i];
    if (logs && !logs(info.source_channel) && !logs(copy.channel)) continue;
    // The store reports the committed files in the order of the copies.
    std::string file = i < committed.size() && committed[i].channel == copy.channel ? file_name_of(committed[i])
                                                                                     : std::string();
    for (const auto& r : copy.envelope.recipients) {
      core::log::LogRecord rec;
      rec.code = core::log::RecordCode::Enqueue;
      rec.modifiers = facts.modifiers;
      rec.source_channel = info.source_channel;
      rec.dest_channel = copy.channel;
      rec.size_bytes = facts.size;
      rec.env_from = info.from;
      rec.orig_to = queue::original_for_log(r);
      rec.active_to = r.active;
      rec.notary = r.notify;
      rec.filename = file;
      if (!info.message_id.empty()) rec.message_ids = {std::string(info.message_id)};
      rec.arrival_ms = info.received_ms;
      rec.username = facts.username;
      rec.auth_user = info.auth_user;
      rec.connection_info = facts.connection_info;
      out.push_back(std::move(rec));
    }
  }
  return out;
}

}  // namespace imta::channels::tcp
