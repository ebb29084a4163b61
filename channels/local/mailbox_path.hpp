// Where a local user's Maildir is: the MAILDIR_TEMPLATE option of the local
// channel's option file (l_option), by default
//   $R/mailboxes/$D/$U/Maildir
// with $R the instance root, $D the user's domain, $U the user's local part
// (both lower case) and $$ a dollar sign. A relative result is taken
// relative to the instance root. A `/` in a local part (RFC 5322 allows
// it) is written `\057`, as Maildir file names write it. Pure functions.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace imta::channels::local {

inline constexpr std::string_view default_maildir_template = "$R/mailboxes/$D/$U/Maildir";

/// Whose mailbox: a users database name split into local part and domain.
struct MailboxOwner {
  std::string user;    ///< local part, lower case
  std::string domain;  ///< lower case
};

/// `alice@example.org` -> {alice, example.org}; a bare name (a user of every
/// local domain, see core/users_db.hpp) gets `default_domain`, so that all
/// its addresses share one mailbox.
MailboxOwner mailbox_owner(std::string_view user_name, std::string_view default_domain);

/// "" when `tmpl` is a usable template, else what is wrong (an unknown
/// `$x`, a `$` at the end, empty, no $U).
std::string check_maildir_template(std::string_view tmpl);

/// The Maildir folder of `owner`; nullopt with `error` set for a bad
/// template or a user or domain that cannot be a single path component
/// (empty, ".", "..", holding a NUL).
std::optional<std::filesystem::path> maildir_path(std::string_view tmpl, const std::filesystem::path& root,
                                                  const MailboxOwner& owner, std::string* error = nullptr);

}  // namespace imta::channels::local
