// How whoever enqueues tells the job controller: one datagram per commit on
// the Unix socket run/job_controller.sock, one line per file:
//   <channel> TAB <path> LF
// Fire and forget: never blocks, never fails the sender. If the controller is
// not running (or the datagram is lost), its periodic rescan finds the file.
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "queue/store.hpp"

namespace imta::queue {

/// The socket's path inside an instance's run/ directory.
std::filesystem::path notify_socket_path(const std::filesystem::path& run_dir);

/// The sending side (SMTP server, Submitter, imta commands). Thread safe.
class EnqueueNotifier {
 public:
  explicit EnqueueNotifier(std::filesystem::path socket_path);
  ~EnqueueNotifier();
  EnqueueNotifier(const EnqueueNotifier&) = delete;
  EnqueueNotifier& operator=(const EnqueueNotifier&) = delete;
  /// Files just committed (one datagram; more only for very many files).
  /// True when the datagram went out (false: nobody listens, the
  /// controller's queue is full, ...); callers may ignore it.
  bool enqueued(const std::vector<QueuePath>& files);
  /// The same in two steps, for many commits in a row: add() collects
  /// files (any thread), flush() sends what was collected (one datagram;
  /// more only for very many files). The SMTP server adds each commit's
  /// files and flushes once per group-commit batch. Files the controller's
  /// full queue refused stay collected for the next flush().
  void add(std::vector<QueuePath> files);
  bool flush();
  /// Asks the controller to run `channel` now, ignoring nothing (`imta
  /// submit CHANNEL`, ETRN; empty = every channel): the line "submit <channel>".
  /// True when the datagram went out.
  bool submit(const std::string& channel);

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::mutex pending_mutex_;
  std::vector<QueuePath> pending_;
};

/// One parsed line of a datagram.
struct Notification {
  enum class Kind { enqueued, submit } kind = Kind::enqueued;
  std::string channel;
  std::filesystem::path path;  ///< enqueued only
};
/// Parses a datagram (pure); malformed lines are skipped. A line with a TAB
/// is an enqueued file; "submit" or "submit <channel>" is a submit request.
std::vector<Notification> parse_notifications(std::string_view datagram);

}  // namespace imta::queue
