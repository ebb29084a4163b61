// imta-loadgen -- the load generator and sink used by imta's benchmarks.
// This file only reads the command line (Boost.Program_options), checks it,
// and hands over to send.cpp or sink.cpp; it includes no Asio. Usage errors
// exit 2, like every imta command.
#include <algorithm>
#include <boost/program_options.hpp>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "tools/loadgen/options.hpp"

namespace {

namespace po = boost::program_options;
using namespace imta::tools::loadgen;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr const char* synopsis =
    "usage: imta-loadgen send [--host H] [--port P] [--messages N] [--concurrency C] [options]\n"
    "       imta-loadgen sink --port P [--host A] [--store DIR] [--reply-code C] [options]\n"
    "       imta-loadgen --help\n";

po::variables_map parse(const std::vector<std::string>& args, const po::options_description& options) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return vm;
}

template <typename T>
void require_range(const char* name, T value, T low, T high) {
  if (value < low || value > high)
    throw UsageError(std::string("--") + name + " must be between " + std::to_string(low) + " and " +
                     std::to_string(high));
}

void require_reply_code(const char* name, int code) {
  if (code < 200 || code > 599 || code / 100 == 3)
    throw UsageError(std::string("--") + name + " must be a 2xx, 4xx or 5xx code");
}

po::options_description send_description(SendOptions& o) {
  po::options_description d("send options");
  d.add_options()
      ("help,h", "this text")
      ("host", po::value(&o.host)->default_value(o.host), "server to connect to (name or address)")
      ("port", po::value<int>()->default_value(25), "server port")
      ("messages,n", po::value(&o.messages)->default_value(o.messages), "messages to send in total")
      ("concurrency,c", po::value(&o.concurrency)->default_value(o.concurrency), "simultaneous sessions")
      ("threads", po::value(&o.threads)->default_value(o.threads), "threads (one io_context each)")
      ("size,s", po::value(&o.size)->default_value(o.size), "message size in bytes")
      ("recipients,r", po::value(&o.recipients)->default_value(o.recipients), "recipients per message")
      ("per-connection,m", po::value(&o.per_connection)->default_value(o.per_connection),
       "messages per connection")
      ("starttls", po::bool_switch(&o.starttls), "require STARTTLS before MAIL (certificate not verified)")
      ("no-pipelining", "do not use PIPELINING even when offered")
      ("chunking", po::bool_switch(&o.chunking), "send each message with BDAT when the server offers CHUNKING")
      ("random-message-ids", po::bool_switch(&o.random_message_ids),
       "Message-IDs that start with 16 hex digits spread like a hash, not in sending order")
      ("from", po::value(&o.from)->default_value(o.from), "envelope sender (\"\" for <>)")
      ("to", po::value(&o.to)->default_value(o.to), "recipient template; %d becomes 1..recipients")
      ("timeout", po::value(&o.timeout_seconds)->default_value(o.timeout_seconds),
       "seconds allowed for each connect, read, write or TLS handshake")
      ("ehlo", po::value(&o.ehlo)->default_value(o.ehlo), "name sent with EHLO")
      ("json", po::bool_switch(&o.json), "print the summary as one JSON object")
      ("record", po::value<std::string>(), "write each accepted message's Message-ID and time of its 250 to FILE");
  return d;
}

po::options_description sink_description(SinkOptions& o) {
  po::options_description d("sink options");
  d.add_options()
      ("help,h", "this text")
      ("host", po::value(&o.host)->default_value(o.host), "address to listen on")
      ("port", po::value<int>()->required(), "port to listen on (0: any free port)")
      ("store", po::value<std::string>(), "store each accepted message as a file in this directory")
      ("reply-code", po::value(&o.reply_code)->default_value(o.reply_code), "reply to every RCPT")
      ("data-reply-code", po::value(&o.data_reply_code)->default_value(o.data_reply_code),
       "reply at the end of every message's data")
      ("duration", po::value<double>(), "stop after this many seconds")
      ("messages,n", po::value<std::uint64_t>(), "stop after this many accepted messages")
      ("starttls", po::bool_switch(&o.starttls), "offer STARTTLS (needs --cert and --key)")
      ("cert", po::value(&o.cert_file), "PEM certificate chain for STARTTLS")
      ("key", po::value(&o.key_file), "PEM private key for STARTTLS")
      ("threads", po::value(&o.threads)->default_value(o.threads), "session threads (one io_context each)")
      ("timeout", po::value(&o.timeout_seconds)->default_value(o.timeout_seconds),
       "seconds a client may stay silent")
      ("hostname", po::value(&o.hostname)->default_value(o.hostname), "name in the greeting")
      ("json", po::bool_switch(&o.json), "print the summary as one JSON object")
      ("quiet,q", po::bool_switch(&o.quiet), "no rate lines on stderr")
      ("record", po::value<std::string>(), "write each accepted message's Message-ID and arrival time to FILE");
  return d;
}

int send_mode(const std::vector<std::string>& args) {
  SendOptions o;
  po::options_description d = send_description(o);
  po::variables_map vm = parse(args, d);
  if (vm.count("help")) {
    std::cout << synopsis << "\n" << d;
    return exit_ok;
  }
  o.pipelining = vm.count("no-pipelining") == 0;
  if (vm.count("record")) o.record = vm["record"].as<std::string>();
  if (o.record && o.record->empty()) throw UsageError("--record needs a file name");
  require_range("port", vm["port"].as<int>(), 1, 65535);
  o.port = static_cast<std::uint16_t>(vm["port"].as<int>());
  require_range<std::uint64_t>("messages", o.messages, 1, std::numeric_limits<std::uint32_t>::max());
  require_range<unsigned>("concurrency", o.concurrency, 1, 100000);
  require_range<unsigned>("threads", o.threads, 1, 256);
  require_range<std::size_t>("size", o.size, 1, std::size_t{1} << 30);
  require_range<unsigned>("recipients", o.recipients, 1, 10000);
  require_range<unsigned>("per-connection", o.per_connection, 1, 1000000);
  if (!(o.timeout_seconds > 0)) throw UsageError("--timeout must be positive");
  if (o.host.empty() || o.ehlo.empty()) throw UsageError("--host and --ehlo must not be empty");
  return run_send(o);
}

int sink_mode(const std::vector<std::string>& args) {
  SinkOptions o;
  po::options_description d = sink_description(o);
  if (std::find(args.begin(), args.end(), "--help") != args.end() ||
      std::find(args.begin(), args.end(), "-h") != args.end()) {
    std::cout << synopsis << "\n" << d;
    return exit_ok;
  }
  po::variables_map vm = parse(args, d);
  require_range("port", vm["port"].as<int>(), 0, 65535);
  o.port = static_cast<std::uint16_t>(vm["port"].as<int>());
  if (vm.count("store")) o.store_dir = vm["store"].as<std::string>();
  if (vm.count("record")) o.record = vm["record"].as<std::string>();
  if (o.record && o.record->empty()) throw UsageError("--record needs a file name");
  if (vm.count("duration")) o.duration_seconds = vm["duration"].as<double>();
  if (vm.count("messages")) o.messages = vm["messages"].as<std::uint64_t>();
  if (o.duration_seconds && o.messages) throw UsageError("give --duration or --messages, not both");
  if (o.duration_seconds && !(*o.duration_seconds > 0)) throw UsageError("--duration must be positive");
  if (o.messages && *o.messages == 0) throw UsageError("--messages must be at least 1");
  require_reply_code("reply-code", o.reply_code);
  require_reply_code("data-reply-code", o.data_reply_code);
  require_range<unsigned>("threads", o.threads, 1, 256);
  if (!(o.timeout_seconds > 0)) throw UsageError("--timeout must be positive");
  if (o.starttls && (o.cert_file.empty() || o.key_file.empty()))
    throw UsageError("--starttls needs --cert and --key");
  if (!o.starttls && (!o.cert_file.empty() || !o.key_file.empty()))
    throw UsageError("--cert and --key are only used with --starttls");
  return run_sink(o);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << synopsis;
    return exit_usage;
  }
  std::string mode = args.front();
  args.erase(args.begin());
  try {
    if (mode == "send") return send_mode(args);
    if (mode == "sink") return sink_mode(args);
    if (mode == "--help" || mode == "-h" || mode == "help") {
      std::cout << synopsis << "\nSee imta-loadgen(1).\n";
      return exit_ok;
    }
    throw UsageError("unknown mode '" + mode + "' (send or sink)");
  } catch (const UsageError& e) {
    std::cerr << "imta-loadgen: " << e.what() << "\n" << synopsis;
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "imta-loadgen: " << e.what() << "\n";
    return exit_failure;
  }
}
