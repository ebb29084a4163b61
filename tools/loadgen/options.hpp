// The two modes of imta-loadgen and their settings, as main.cpp parses them
// from the command line. Each mode lives in its own file (send.cpp,
// sink.cpp); they are the only files of the program that include Asio.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace imta::tools::loadgen {

/// Exit codes (see imta-loadgen(1)).
enum Exit : int { exit_ok = 0, exit_failure = 1, exit_usage = 2 };

struct SendOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 25;
  std::uint64_t messages = 1000;
  unsigned concurrency = 10;       ///< simultaneous SMTP sessions
  unsigned threads = 1;            ///< io_contexts, one thread each
  std::size_t size = 1024;         ///< bytes per message
  unsigned recipients = 1;         ///< per message
  unsigned per_connection = 1;     ///< messages per connection
  bool starttls = false;
  bool pipelining = true;          ///< use PIPELINING when the server offers it
  bool chunking = false;           ///< send with BDAT when the server offers CHUNKING
  /// Message-IDs that start with 16 hex digits spread like a hash, as the
  /// Message-IDs of many different senders are, instead of ones that sort
  /// in sending order (what an index keyed on the Message-ID sees).
  bool random_message_ids = false;
  std::string from = "loadgen@example.test";
  std::string to = "user%d@example.test";  ///< %d = recipient number 1..recipients
  double timeout_seconds = 60;     ///< per read, write, connect or handshake
  std::string ehlo = "loadgen.example.test";
  bool json = false;
  /// --record FILE: each accepted message's Message-ID and the time of its
  /// final 250, written at the end.
  std::optional<std::string> record;
};

struct SinkOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::optional<std::string> store_dir;
  int reply_code = 250;            ///< to every RCPT
  int data_reply_code = 250;       ///< at the end of the data
  std::optional<double> duration_seconds;
  std::optional<std::uint64_t> messages;  ///< stop after this many accepted
  bool starttls = false;
  std::string cert_file, key_file;
  unsigned threads = 1;            ///< io_contexts for sessions, one thread each
  double timeout_seconds = 300;    ///< idle time before the sink drops a client
  std::string hostname = "sink.loadgen.test";  ///< in the greeting and EHLO reply
  bool json = false;
  bool quiet = false;              ///< no rate lines on stderr
  /// --record FILE: each accepted message's Message-ID and the time its
  /// final dot arrived, written when the sink stops.
  std::optional<std::string> record;
};

/// Runs the mode to the end and returns the exit code. Both print their
/// summary on stdout and their trouble on stderr.
int run_send(const SendOptions& options);
int run_sink(const SinkOptions& options);

}  // namespace imta::tools::loadgen
