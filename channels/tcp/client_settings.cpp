// The SMTP client's settings; see client_settings.hpp.
#include "channels/tcp/client_settings.hpp"

#include <unistd.h>

#include "config/log_options.hpp"
#include "core/text.hpp"

namespace imta::channels::tcp {

namespace {

std::string keyword_argument(const config::Channel& ch, std::string_view name) {
  const auto* k = ch.keyword(name);
  return k && !k->args.empty() ? k->args.front() : std::string();
}

/// The client side of a tls keyword family: the *client form wins, then the
/// two-way form (maytls, musttls, notls); with neither, STARTTLS is used when
/// offered (maytlsclient is the client's default).
ClientTls tls_of(const config::Channel& ch) {
  const auto* k = ch.family("tlsclient");
  if (!k) k = ch.family("tls");
  if (!k) return ClientTls::may;
  if (k->name.starts_with("may")) return ClientTls::may;
  if (k->name.starts_with("must")) return ClientTls::must;
  return ClientTls::no;
}

/// nosaslclient, or a two-way nosasl without a client form, turns AUTH off.
bool sasl_allowed(const config::Channel& ch) {
  if (const auto* k = ch.family("saslclient")) return k->name == "maysaslclient";
  const auto* k = ch.family("sasl");
  return !k || k->name != "nosasl";
}

std::string local_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

std::chrono::seconds seconds_option(const config::Options& o, std::string_view name) {
  return std::chrono::seconds(o.integer(name));
}

}  // namespace

ClientSettings client_settings(const config::Snapshot& snapshot, std::string_view channel) {
  ClientSettings s;
  s.channel = std::string(channel);
  s.logging = config::channel_logs(snapshot.imta_cnf, channel);
  s.log_connection = static_cast<int>(snapshot.options.integer("LOG_CONNECTION"));
  if (!snapshot.imta_cnf.channels.empty() && !snapshot.imta_cnf.channels.front().hosts.empty())
    s.helo_name = snapshot.imta_cnf.channels.front().official_host();
  if (s.helo_name.empty()) s.helo_name = local_host_name();

  if (const auto* ch = snapshot.imta_cnf.find_channel(channel)) {
    s.daemon = keyword_argument(*ch, "daemon");
    if (auto port = core::parse_integer(keyword_argument(*ch, "port")); port && *port > 0 && *port < 65536)
      s.port = static_cast<std::uint16_t>(*port);
    if (const auto* mx = ch->family("mx")) {
      if (mx->name == "randommx") s.mx = ClientMx::randommx;
      else if (mx->name == "nomx") s.mx = ClientMx::nomx;
    }
    s.tls = tls_of(*ch);
    s.interface_address = keyword_argument(*ch, "interfaceaddress");
    s.auth = sasl_allowed(*ch);
  }

  config::Options defaults{config::channel_option_registry()};
  auto it = snapshot.channel_options.find(std::string(channel));
  const config::Options& o = it != snapshot.channel_options.end() ? it->second : defaults;
  s.auth_username = o.text("AUTH_USERNAME");
  s.auth_password = o.text("AUTH_PASSWORD");
  s.auth = s.auth && !s.auth_username.empty();
  s.timeouts.connect = seconds_option(o, "CLIENT_TIMEOUT_CONNECT");
  s.timeouts.greeting = seconds_option(o, "CLIENT_TIMEOUT_GREETING");
  s.timeouts.mail = seconds_option(o, "CLIENT_TIMEOUT_MAIL");
  s.timeouts.rcpt = seconds_option(o, "CLIENT_TIMEOUT_RCPT");
  s.timeouts.data_init = seconds_option(o, "CLIENT_TIMEOUT_DATA_INIT");
  s.timeouts.data_block = seconds_option(o, "CLIENT_TIMEOUT_DATA_BLOCK");
  s.timeouts.data_term = seconds_option(o, "CLIENT_TIMEOUT_DATA_TERM");
  s.idle_timeout = seconds_option(o, "CLIENT_IDLE_TIMEOUT");
  s.messages_per_connection = static_cast<unsigned>(o.integer("CLIENT_MESSAGES_PER_CONNECTION"));
  s.log_banner = o.integer("LOG_BANNER") != 0;
  s.log_transport = o.integer("LOG_TRANSPORTINFO") != 0;
  return s;
}

}  // namespace imta::channels::tcp
