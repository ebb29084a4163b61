// What sendmail does to a message before it is queued; see message_prep.hpp.
#include "tools/sendmail/message_prep.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace imta::tools::sendmail {

namespace {

/// A field name: printable ASCII except the colon (RFC 5322 §3.6.8).
bool is_field_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return c > 32 && c < 127 && c != ':'; });
}

/// The name of the field `line` starts, or "" when it starts none.
std::string_view field_name_of(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return {};
  // "Name : value" (obsolete syntax, blanks before the colon) still counts.
  std::string_view name = line.substr(0, colon);
  while (!name.empty() && core::is_blank(name.back())) name.remove_suffix(1);
  return is_field_name(name) ? name : std::string_view();
}

bool is_recipient_field(std::string_view name, bool resent) {
  if (resent) return core::iequals(name, "Resent-To") || core::iequals(name, "Resent-Cc") ||
                     core::iequals(name, "Resent-Bcc");
  return core::iequals(name, "To") || core::iequals(name, "Cc") || core::iequals(name, "Bcc");
}

/// Characters a display name may hold without quotes: atext and blanks.
bool is_atext_or_blank(char c) {
  if (c == ' ' || c == '\t') return true;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  if (static_cast<unsigned char>(c) >= 0x80) return true;  // UTF-8 (RFC 6532)
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

/// One element of an address list (a mailbox, group members already split
/// off) reduced to its addr-spec.
std::string addr_spec_of(std::string_view element) {
  // <addr> wins over everything around it (the display name).
  std::string out;
  bool quoted = false, in_angle = false, found_angle = false;
  int comment = 0;
  std::string plain, angle;
  for (std::size_t i = 0; i < element.size(); ++i) {
    char c = element[i];
    if (quoted) {
      (in_angle ? angle : plain) += c;
      if (c == '\\' && i + 1 < element.size()) (in_angle ? angle : plain) += element[++i];
      else if (c == '"') quoted = false;
      continue;
    }
    if (comment > 0) {
      if (c == '\\') ++i;
      else if (c == '(') ++comment;
      else if (c == ')') --comment;
      continue;
    }
    if (c == '(') {
      ++comment;
    } else if (c == '"') {
      quoted = true;
      (in_angle ? angle : plain) += c;
    } else if (c == '<' && !in_angle) {
      in_angle = true;
      found_angle = true;
      angle.clear();
    } else if (c == '>' && in_angle) {
      in_angle = false;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      continue;  // folding and blanks between tokens
    } else {
      (in_angle ? angle : plain) += c;
    }
  }
  out = found_angle ? angle : plain;
  // An obsolete source route: <@a,@b:user@c>.
  if (!out.empty() && out.front() == '@') {
    auto colon = out.find(':');
    out = colon == std::string::npos ? std::string() : out.substr(colon + 1);
  }
  return out;
}

}  // namespace

std::string_view cut_at_lone_dot(std::string_view input) {
  std::size_t pos = 0;
  while (pos < input.size()) {
    auto eol = input.find('\n', pos);
    std::string_view line = input.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line == "." || line == ".\r") return input.substr(0, pos);
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return input;
}

std::string_view skip_mbox_from_line(std::string_view input) {
  if (!input.starts_with("From ")) return input;
  auto eol = input.find('\n');
  return eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
}

SplitMessage split_message(std::string_view message) {
  SplitMessage out;
  std::size_t pos = 0;
  while (pos < message.size()) {
    auto eol = message.find("\r\n", pos);
    std::size_t end = eol == std::string_view::npos ? message.size() : eol + 2;
    std::string_view line = message.substr(pos, end - pos);
    std::string_view content = line.substr(0, eol == std::string_view::npos ? line.size() : line.size() - 2);
    if (content.empty()) {  // the empty line that ends the header
      pos = end;
      break;
    }
    if ((content.front() == ' ' || content.front() == '\t') && !out.fields.empty()) {
      out.fields.back().text.append(line);  // a folded line of the field above
    } else if (auto name = field_name_of(content); !name.empty()) {
      out.fields.push_back({std::string(name), std::string(line)});
    } else {
      break;  // not a header line: the body starts here, without the empty line
    }
    if (eol == std::string_view::npos) {  // the last field had no line end
      out.fields.back().text.append("\r\n");
      pos = message.size();
      break;
    }
    pos = end;
  }
  out.body = std::string(message.substr(std::min(pos, message.size())));
  return out;
}

std::string join_message(const SplitMessage& message) {
  std::string out;
  std::size_t size = message.body.size() + 2;
  for (const auto& f : message.fields) size += f.text.size();
  out.reserve(size);
  for (const auto& f : message.fields) out += f.text;
  out += "\r\n";
  out += message.body;
  return out;
}

bool has_field(const SplitMessage& message, std::string_view name) {
  return std::any_of(message.fields.begin(), message.fields.end(),
                     [&](const HeaderField& f) { return core::iequals(f.name, name); });
}

std::string field_value(const HeaderField& field) {
  std::string_view text = field.text;
  auto colon = text.find(':');
  text = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  std::string out;
  out.reserve(text.size());
  for (char c : text)
    if (c != '\r' && c != '\n') out += c;  // unfold: CRLF before a blank goes
  return std::string(core::trim(out));
}

std::vector<std::string> parse_address_list(std::string_view list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  bool quoted = false, in_angle = false;
  int comment = 0;
  auto take = [&](std::size_t end) {
    std::string_view element = list.substr(start, end - start);
    start = end + 1;
    auto spec = addr_spec_of(element);
    if (!spec.empty()) out.push_back(std::move(spec));
  };
  for (std::size_t i = 0; i < list.size(); ++i) {
    char c = list[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
      continue;
    }
    if (comment > 0) {
      if (c == '\\') ++i;
      else if (c == '(') ++comment;
      else if (c == ')') --comment;
      continue;
    }
    switch (c) {
      case '"': quoted = true; break;
      case '(': ++comment; break;
      case '<': in_angle = true; break;
      case '>': in_angle = false; break;
      case ',':
        if (!in_angle) take(i);
        break;
      case ':':
        // "group-name:" starts a group; what came before is its name (dropped).
        if (!in_angle) start = i + 1;
        break;
      case ';':
        if (!in_angle) take(i);  // the group's last member
        break;
      default: break;
    }
  }
  if (start < list.size()) take(list.size());
  return out;
}

std::vector<std::string> header_recipients(const SplitMessage& message) {
  const bool resent = std::any_of(message.fields.begin(), message.fields.end(),
                                  [](const HeaderField& f) { return is_recipient_field(f.name, true); });
  std::vector<std::string> out;
  for (const auto& f : message.fields) {
    if (!is_recipient_field(f.name, resent)) continue;
    for (auto& a : parse_address_list(field_value(f))) {
      bool seen = std::any_of(out.begin(), out.end(), [&](const std::string& b) { return core::iequals(a, b); });
      if (!seen) out.push_back(std::move(a));
    }
  }
  return out;
}

void remove_bcc(SplitMessage& message) {
  std::erase_if(message.fields, [](const HeaderField& f) {
    return core::iequals(f.name, "Bcc") || core::iequals(f.name, "Resent-Bcc");
  });
}

std::string qualify(std::string_view address, std::string_view domain) {
  std::string_view a = core::trim(address);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = core::trim(a.substr(1, a.size() - 2));
  if (a.empty()) return {};
  if (a.find('@') != std::string_view::npos || domain.empty()) return std::string(a);
  return std::string(a) + "@" + std::string(domain);
}

std::string mailbox_text(std::string_view name, std::string_view address) {
  std::string_view n = core::trim(name);
  if (n.empty()) return std::string(address);
  std::string shown;
  if (std::all_of(n.begin(), n.end(), is_atext_or_blank)) {
    shown = std::string(n);
  } else {
    shown = "\"";
    for (char c : n) {
      if (c == '\r' || c == '\n') continue;
      if (c == '"' || c == '\\') shown += '\\';
      shown += c;
    }
    shown += "\"";
  }
  return shown + " <" + std::string(address) + ">";
}

void add_missing_fields(SplitMessage& message, const MissingFields& fields) {
  if (!has_field(message, "From")) message.fields.push_back({"From", "From: " + fields.from + "\r\n"});
  if (!has_field(message, "Date")) message.fields.push_back({"Date", "Date: " + fields.date + "\r\n"});
  if (!has_field(message, "Message-ID"))
    message.fields.push_back({"Message-ID", "Message-ID: " + fields.message_id + "\r\n"});
}

std::string local_received_field(const LocalReceived& r) {
  std::string h = "Received: (from " + r.user + ", uid " + std::to_string(r.uid) + ")\r\n";
  h += "\tby " + r.by_host + " (imta sendmail) id " + r.id;
  if (!r.for_address.empty()) h += "\r\n\tfor <" + r.for_address + ">";
  h += ";\r\n\t" + r.date + "\r\n";
  return h;
}

std::string authentication_warning_field(std::string_view host, std::string_view user,
                                         std::string_view asked_sender) {
  return "X-Authentication-Warning: " + std::string(host) + ": " + std::string(user) + " set sender to " +
         (asked_sender.empty() ? std::string("<>") : std::string(asked_sender)) + " using -f\r\n";
}

}  // namespace imta::tools::sendmail
