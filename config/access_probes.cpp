#include "config/access_probes.hpp"

#include <initializer_list>

#include "core/text.hpp"

namespace imta::config {

namespace {

std::string join(std::initializer_list<std::string_view> fields) {
  std::size_t size = fields.size();
  for (auto f : fields) size += f.size();
  std::string out;
  out.reserve(size);
  bool first = true;
  for (auto f : fields) {
    if (!first) out += '|';
    out += f;
    first = false;
  }
  return out;
}

}  // namespace

std::string port_access_probe(std::string_view server_ip, unsigned server_port,
                              std::string_view client_ip, unsigned client_port) {
  std::string sport = std::to_string(server_port), cport = std::to_string(client_port);
  return join({"TCP", server_ip, sport, client_ip, cport});
}

std::string app_info(std::string_view protocol, std::string_view helo_name) {
  return core::concat({protocol, "/", helo_name});
}

std::string from_access_probe(std::string_view port_probe, std::string_view app_info,
                              std::string_view submit_type, std::string_view src_channel,
                              std::string_view from, std::string_view auth_from) {
  return join({port_probe, app_info, submit_type, src_channel, from, auth_from});
}

std::string send_access_probe(std::string_view src_channel, std::string_view from,
                              std::string_view dst_channel, std::string_view to) {
  return join({src_channel, from, dst_channel, to});
}

std::string mail_access_probe(std::string_view port_probe, std::string_view app_info,
                              std::string_view submit_type, std::string_view src_channel,
                              std::string_view from, std::string_view dst_channel,
                              std::string_view to) {
  return join({port_probe, app_info, submit_type, src_channel, from, dst_channel, to});
}

std::string conversions_probe(std::string_view in_channel, std::string_view out_channel) {
  std::string out = "IN-CHAN=";
  out += in_channel;
  out += ";OUT-CHAN=";
  out += out_channel;
  out += ";CONVERT";
  return out;
}

}  // namespace imta::config
