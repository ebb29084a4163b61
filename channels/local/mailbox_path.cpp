// Mailbox paths from MAILDIR_TEMPLATE; see mailbox_path.hpp.
#include "channels/local/mailbox_path.hpp"

#include "core/text.hpp"

namespace imta::channels::local {

namespace {

bool safe_component(std::string_view s) {
  return !s.empty() && s != "." && s != ".." && s.find('\0') == std::string_view::npos;
}

/// A `/` (allowed in a local part) cannot be in a folder name: written as
/// \057, as Maildir names write it (a local part never holds a backslash).
std::string component(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '/') out += "\\057";
    else out += c;
  }
  return out;
}

}  // namespace

MailboxOwner mailbox_owner(std::string_view user_name, std::string_view default_domain) {
  auto at = user_name.rfind('@');
  if (at == std::string_view::npos) return {core::to_lower(user_name), core::to_lower(default_domain)};
  return {core::to_lower(user_name.substr(0, at)), core::to_lower(user_name.substr(at + 1))};
}

std::string check_maildir_template(std::string_view tmpl) {
  if (tmpl.empty()) return "empty template";
  bool has_user = false;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '$') continue;
    if (i + 1 == tmpl.size()) return "a $ at the end (write $$ for a dollar sign)";
    char c = tmpl[++i];
    if (c == 'U') has_user = true;
    else if (c != 'D' && c != 'R' && c != '$')
      return std::string("unknown substitution $") + c + " (known: $U user, $D domain, $R root, $$ dollar)";
  }
  if (!has_user) return "no $U: every user would share one mailbox";
  return "";
}

std::optional<std::filesystem::path> maildir_path(std::string_view tmpl, const std::filesystem::path& root,
                                                  const MailboxOwner& owner, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<std::filesystem::path> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  if (auto problem = check_maildir_template(tmpl); !problem.empty()) return fail("MAILDIR_TEMPLATE: " + problem);
  if (!safe_component(owner.user)) return fail("user name \"" + owner.user + "\" cannot name a folder");
  if (tmpl.find("$D") != std::string_view::npos && !safe_component(owner.domain))
    return fail("domain \"" + owner.domain + "\" cannot name a folder");
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '$') {
      out += tmpl[i];
      continue;
    }
    switch (tmpl[++i]) {
      case 'U': out += component(owner.user); break;
      case 'D': out += component(owner.domain); break;
      case 'R': out += root.string(); break;
      default: out += '$'; break;
    }
  }
  std::filesystem::path p(out);
  if (p.is_relative()) p = root / p;
  return p.lexically_normal();
}

}  // namespace imta::channels::local
