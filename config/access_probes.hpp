// The probe strings the MTA hands to the access mapping tables, built exactly
// as Sun's MTA builds them so that tables written for it keep working. Each
// field is inserted as is: a `|` inside an address is not escaped (Sun does
// not escape either). Which table is consulted when is in mappings(5).
#pragma once

#include <string>
#include <string_view>

namespace imta::config {

inline constexpr std::string_view kPortAccess = "PORT_ACCESS";
inline constexpr std::string_view kFromAccess = "FROM_ACCESS";
inline constexpr std::string_view kOrigSendAccess = "ORIG_SEND_ACCESS";
inline constexpr std::string_view kSendAccess = "SEND_ACCESS";
inline constexpr std::string_view kOrigMailAccess = "ORIG_MAIL_ACCESS";
inline constexpr std::string_view kMailAccess = "MAIL_ACCESS";
inline constexpr std::string_view kConversions = "CONVERSIONS";

/// PORT_ACCESS, at connect: `TCP|server-ip|server-port|client-ip|client-port`.
std::string port_access_probe(std::string_view server_ip, unsigned server_port,
                              std::string_view client_ip, unsigned client_port);

/// The app-info field: `SMTP/helo-name` (protocol `LMTP` for LMTP sessions).
std::string app_info(std::string_view protocol, std::string_view helo_name);

/// FROM_ACCESS, at MAIL FROM (10 fields, the port probe counting as 5):
/// `port-probe|app-info|submit-type|src-channel|from-address|auth-from`.
/// submit-type is MAIL, SEND, SAML or SOML; from is empty for `<>`, auth-from
/// empty without SMTP AUTH.
std::string from_access_probe(std::string_view port_probe, std::string_view app_info,
                              std::string_view submit_type, std::string_view src_channel,
                              std::string_view from, std::string_view auth_from);

/// ORIG_SEND_ACCESS (before alias expansion) and SEND_ACCESS (after), at RCPT
/// TO: `src-channel|from-address|dst-channel|to-address`.
std::string send_access_probe(std::string_view src_channel, std::string_view from,
                              std::string_view dst_channel, std::string_view to);

/// ORIG_MAIL_ACCESS and MAIL_ACCESS, at RCPT TO (11 fields):
/// `port-probe|app-info|submit-type|src-channel|from|dst-channel|to`.
std::string mail_access_probe(std::string_view port_probe, std::string_view app_info,
                              std::string_view submit_type, std::string_view src_channel,
                              std::string_view from, std::string_view dst_channel,
                              std::string_view to);

/// CONVERSIONS, at enqueue: `IN-CHAN=in;OUT-CHAN=out;CONVERT`.
std::string conversions_probe(std::string_view in_channel, std::string_view out_channel);

}  // namespace imta::config
