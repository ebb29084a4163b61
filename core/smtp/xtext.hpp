// xtext (RFC 3461 §4): the encoding of DSN ENVID and ORCPT values and of the
// MAIL AUTH= parameter (RFC 4954 §5). Printable ASCII from '!' to '~' stands
// for itself, except '+' and '=' which, like every other octet, are written
// "+XX" with two upper-case hexadecimal digits.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imta::core::smtp {

/// Encodes any octets as xtext (upper-case hex).
std::string xtext_encode(std::string_view raw);

/// Decodes xtext; nullopt when `text` is not xtext (a character outside
/// '!'..'~', a bare '=', or '+' not followed by two hex digits). Lower-case
/// hex digits are accepted: RFC 3461 asks for upper case, but refusing a DSN
/// request over the case of a digit helps nobody.
std::optional<std::string> xtext_decode(std::string_view text);

/// True when `text` is valid xtext.
bool is_xtext(std::string_view text);

}  // namespace imta::core::smtp
