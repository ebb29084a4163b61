#include "core/dns/servers.hpp"

#include <charconv>
#include <string>

#include <asio/ip/address.hpp>

namespace imta::core::dns {

namespace {

std::optional<asio::ip::address> parse_address(std::string_view text) {
  std::error_code ec;
  auto address = asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return address;
}

std::optional<unsigned short> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<unsigned short>(value);
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

std::optional<asio::ip::udp::endpoint> parse_server(std::string_view text) {
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {  // [ipv6] or [ipv6]:port
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
    if (host.find(':') == std::string_view::npos) return std::nullopt;  // brackets are for IPv6
  } else if (text.find(':') != std::string_view::npos && text.find(':') == text.rfind(':')) {
    // one colon: IPv4 with a port (a bare IPv6 address has at least two)
    auto colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  }
  auto address = parse_address(host);
  if (!address) return std::nullopt;
  unsigned short number = 53;
  if (!port.empty()) {
    auto p = parse_port(port);
    if (!p) return std::nullopt;
    number = *p;
  }
  return asio::ip::udp::endpoint(*address, number);
}

std::optional<std::vector<asio::ip::udp::endpoint>> parse_server_list(std::string_view text) {
  std::vector<asio::ip::udp::endpoint> servers;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ',' || is_blank(text[i])) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && text[end] != ',' && !is_blank(text[end])) ++end;
    auto server = parse_server(text.substr(i, end - i));
    if (!server) return std::nullopt;
    servers.push_back(*server);
    i = end;
  }
  return servers;
}

std::vector<asio::ip::udp::endpoint> parse_resolv_conf(std::string_view text) {
  std::vector<asio::ip::udp::endpoint> servers;
  while (!text.empty() && servers.size() < resolv_conf_max_servers) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (auto comment = line.find_first_of("#;"); comment != std::string_view::npos)
      line = line.substr(0, comment);
    // split into words
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < line.size()) {
      if (is_blank(line[i])) {
        ++i;
        continue;
      }
      std::size_t end = i;
      while (end < line.size() && !is_blank(line[end])) ++end;
      words.push_back(line.substr(i, end - i));
      i = end;
    }
    if (words.size() < 2 || words[0] != "nameserver") continue;
    if (auto address = parse_address(words[1])) servers.emplace_back(*address, 53);
  }
  return servers;
}

asio::ip::udp::endpoint default_server() {
  return asio::ip::udp::endpoint(asio::ip::address_v4::loopback(), 53);
}

}  // namespace imta::core::dns
