// Enqueue notifications to the job controller; see notify.hpp.
//
// The sender keeps one unbound, non-blocking datagram socket and names the
// controller's socket on every send (sendto), so a controller that restarts
// and binds its socket anew is reached without the sender noticing. A full
// receive queue (EAGAIN), a missing socket (ENOENT) or nobody listening
// (ECONNREFUSED) all mean the same thing to enqueued() and submit(): the
// datagram is dropped and the controller's periodic rescan finds the file
// instead. flush() keeps what a full queue refused for its next call.
#include "queue/notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <iterator>

namespace imta::queue {

namespace {

/// A datagram stays well below the default socket buffers (net.core.
/// wmem_default is ~208 KiB); a commit of very many files is split.
constexpr std::size_t kMaxDatagram = 16 * 1024;
/// Most files a notifier keeps for a later flush after the controller's
/// queue refused them.
constexpr std::size_t kMaxPending = 10'000;

bool fill_address(const std::filesystem::path& path, sockaddr_un& address, socklen_t& length) {
  const std::string& text = path.native();
  std::memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  if (text.empty() || text.size() >= sizeof address.sun_path) return false;  // cannot be named
  std::memcpy(address.sun_path, text.data(), text.size());
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size() + 1);
  return true;
}

}  // namespace

std::filesystem::path notify_socket_path(const std::filesystem::path& run_dir) {
  return run_dir / "job_controller.sock";
}

EnqueueNotifier::EnqueueNotifier(std::filesystem::path socket_path) : path_(std::move(socket_path)) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);  // -1: every send is a no-op
}

EnqueueNotifier::~EnqueueNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

enum class Sent { ok, full, failed };

Sent send_datagram(int fd, const std::filesystem::path& path, std::string_view bytes) {
  if (fd < 0 || bytes.empty()) return Sent::failed;
  sockaddr_un address{};
  socklen_t length = 0;
  if (!fill_address(path, address, length)) return Sent::failed;
  for (;;) {
    ssize_t n = ::sendto(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                         reinterpret_cast<const sockaddr*>(&address), length);
    if (n >= 0) return Sent::ok;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? Sent::full : Sent::failed;
  }
}

/// Sends `files` in datagrams of at most kMaxDatagram. Stops at the first
/// datagram that does not go out: once the controller's queue is full the
/// rest would be refused too (one failed send per call, not one per
/// datagram of a backlog). `sent` is how many files, from the front, went
/// out; the result is how the last attempt ended.
Sent send_files(int fd, const std::filesystem::path& path, const std::vector<QueuePath>& files, std::size_t& sent) {
  std::string datagram;
  sent = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& f = files[i];
    const std::size_t line_size = f.channel.size() + 1 + f.path.size() + 1;  // channel TAB path LF
    if (!datagram.empty() && datagram.size() + line_size > kMaxDatagram) {
      if (auto result = send_datagram(fd, path, datagram); result != Sent::ok) return result;
      sent = i;
      datagram.clear();
    }
    datagram += f.channel;
    datagram += '\t';
    datagram += f.path;
    datagram += '\n';
  }
  if (datagram.empty()) return Sent::ok;
  auto result = send_datagram(fd, path, datagram);
  if (result == Sent::ok) sent = files.size();
  return result;
}

}  // namespace

bool EnqueueNotifier::enqueued(const std::vector<QueuePath>& files) {
  std::size_t sent = 0;
  return !files.empty() && send_files(fd_, path_, files, sent) == Sent::ok;
}

void EnqueueNotifier::add(std::vector<QueuePath> files) {
  std::lock_guard lock(pending_mutex_);
  if (pending_.empty()) pending_.swap(files);
  else pending_.insert(pending_.end(), std::make_move_iterator(files.begin()), std::make_move_iterator(files.end()));
}

bool EnqueueNotifier::flush() {
  std::vector<QueuePath> files;
  {
    std::lock_guard lock(pending_mutex_);
    files.swap(pending_);
  }
  if (files.empty()) return true;
  // A full queue (the controller is busy) refuses a datagram: its files and
  // the rest go out with the next flush instead of waiting for the periodic
  // rescan. A controller that is not there (or never drains) does not make
  // them pile up: past kMaxPending they are dropped, and the rescan finds them.
  std::size_t sent = 0;
  const Sent result = send_files(fd_, path_, files, sent);
  if (result == Sent::full) {
    files.erase(files.begin(), files.begin() + static_cast<std::ptrdiff_t>(sent));
    std::lock_guard lock(pending_mutex_);
    if (pending_.size() + files.size() <= kMaxPending) {
      std::move(pending_.begin(), pending_.end(), std::back_inserter(files));
      pending_.swap(files);  // the refused files first, then what came since
    }
  }
  return result == Sent::ok;
}

bool EnqueueNotifier::submit(const std::string& channel) {
  std::string line = channel.empty() ? std::string("submit\n") : "submit " + channel + '\n';
  return send_datagram(fd_, path_, line) == Sent::ok;
}

std::vector<Notification> parse_notifications(std::string_view datagram) {
  std::vector<Notification> out;
  while (!datagram.empty()) {
    auto end = datagram.find('\n');
    std::string_view line = datagram.substr(0, end);
    datagram = end == std::string_view::npos ? std::string_view() : datagram.substr(end + 1);
    if (line.empty() || line.find('\0') != std::string_view::npos) continue;
    if (auto tab = line.find('\t'); tab != std::string_view::npos) {
      std::string_view channel = line.substr(0, tab);
      std::string_view path = line.substr(tab + 1);
      if (channel.empty() || path.empty() || path.find('\t') != std::string_view::npos ||
          channel.find(' ') != std::string_view::npos)
        continue;
      Notification n;
      n.kind = Notification::Kind::enqueued;
      n.channel = std::string(channel);
      n.path = std::filesystem::path(std::string(path));
      out.push_back(std::move(n));
      continue;
    }
    constexpr std::string_view kSubmit = "submit";
    if (!line.starts_with(kSubmit)) continue;
    std::string_view rest = line.substr(kSubmit.size());
    if (!rest.empty() && rest.front() != ' ') continue;  // "submitx": not ours
    if (!rest.empty()) rest.remove_prefix(1);
    if (rest.find(' ') != std::string_view::npos) continue;
    Notification n;
    n.kind = Notification::Kind::submit;
    n.channel = std::string(rest);
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace imta::queue
