// Writing one message into a Maildir (https://cr.yp.to/proto/maildir.html):
// the file is written under tmp/, synced, linked into new/ and the new/
// directory synced, so that when deliver() says "done" the message survives a
// crash and a reader never sees a half-written file. The queue file is
// removed only after that.
//
// Bytes. The queue holds the message with CRLF line ends (as SMTP carried
// it); Maildir readers (Dovecot, Courier, mutt, ...) expect LF, so each CRLF
// becomes LF (a lone CR or LF is kept as it is). Two header lines come first:
//   Return-Path: <sender>        (<> for a notification)
//   Delivered-To: recipient
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace imta::channels::local {

/// The bytes of the Maildir file: the two header lines, then `message` with
/// CRLF turned into LF.
std::string maildir_bytes(std::string_view sender, std::string_view delivered_to, std::string_view message);

/// A unique file name for a new message: `<seconds>.<pid>_<counter>.<host>`,
/// with `/` and `:` in the host written as `\057` and `\072` as the Maildir
/// convention asks. `counter` is taken from a process-wide counter.
std::string maildir_unique_name(std::int64_t unix_seconds);

/// This host's name as it goes into Maildir file names (escaped as above).
std::string maildir_host_name();

struct MaildirResult {
  bool ok = false;
  int error = 0;                  ///< errno of the failed step
  std::string text;               ///< what failed: "mkdir /x/Maildir/new: Permission denied"
  std::filesystem::path file;     ///< ok: the file in new/
};

/// Writes `bytes` as a new message into the Maildir at `maildir` (the folder
/// holding tmp/, new/, cur/), creating the folder, its missing parents and
/// tmp/ new/ cur/ as needed (mode 0700; each new directory's parent is synced).
/// The file gets mode 0600. Nothing is left in tmp/ whatever happens.
MaildirResult deliver_to_maildir(const std::filesystem::path& maildir, std::string_view bytes);

}  // namespace imta::channels::local
