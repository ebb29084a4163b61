// What happens to a message once its data has arrived, as pure functions:
// the facts the server reads from its header (Message-ID, Received: count
// for loop detection), the queue copies it becomes (one envelope per
// planned file), and the E records that say so in mail.log. The session
// (smtp_session.cpp) streams the bytes into a queue::Transaction and calls
// these around it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "channels/tcp/smtp_policy.hpp"
#include "core/log/mail_log.hpp"
#include "queue/store.hpp"

namespace imta::channels::tcp {

/// The start of a message kept for scan_headers(): enough for any sane header.
inline constexpr std::size_t kHeadKeep = 64 * 1024;

/// What the server reads from a message's header section (up to the first
/// empty line, or as much of it as `message_start` holds).
struct HeaderFacts {
  std::string message_id;  ///< the Message-ID field's value, unfolded and trimmed ("<...>")
  int received = 0;        ///< Received: fields (hops)
  bool date = false;       ///< a Date: field is present
};
HeaderFacts scan_headers(std::string_view message_start);

/// The envelope facts shared by every copy of one message: views of what
/// the caller holds (a session's state), valid while make_copies() or
/// enqueue_records() runs; those copy what they keep.
struct TransactionInfo {
  std::string_view from;  ///< "" for <>
  std::string_view envid;
  core::Ret ret = core::Ret::unspecified;
  std::string_view source_channel;
  std::string_view client_ip;
  std::string_view client_helo;
  std::string_view client_name;  ///< no DNS: the address literal
  std::string_view auth_user;
  std::string_view tls;
  std::int64_t received_ms = 0;
  std::string_view message_id;
};

/// One queue::Copy per planned file, recipients in the order accepted.
std::vector<queue::Copy> make_copies(const TransactionInfo& info, const std::vector<AcceptedRecipient>& recipients,
                                     const std::vector<PlannedCopy>& plan);

/// The facts every E record of one message shares.
struct EnqueueFacts {
  core::log::Modifiers modifiers;
  std::uint64_t size = 0;          ///< bytes, Received: header included
  std::string username;            ///< LOG_USERNAME: the process owner
  std::string connection_info;     ///< LOG_CONNECTION bit 1: "helo (name [ip])"
};

/// One E record per recipient of every committed copy whose source or
/// destination channel logs (`logs`), with the file name of the copy.
std::vector<core::log::LogRecord> enqueue_records(const TransactionInfo& info, const EnqueueFacts& facts,
                                                  const std::vector<queue::Copy>& copies,
                                                  const std::vector<queue::QueuePath>& committed,
                                                  const std::function<bool(std::string_view)>& logs);

/// One message on its way into the queue. The decoded bytes (DATA after
/// dot-unstuffing, or BDAT chunks) arrive in pieces; the first ones are held
/// until the header section is complete (or kHeadKeep bytes arrived), so the
/// envelopes can carry the Message-ID and a mail loop is seen before any file
/// exists. Then the transaction begins (one file per planned copy), the
/// Received: header goes first, and everything else streams through.
/// A storage error does not stop the reading: the session stays in step with
/// the client and answers 452 4.3.1 at the end, with nothing left queued.
class MessageAssembler {
 public:
  /// Builds the copies once the header is known.
  using CopyMaker = std::function<std::vector<queue::Copy>(const HeaderFacts&)>;
  /// The Received: header for the queue id the transaction got.
  using HeaderMaker = std::function<std::string(const std::string& id)>;

  MessageAssembler(queue::Store& store, CopyMaker copies, HeaderMaker received);
  ~MessageAssembler();
  MessageAssembler(const MessageAssembler&) = delete;
  MessageAssembler& operator=(const MessageAssembler&) = delete;

  void append(std::string_view bytes);
  /// The end of the message: nullopt when the transaction is ready to commit
  /// (take it with transaction()), else the refusal (nothing was kept):
  /// 554 5.4.6 for a loop, 452 4.3.1 for a storage failure.
  std::optional<Reply> finish();

  queue::Transaction& transaction() { return *txn_; }
  const std::vector<queue::Copy>& copies() const { return copies_; }
  const HeaderFacts& facts() const { return facts_; }
  /// Message bytes so far, the Received: header included once it is written.
  std::uint64_t size() const { return size_; }
  const std::string& id() const;
  /// Why the storage failed (for the daemon's log), empty if it did not.
  const std::string& storage_error() const { return storage_error_; }

 private:
  void begin();
  void store(std::string_view bytes);

  queue::Store& store_;
  CopyMaker make_copies_;
  HeaderMaker make_received_;
  std::string head_;
  bool begun_ = false;
  bool loop_ = false;
  HeaderFacts facts_;
  std::vector<queue::Copy> copies_;
  std::unique_ptr<queue::Transaction> txn_;
  std::string storage_error_;
  std::uint64_t size_ = 0;
};

/// "helo (name [ip])", the connection field of message records.
std::string connection_field(std::string_view helo, std::string_view name, std::string_view ip);

}  // namespace imta::channels::tcp
