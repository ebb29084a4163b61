// The job controller process; see job_daemon.hpp.
//
// One thread waits in poll(2) on the control socket and a signalfd, and
// wakes at least once a second (or when the next waiting file falls due) to
// start jobs; a second reads the notification socket; a third rescans the
// queue every SYNCH_TIME seconds (and soon after notifications may have been
// lost); jobs run on threads of their own.
#include "queue/job_daemon.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "config/log_options.hpp"
#include "core/log/async_log.hpp"
#include "core/shared_slot.hpp"
#include "core/text.hpp"
#include "queue/fd.hpp"
#include "queue/job_control.hpp"
#include "queue/job_controller.hpp"
#include "queue/nightly_job.hpp"
#include "queue/notify.hpp"

namespace imta::queue {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Binds a Unix socket of `type` at `path` (a stale one from a crashed
/// controller is removed first), mode 0600.
Fd bind_unix(const std::filesystem::path& path, int type, std::string& error) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string& text = path.native();
  if (text.size() >= sizeof address.sun_path) {
    error = "socket path too long: " + text;
    return {};
  }
  std::memcpy(address.sun_path, text.data(), text.size());
  Fd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = std::string("socket: ") + std::strerror(errno);
    return {};
  }
  ::unlink(text.c_str());
  const mode_t old = ::umask(077);
  const int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  ::umask(old);
  if (rc != 0 || (type == SOCK_STREAM && ::listen(fd.get(), 16) != 0)) {
    error = "cannot bind " + text + ": " + std::strerror(errno);
    return {};
  }
  return fd;
}

/// Answers one control connection (see job_control.hpp). Blocking, with
/// timeouts, on the main thread: requests are rare and short, and the
/// answer is produced a piece at a time.
void serve_control(int listen_fd, JobController& controller) {
  Fd client(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (!client) return;
  timeval timeout{5, 0};
  ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string request;
  char buf[512];
  while (request.find('\n') == std::string::npos && request.size() < 1024) {
    ssize_t n = ::recv(client.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    request.append(buf, static_cast<std::size_t>(n));
  }
  if (auto nl = request.find('\n'); nl != std::string::npos) request.resize(nl);
  answer_control_request(controller, request, [&](std::string_view piece) {
    for (std::size_t done = 0; done < piece.size();) {
      ssize_t n = ::send(client.get(), piece.data() + done, piece.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  });
}

/// The kernel's limit on datagrams waiting in a Unix datagram socket
/// (net.unix.max_dgram_qlen, 10 by default, whatever SO_RCVBUF says): a
/// sender finding that many waiting gets EAGAIN and its notification is lost.
std::size_t max_datagram_queue() {
  std::ifstream in("/proc/sys/net/unix/max_dgram_qlen");
  std::size_t n = 0;
  return in >> n && n > 0 ? n : 10;
}

/// Rescans the queue every SYNCH_TIME seconds until stopped, and sooner when
/// asked (request()): at most every few seconds, and never more than a tenth
/// of the time, so a big queue is not scanned over and over.
class Rescanner {
 public:
  Rescanner(JobController& controller, std::function<int()> period_s,
            std::function<void(const std::string&)> log)
      : controller_(controller), period_s_(std::move(period_s)), log_(std::move(log)), thread_([this] { run(); }) {}
  ~Rescanner() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  /// A scan soon (notifications may have been lost).
  void request() {
    {
      std::lock_guard lock(mutex_);
      requested_ = true;
    }
    wake_.notify_all();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (wake_.wait_for(lock, std::chrono::seconds(std::max(1, period_s_())), [&] { return stop_ || requested_; }) &&
          stop_)
        return;
      if (requested_ && wake_.wait_until(lock, not_before_, [&] { return stop_; })) return;
      const bool early = requested_;
      requested_ = false;
      lock.unlock();
      const auto start = Clock::now();
      std::size_t n = controller_.scan();
      const auto took = Clock::now() - start;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
      if (ms > 1000 || early)
        log_(std::string(early ? "queue rescan (notifications may have been lost): " : "queue rescan: ") +
             std::to_string(n) + " files, " + std::to_string(ms) + " ms");
      lock.lock();
      not_before_ = Clock::now() + std::max<Clock::duration>(std::chrono::seconds(2), 10 * took);
    }
  }
  JobController& controller_;
  std::function<int()> period_s_;
  std::function<void(const std::string&)> log_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool requested_ = false;
  Clock::time_point not_before_{};
  std::thread thread_;  // last: starts when the rest is ready
};

/// Reads the notification socket on a thread of its own, so datagrams never
/// wait behind the main loop (control requests, scheduling) while a burst of
/// enqueues fills the socket's short queue. Everything waiting is read at
/// once and handed over in one call. When the queue may have been full (as
/// many datagrams read in a row as it holds), a sender may have been refused:
/// once the burst is over (200 ms without datagrams) the queue is rescanned.
class NotificationReader {
 public:
  NotificationReader(int fd, JobController& controller, Rescanner& rescanner)
      : fd_(fd), controller_(controller), rescanner_(rescanner), queue_limit_(max_datagram_queue()),
        thread_([this] { run(); }) {}
  ~NotificationReader() {
    stop_ = true;
    thread_.join();
  }

 private:
  void run() {
    std::string buffer(64 * 1024, '\0');
    std::vector<Notification> notes;
    bool maybe_lost = false;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, 200);
      if (ready <= 0) {
        // 200 ms without a datagram: the burst is over.
        if (maybe_lost) {
          maybe_lost = false;
          rescanner_.request();
        }
        continue;
      }
      notes.clear();
      std::size_t in_a_row = 0;
      for (;;) {
        ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        ++in_a_row;
        auto parsed = parse_notifications(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        notes.insert(notes.end(), std::make_move_iterator(parsed.begin()), std::make_move_iterator(parsed.end()));
        // Hand over in slices, so jobs start while a long backlog is read.
        if (notes.size() >= 4096) {
          controller_.enqueued(notes);
          notes.clear();
        }
      }
      if (!notes.empty()) controller_.enqueued(notes);
      if (in_a_row >= queue_limit_) maybe_lost = true;
    }
  }
  int fd_;
  JobController& controller_;
  Rescanner& rescanner_;
  std::size_t queue_limit_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts when the rest is ready
};

}  // namespace

int run_job_daemon(const JobDaemonOptions& options) {
  auto log = [&](const std::string& line) {
    if (options.log) options.log("job_controller: " + line);
  };
  // Signals are read from a signalfd by the main loop: blocked here, before
  // any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  Fd signal_fd(::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));

  const core::Instance& instance = options.instance;
  core::SharedSlot<const config::Snapshot> current;
  try {
    current.store(std::make_shared<const config::Snapshot>(config::load_image(instance.image_path())));
  } catch (const std::exception& e) {
    log(e.what());
    return 78;  // EX_CONFIG
  }
  StoreOptions store_options;
  store_options.root = instance.queue_dir();
  store_options.subdirs = [&current](std::string_view channel) { return config::channel_subdirs(current.load()->imta_cnf, channel); };
  // QUEUE_RECYCLE: delivered files go to queue/.recycle for the SMTP server
  // to reuse (read at start).
  store_options.recycle = current.load()->options.integer("QUEUE_RECYCLE") != 0;
  Store store(std::move(store_options));
  core::log::AsyncMailLog mail_log(config::mail_log_file_options(instance, *current.load()));

  std::string error;
  const auto notify_path = notify_socket_path(instance.run_dir());
  const auto control_path = control_socket_path(instance.run_dir());
  Fd notify_fd = bind_unix(notify_path, SOCK_DGRAM, error);
  Fd control_fd = notify_fd ? bind_unix(control_path, SOCK_STREAM, error) : Fd();
  if (!notify_fd || !control_fd || !signal_fd) {
    log(error.empty() ? std::string("signalfd: ") + std::strerror(errno) : error);
    return 71;  // EX_OSERR: the watcher restarts us after a delay
  }
  // Bursts of enqueues must not overflow the socket while the loop is busy.
  int rcvbuf = 4 << 20;
  ::setsockopt(notify_fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  EnqueueNotifier notifier(notify_path);

  JobControllerOptions jo;
  jo.instance_root = instance.root();
  jo.store = &store;
  jo.log = &mail_log;
  jo.notifier = &notifier;
  jo.factory = options.factory;
  jo.log_line = [&log](std::string_view line) { log(std::string(line)); };
  JobController controller(std::move(jo), current.load());

  const auto start = Clock::now();
  const std::size_t files = controller.scan();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  log("queue cache: " + std::to_string(files) + " files (" + std::to_string(controller.memory_bytes() / 1024) +
      " KiB) loaded in " + std::to_string(ms) + " ms");

  {
    Rescanner rescanner(
        controller, [&current] { return current.load()->job_controller.synch_time; }, log);
    NightlyJob nightly({.instance = instance,
                        .store = &store,
                        .log = &mail_log,
                        .notifier = &notifier,
                        .snapshot = [&current] { return current.load(); },
                        .log_line = log});
    NotificationReader reader(notify_fd.get(), controller, rescanner);
    for (bool stop = false; !stop;) {
      int timeout_ms = 1000;
      if (auto due = controller.next_due_ms())
        timeout_ms = static_cast<int>(std::clamp<std::int64_t>(*due - controller.now(), 0, 1000));
      pollfd fds[2] = {{control_fd.get(), POLLIN, 0}, {signal_fd.get(), POLLIN, 0}};
      int ready = ::poll(fds, 2, timeout_ms);
      if (ready < 0 && errno != EINTR) {
        log(std::string("poll: ") + std::strerror(errno));
        std::this_thread::sleep_for(100ms);
      }
      if (ready > 0 && (fds[0].revents & POLLIN)) serve_control(control_fd.get(), controller);
      if (ready > 0 && (fds[1].revents & POLLIN)) {
        signalfd_siginfo info{};
        while (::read(signal_fd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
          if (info.ssi_signo == SIGHUP) {
            try {
              auto fresh = std::make_shared<const config::Snapshot>(config::load_image(instance.image_path()));
              current.store(fresh);
              mail_log.set_options(config::mail_log_file_options(instance, *fresh));
              controller.reload(fresh);
              log("configuration reloaded");
            } catch (const std::exception& e) {
              log(std::string("reload failed, keeping the configuration in force: ") + e.what());
            }
          } else {
            stop = true;
          }
        }
      }
      controller.schedule();
    }
    const auto running = controller.jobs().size();
    log("stopping: " + std::to_string(running) + " jobs finish their current file");
    controller.stop();
  }  // the rescanner stops here (after a scan in progress)
  ::unlink(notify_path.c_str());
  ::unlink(control_path.c_str());
  mail_log.flush();
  log("stopped");
  return 0;
}

}  // namespace imta::queue
