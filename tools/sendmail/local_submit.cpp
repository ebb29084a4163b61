// A local submission through the SMTP server's decisions; see local_submit.hpp.
#include "tools/sendmail/local_submit.hpp"

#include "config/log_options.hpp"
#include "core/smtp/address.hpp"
#include "core/users_db.hpp"

namespace imta::tools::sendmail {

namespace {

/// A mailbox from an address as sendmail takes it (already qualified): the
/// part after the last "@" is the domain. "" is the null path.
core::smtp::Mailbox mailbox_of(const std::string& address) {
  core::smtp::Mailbox m;
  auto at = address.rfind('@');
  if (at == std::string::npos) {
    m.local = address;
  } else {
    m.local = address.substr(0, at);
    m.domain = address.substr(at + 1);
  }
  return m;
}

queue::StoreOptions store_options(const core::Instance& instance, std::shared_ptr<const config::Snapshot> snapshot) {
  queue::StoreOptions o;
  o.root = instance.queue_dir();
  // QUEUE_SYNC as the SMTP server reads it: one process, one message, so
  // the choice only matters for what the administrator asked for.
  queue::apply_queue_sync(o, snapshot->options.text("QUEUE_SYNC"));
  o.subdirs = [snapshot](std::string_view channel) { return config::channel_subdirs(snapshot->imta_cnf, channel); };
  return o;
}

}  // namespace

LocalSubmitter::LocalSubmitter(const core::Instance& instance, std::shared_ptr<const config::Snapshot> snapshot,
                               std::string user)
    : instance_(instance),
      snapshot_(std::move(snapshot)),
      user_(std::move(user)),
      local_domains_(channels::tcp::local_domains(*snapshot_)),
      users_(core::users_db_path(instance_)),
      notifier_(queue::notify_socket_path(instance_.run_dir())),
      store_(std::make_unique<queue::Store>(store_options(instance_, snapshot_))),
      log_(config::mail_log_file_options(instance_, *snapshot_)) {}

LocalSubmitter::~LocalSubmitter() {
  store_.reset();  // its commit thread first
  log_.flush();
}

channels::tcp::SessionFacts LocalSubmitter::facts() const {
  channels::tcp::SessionFacts f;
  f.source_channel = kLocalChannel;
  f.port_probe = "||||";  // no connection: five empty fields
  f.helo = user_;         // app-info: SMTP/<user>
  return f;
}

channels::tcp::MailDecision LocalSubmitter::check_sender(const std::string& from) {
  core::smtp::Mail mail;
  mail.from = mailbox_of(from);
  auto d = channels::tcp::check_mail(*snapshot_, facts(), mail);
  diversion_ = d.diversion;
  return d;
}

RecipientVerdict LocalSubmitter::route(const std::string& from, const std::string& address, unsigned notify) {
  RecipientVerdict v;
  v.address = address;
  auto f = facts();
  core::smtp::Rcpt rcpt;
  rcpt.to = mailbox_of(address);
  rcpt.params.notify = notify;
  auto lookup = [this](std::string_view a) { return users_.find(a, local_domains_); };
  auto d = channels::tcp::route_recipient(*snapshot_, f, from, rcpt, diversion_, lookup);
  if (d.refusal) {
    v.refusal = std::move(d.refusal);
    return v;
  }
  for (auto& route : d.routes) {
    AcceptedRecipient a;
    a.route = std::move(route);
    a.original = address;
    a.notify = notify;
    v.accepted.push_back(std::move(a));
  }
  return v;
}

void LocalSubmitter::log_refusal(const std::string& from, const std::string& to, const Reply& reply) {
  if (!config::channel_logs(snapshot_->imta_cnf, kLocalChannel)) return;
  core::log::LogRecord rec;
  rec.code = core::log::RecordCode::Refused;
  rec.source_channel = std::string(kLocalChannel);
  rec.env_from = from;
  rec.active_to = to;
  rec.username = user_;
  rec.diagnostics = {std::to_string(reply.code) + " " + reply.enhanced + " " + reply.text};
  log_.write(std::move(rec));
}

LocalSubmitter::Enqueued LocalSubmitter::enqueue(const channels::tcp::TransactionInfo& info,
                                                 const std::vector<AcceptedRecipient>& recipients,
                                                 const std::function<std::string(const std::string& id)>& top,
                                                 const std::string& message) {
  Enqueued out;
  auto copies = channels::tcp::make_copies(info, recipients, channels::tcp::plan_copies(*snapshot_, recipients));
  auto txn = store_->begin(copies, out.error);
  if (!txn) {
    if (!out.error) out.error = std::make_error_code(std::errc::io_error);
    return out;
  }
  out.id = txn->id();
  const std::string first = top ? top(out.id) : std::string();
  if (auto ec = txn->write(first)) out.error = ec;
  if (!out.error)
    if (auto ec = txn->write(message)) out.error = ec;
  if (!out.error) out.error = txn->commit(&out.files);
  if (out.error) {
    txn->abort();
    out.files.clear();
    return out;
  }
  channels::tcp::EnqueueFacts facts;
  facts.size = first.size() + message.size();
  facts.username = user_;
  auto logs = [this](std::string_view channel) { return config::channel_logs(snapshot_->imta_cnf, channel); };
  auto records = channels::tcp::enqueue_records(info, facts, copies, out.files, logs);
  // The job controller hears of the files once their E records are in
  // mail.log, as with the SMTP server (the log, declared after the
  // notifier, runs this before the notifier is gone).
  log_.write(std::move(records), [this, files = out.files] { notifier_.enqueued(files); });
  return out;
}

void LocalSubmitter::flush_log() { log_.flush(); }

}  // namespace imta::tools::sendmail
