// One mail.log entry from one typed event: the line formatter.
//
// Pure: no I/O, no clock, no globals. The writer (a later issue) asks
// format_record() for the line, adds the newline and decides the file
// (mail.log_current, or connection.log_current for connection records when
// SEPARATE_CONNECTION_LOG=1; see is_connection_record()).
//
// ---------------------------------------------------------------------------
// mail.log(5) — entry layout (text for the man page)
//
// Every entry is one physical line (format_record() returns it without the
// newline). The text is ASCII except for UTF-8 addresses, passed as they are.
// Fields are separated by one space, except that
// the two channel columns are padded with spaces to 12 characters each (a
// longer channel name is written whole and followed by one space), so in the
// usual case the entry code starts in the same column on every line.
//
// Message entries (codes E D Q R J K V W Z B):
//
//   date time [node] [process] source dest CODE size from rfc822;orig active
//        [notary] [file] [message-ids] [username] [connection] [diagnostics...]
//
//   date time    `21-Nov-2026 10:31:05.42`: day, English month abbreviation,
//                four-digit year, 24-hour time with hundredths of a second
//                (truncated, not rounded), in the MTA's local time zone.
//   node         LOG_NODE=1: the host name.
//   process      LOG_PROCESS=1: process id in hexadecimal, then `.thread` for
//                multithreaded programs (SMTP server and client), then
//                `.count`, a per-process (per-thread) transaction counter; the
//                thread and count are decimal. Connection entries carry the
//                same value as the message entries of that connection.
//   source       the channel the message came from; for entries written by a
//                dequeuing channel (D Q R K Z W) and for J, B and V entries,
//                the channel writing the entry.
//   dest         the channel the message is enqueued to (E entries, and V
//                entries for the enqueue that was aborted); blank for the
//                entries of a dequeuing channel and for J and B entries.
//   CODE         the entry code (below) followed by its modifiers.
//   size         the message size in blocks of BLOCK_SIZE bytes (default
//                1024), rounded up; 0 bytes is 0 blocks (J and B entries, Q
//                entries that failed before any data was sent).
//   from         the envelope From address. For an empty envelope From
//                (notifications), LOG_FORMAT=1 writes an empty field, so two
//                spaces follow the size; LOG_FORMAT=2 writes `<>`.
//   orig         the original recipient (ORCPT, or the address as first
//                given), always written after `rfc822;`. When it is not known
//                (J entries) the field is just `rfc822;` (LOG_FORMAT=2:
//                `rfc822;<>`).
//   active       the current (rewritten) recipient; for B entries, the bad
//                command as received. Empty: blank, or `<>` with LOG_FORMAT=2.
//   notary       LOG_NOTARY=1: the recipient's NOTARY (DSN) flags, decimal.
//   file         LOG_FILENAME=1: the queue file; its first two characters show
//                the attempt (ZZ first, ZY second, ...).
//   message-ids  LOG_MESSAGE_ID=1: the Message-ID; entries that enqueue a
//                notification show the new and the original id separated by a
//                comma, `<new>,<original>`.
//   username     LOG_USERNAME=1: the user owning the enqueuing process; a
//                sender authenticated with SMTP AUTH is written `*user`.
//   connection   LOG_CONNECTION bit 1: for messages received by SMTP
//                `helo-name (dns-name [ip])`; for SMTP deliveries
//                `host dns;host (TCP|local-ip|local-port|remote-ip|remote-port)`.
//   diagnostics  LOG_DIAGNOSTICS=1 (default): free text to the end of the
//                line: the SMTP reply and, for SMTP deliveries, the remote
//                host, transport and banner, e.g. `dns;mx.example.com
//                (TCP|192.0.2.1|2788|192.0.2.25|25) (mx.example.com ESMTP)
//                smtp;250 2.1.5 OK`; for failures the error text.
//
//   The last J entry of an SMTP session ends with `(last J of session)`,
//   whatever LOG_DIAGNOSTICS says.
//
// Connection entries (codes O C U X Y I; written when LOG_CONNECTION has bit 2,
// U entries when it has bit 128):
//
//   date time [node] [process] channel +|- CODE transport application
//        [username|etrn] [diagnostics...]
//
//   +|-          `+` inbound (the SMTP server), `-` outbound (the SMTP
//                client), written in the destination channel column.
//   transport    `TCP|local-ip|local-port|remote-ip|remote-port`.
//   application  `SMTP` inbound; `SMTP/target-host/actual-host` outbound
//                (target as asked for, actual after the MX lookup).
//   username     U entries only, whatever LOG_USERNAME says: the name given
//                to SMTP AUTH, without an asterisk (empty when none was given).
//   etrn         I entries only, always present: the argument of ETRN.
//   diagnostics  as above; for C entries the reason the connection closed.
//
// Empty fields: a field that an option turns on keeps its place even when it
// has no value (it is then empty, i.e. two spaces in a row), so fields can be
// found by position; empty fields at the end of the line are left off, so no
// line ends in a blank. Control characters in any field are replaced (tab by a
// space, others by `?`) so a remote client can never start a line of its own.
//
// Codes:
//   E  enqueued (one entry per recipient and destination channel)
//   D  dequeued: delivered, or handed to the next hop
//   Q  temporary failure to dequeue; the message stays queued for a retry
//   R  recipient rejected on dequeue, or timed out; a notification is sent
//   J  enqueue attempt refused by the receiving side (e.g. RCPT refused by
//      the SMTP server; diagnostics = the reply given)
//   K  recipient removed without a notification to the sender (NOTIFY=NEVER,
//      qm delete)
//   V  transaction aborted abnormally; one entry per enqueued recipient
//   W  a delay warning was sent to the sender; the message stays queued
//   Z  this recipient failed temporarily while others succeeded; the file was
//      dequeued and a new file for the remaining recipients enqueued
//   B  bad SMTP command received (active = the command, diagnostics = reply)
//   O  connection opened        C  connection closed
//   U  SMTP AUTH success or failure
//   X  connection rejected      Y  connection attempt failed
//   I  ETRN command received
//
// Modifiers, appended to the code in this fixed order when they apply:
//   E  ESMTP was used          L  LMTP was used
//   C  CHUNKING (BDAT) was used
//   S  TLS was in use          A  the client authenticated (SMTP AUTH)
// so `DSA` is a TLS and authenticated dequeue and `EECSA` an ESMTP enqueue with
// CHUNKING, TLS and AUTH. (The Sun documentation shows DA DS DSA EA ES ESA BA BS
// BSA and, in later releases, EE EEC DEC; the relative order of C, S and A
// together is our choice.)
//
// LOG_FORMAT: 1 standard; 2 as 1 but empty address fields written `<>`. Sun's
// formats 3 (counted), 4 (XML), 5 and 6 (JSON) are not implemented; any value
// other than 2 is formatted as 1.
//
// LOG_JSON=1 (our own option) writes each entry as one JSON object per line
// (JSON Lines) instead, with the same fields the text entry would show, under
// the names below; fields an option leaves out of the text are left out here
// too, empty ones are kept (as "" or 0), and the time is `2026-11-21T10:31:05.42`
// (local time, as in the text). Message entries:
//   time node process source dest code size from orig active notary file
//   message_ids (array) username connection diagnostics last_in_session (J, true)
// Connection entries:
//   time node process channel direction code transport application username (U)
//   etrn (I) diagnostics
// LOG_FORMAT=2 has no effect on JSON (an empty address is "").
// ---------------------------------------------------------------------------
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/log/log_time.hpp"

namespace imta::core::log {

/// Width of the source and destination channel columns.
inline constexpr std::size_t kChannelColumn = 12;

/// The LOG_* options of option.dat that shape an entry. A plain struct so core/
/// does not depend on the option registry in config/.
struct LogOptions {
    bool filename = false;      ///< LOG_FILENAME
    bool message_id = false;    ///< LOG_MESSAGE_ID
    bool process = false;       ///< LOG_PROCESS
    bool username = false;      ///< LOG_USERNAME
    bool notary = false;        ///< LOG_NOTARY
    bool node = false;          ///< LOG_NODE
    int connection = 0;         ///< LOG_CONNECTION bit mask (1, 2, 128 understood)
    std::int64_t block_size = 1024;  ///< BLOCK_SIZE; values below 1 count as 1024
    int format = 1;             ///< LOG_FORMAT: 1 standard, 2 empty addresses as <>
    bool diagnostics = true;    ///< LOG_DIAGNOSTICS
    bool json = false;          ///< LOG_JSON: one JSON object per entry (see above)

    // The writer's settings (MailLogFile), not the formatter's. The defaults
    // here are "off" so a program that does not read option.dat (a test)
    // creates no database; config::log_options() gives option.dat's values.
    int messages_syslog = 0;     ///< LOG_MESSAGES_SYSLOG: >0 also syslog, <0 syslog only
    int connections_syslog = 0;  ///< LOG_CONNECTIONS_SYSLOG: the same for O C U X Y I
    bool tracking = false;       ///< LOG_TRACKING: feed db/tracking.sqlite
    bool counters = false;       ///< LOG_COUNTERS: feed db/counters.sqlite
};

/// LOG_CONNECTION bits.
inline constexpr int kLogConnectionInfo = 1;      ///< connection field in message entries
inline constexpr int kLogConnectionRecords = 2;   ///< O C X Y I entries
inline constexpr int kLogConnectionAuth = 128;    ///< U entries

enum class RecordCode : char {
    Enqueue = 'E',
    Dequeue = 'D',
    Requeue = 'Q',             ///< temporary failure, retried later
    Return = 'R',              ///< rejected on dequeue, notification sent
    Refused = 'J',             ///< enqueue attempt refused (e.g. RCPT refused)
    Removed = 'K',             ///< rejected without notification
    Aborted = 'V',
    Warned = 'W',
    PartialRequeue = 'Z',
    BadCommand = 'B',
    ConnectionOpen = 'O',
    ConnectionClose = 'C',
    Auth = 'U',
    ConnectionRejected = 'X',
    ConnectionFailed = 'Y',
    Etrn = 'I',
};

/// Letters appended to the code; written in the order of the members.
struct Modifiers {
    bool esmtp = false;     ///< E
    bool lmtp = false;      ///< L
    bool chunking = false;  ///< C
    bool tls = false;       ///< S
    bool sasl = false;      ///< A
};

enum class Direction : char { Inbound = '+', Outbound = '-' };

/// Everything one entry may show. Fields that do not belong to the record's
/// code are ignored (e.g. addresses of a connection record).
struct LogRecord {
    LogTime when;
    RecordCode code = RecordCode::Enqueue;
    Modifiers modifiers;

    std::string node;                    ///< LOG_NODE
    std::uint32_t pid = 0;               ///< LOG_PROCESS, written in hex
    std::optional<std::uint32_t> thread; ///< only for multithreaded programs
    std::uint32_t count = 0;

    std::string source_channel;          ///< also the channel of connection records
    std::string dest_channel;            ///< enqueue side (E, V); empty otherwise

    // Message records.
    std::uint64_t size_bytes = 0;
    std::string env_from;                ///< empty for `<>`
    std::string orig_to;                 ///< without the `rfc822;` prefix; empty if unknown
    std::string active_to;               ///< B records: the bad command
    std::uint32_t notary = 0;
    std::string filename;
    std::vector<std::string> message_ids;  ///< notifications: new id, then original
    std::string username;                ///< owner of the enqueuing process
    std::string auth_user;               ///< SMTP AUTH user; wins over username, as `*user`
    std::string connection_info;
    std::vector<std::string> diagnostics;  ///< joined with single spaces
    bool last_in_session = false;        ///< J records: the session's last one

    // Connection records.
    Direction direction = Direction::Inbound;
    std::string transport;               ///< see transport_info()
    std::string application;             ///< `SMTP` or `SMTP/target/actual`
    std::string etrn_argument;           ///< I records
    // U records show auth_user (verbatim, no asterisk) in their username field.

    // For the tracking database and the counters only: the formatter never
    // writes these. Empty (0) = not known; tracking then falls back to what the
    // entry's own fields show (queue id from `filename`, client from
    // `connection_info`, code and remote IP from `diagnostics`).
    std::string queue_id;                ///< the queue file's unique part (no ZZ, no .00)
    /// E D Q R ...: when the message arrived (its envelope's received_ms),
    /// the same in every record of every hop: with the Message-ID, the key
    /// of its tracking row (tracking.hpp).
    std::int64_t arrival_ms = 0;
    std::string client_ip;               ///< E, J: the SMTP client's IP address
    std::string client_helo;             ///< E, J: the name it gave in HELO/EHLO
    std::string delivery_ip;             ///< D, Q, R: the server delivered to (empty: local)
    int smtp_code = 0;                   ///< the SMTP reply code behind D Q R J (0: none)
    std::string spam_status;             ///< a filter's verdict, e.g. `Passed`
    std::optional<double> spam_score;    ///< the filter's score
};

/// True for O C U X Y I: the entries SEPARATE_CONNECTION_LOG moves to connection.log.
bool is_connection_record(RecordCode code);

/// The code letter followed by its modifiers, e.g. `DSA`.
std::string record_code_text(RecordCode code, const Modifiers& modifiers);

/// Bytes to blocks, rounded up; block_size below 1 counts as 1024.
std::uint64_t size_in_blocks(std::uint64_t bytes, std::int64_t block_size);

/// `TCP|local-ip|local-port|remote-ip|remote-port`, the transport field.
std::string transport_info(std::string_view local_ip, unsigned local_port,
                           std::string_view remote_ip, unsigned remote_port);

/// The entry for `record`, without a trailing newline, or nullopt when the options
/// say this kind of entry is not written (connection records without LOG_CONNECTION
/// bit 2, U records without bit 128). Message records are always formatted: whether
/// a channel logs at all is its `logging` keyword, decided by the caller.
std::optional<std::string> format_record(const LogRecord& record, const LogOptions& options);

}  // namespace imta::core::log
