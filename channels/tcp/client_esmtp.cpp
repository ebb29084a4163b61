// The SMTP client's ESMTP decisions; see client_esmtp.hpp.
#include "channels/tcp/client_esmtp.hpp"

#include <algorithm>

#include "core/smtp/xtext.hpp"
#include "core/text.hpp"

namespace imta::channels::tcp {

namespace {

bool has_non_ascii(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

}  // namespace

bool ServerExtensions::offers_auth(std::string_view mechanism) const {
  return std::any_of(auth.begin(), auth.end(), [&](const std::string& m) { return core::iequals(m, mechanism); });
}

ServerExtensions parse_ehlo(const core::smtp::Reply& reply) {
  ServerExtensions ext;
  ext.esmtp = true;
  auto lines = core::smtp::reply_lines(reply);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto words = core::split_words(lines[i]);
    if (words.empty()) continue;
    auto key = core::to_upper(words[0]);
    if (key == "PIPELINING") {
      ext.pipelining = true;
    } else if (key == "SIZE") {
      ext.size = true;
      if (words.size() > 1)
        if (auto n = core::parse_integer(words[1]); n && *n > 0) ext.size_limit = static_cast<std::uint64_t>(*n);
    } else if (key == "8BITMIME") {
      ext.eightbitmime = true;
    } else if (key == "DSN") {
      ext.dsn = true;
    } else if (key == "SMTPUTF8") {
      ext.smtputf8 = true;
    } else if (key == "STARTTLS") {
      ext.starttls = true;
    } else if (key == "ENHANCEDSTATUSCODES") {
      ext.enhanced_status_codes = true;
    } else if (key == "CHUNKING") {
      ext.chunking = true;
    } else if (key == "AUTH" || key.starts_with("AUTH=")) {
      // "AUTH=LOGIN PLAIN" is the pre-RFC 4954 form some servers still send.
      if (key.size() > 5) ext.auth.push_back(key.substr(5));
      for (std::size_t w = 1; w < words.size(); ++w) ext.auth.push_back(core::to_upper(words[w]));
    }
  }
  return ext;
}

MessageNeeds message_needs(const core::Envelope& envelope, const std::vector<const core::Recipient*>& recipients,
                           std::string_view message) {
  MessageNeeds n;
  n.size = message.size();
  n.eight_bit = has_non_ascii(message);
  n.smtputf8 = has_non_ascii(envelope.from);
  for (const auto* r : recipients) n.smtputf8 = n.smtputf8 || has_non_ascii(r->active);
  if (n.eight_bit) {
    auto end = message.find("\r\n\r\n");
    n.utf8_headers = has_non_ascii(message.substr(0, end == std::string_view::npos ? message.size() : end));
  }
  return n;
}

std::optional<core::smtp::Reply> refuse_for(const MessageNeeds& needs, const ServerExtensions& ext) {
  if (ext.size && ext.size_limit > 0 && needs.size > ext.size_limit)
    return core::smtp::Reply{552, "5.3.4",
                             "message size " + std::to_string(needs.size) + " exceeds the server's limit of " +
                                 std::to_string(ext.size_limit) + " bytes"};
  if (needs.smtputf8 && !ext.smtputf8)
    return core::smtp::Reply{553, "5.6.7", "non-ASCII address and the server does not offer SMTPUTF8"};
  // UTF-8 headers are 8-bit data too; a server offering SMTPUTF8 must also
  // take 8BITMIME (RFC 6531 §3.1), so this one rule covers both.
  if (needs.eight_bit && !ext.eightbitmime)
    return core::smtp::Reply{554, "5.6.3", "8-bit message content and the server does not offer 8BITMIME"};
  return std::nullopt;
}

std::string notify_value(unsigned notify) {
  if (notify & core::notify_never) return "NEVER";
  std::string v;
  auto add = [&](unsigned bit, std::string_view word) {
    if (!(notify & bit)) return;
    if (!v.empty()) v += ',';
    v += word;
  };
  add(core::notify_success, "SUCCESS");
  add(core::notify_failure, "FAILURE");
  add(core::notify_delay, "DELAY");
  return v;
}

std::string mail_command(const core::Envelope& envelope, const MessageNeeds& needs, const ServerExtensions& ext) {
  std::string c = "MAIL FROM:<" + envelope.from + ">";
  if (!ext.esmtp) return c;
  if (ext.size) c += " SIZE=" + std::to_string(needs.size);
  if (needs.eight_bit && ext.eightbitmime) c += " BODY=8BITMIME";
  if ((needs.smtputf8 || needs.utf8_headers) && ext.smtputf8) c += " SMTPUTF8";
  if (ext.dsn) {
    if (envelope.ret == core::Ret::full) c += " RET=FULL";
    else if (envelope.ret == core::Ret::hdrs) c += " RET=HDRS";
    if (!envelope.envid.empty()) c += " ENVID=" + core::smtp::xtext_encode(envelope.envid);
  }
  return c;
}

std::string rcpt_command(const core::Recipient& recipient, const ServerExtensions& ext) {
  std::string c = "RCPT TO:<" + recipient.active + ">";
  if (!ext.esmtp || !ext.dsn) return c;
  if (auto n = notify_value(recipient.notify); !n.empty()) c += " NOTIFY=" + n;
  if (!recipient.orcpt.empty()) {
    // Stored decoded as "type;address"; the wire form is xtext (RFC 3461 §4.2).
    auto semi = recipient.orcpt.find(';');
    if (semi != std::string::npos && semi > 0)
      c += " ORCPT=" + recipient.orcpt.substr(0, semi) + ";" +
           core::smtp::xtext_encode(std::string_view(recipient.orcpt).substr(semi + 1));
  }
  return c;
}

// base64_encode: the SMTP server's (channels/tcp/smtp_auth.hpp).

std::string auth_plain_response(std::string_view user, std::string_view password) {
  std::string raw;
  raw += '\0';
  raw += user;
  raw += '\0';
  raw += password;
  return base64_encode(raw);
}

}  // namespace imta::channels::tcp
