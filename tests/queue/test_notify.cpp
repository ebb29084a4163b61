// Enqueue notifications: the datagram format parsed without sockets, and the
// sender against a real Unix datagram socket in a temporary folder.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "queue/notify.hpp"

using namespace imta::queue;
namespace fs = std::filesystem;

namespace {

/// A bound receiving socket in a fresh folder; both removed at the end.
struct Receiver {
  fs::path dir;
  fs::path path;
  int fd = -1;
  Receiver() {
    std::string tmpl = (fs::temp_directory_path() / "imta-notify-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
    path = notify_socket_path(dir);
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~Receiver() {
    if (fd >= 0) ::close(fd);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  /// The next datagram, or "" when none is waiting.
  std::string next() {
    char buffer[65536];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
  }
};

QueuePath file(std::string channel, std::string path) {
  QueuePath p;
  p.channel = std::move(channel);
  p.path = std::move(path);
  return p;
}

}  // namespace

TEST_CASE("notify: the socket lives in run/", "[notify]") {
  CHECK(notify_socket_path("/var/lib/imta/run") == fs::path("/var/lib/imta/run/job_controller.sock"));
}

TEST_CASE("notify: datagrams parse into files and submit requests", "[notify]") {
  auto n = parse_notifications(
      "tcp_local\t/q/tcp_local/ZZ01.00\n"
      "l\t/q/l/003/ZZ02.00\n"
      "submit tcp_intranet\n"
      "submit\n");
  REQUIRE(n.size() == 4);
  CHECK(n[0].kind == Notification::Kind::enqueued);
  CHECK(n[0].channel == "tcp_local");
  CHECK(n[0].path == fs::path("/q/tcp_local/ZZ01.00"));
  CHECK(n[1].channel == "l");
  CHECK(n[1].path == fs::path("/q/l/003/ZZ02.00"));
  CHECK(n[2].kind == Notification::Kind::submit);
  CHECK(n[2].channel == "tcp_intranet");
  CHECK(n[3].kind == Notification::Kind::submit);
  CHECK(n[3].channel.empty());  // every channel
}

TEST_CASE("notify: malformed lines are skipped, the rest kept", "[notify]") {
  auto n = parse_notifications(
      "\n"
      "no tab here\n"
      "\t/q/x\n"          // no channel
      "tcp_local\t\n"     // no path
      "a b\t/q/x\n"       // blank in the channel
      "x\t/q\t/y\n"       // two tabs
      "submitter\n"       // not "submit"
      "submit a b\n"      // two channels
      "tcp_local\t/q/tcp_local/ZZ03.00");  // last line without LF counts
  REQUIRE(n.size() == 1);
  CHECK(n[0].channel == "tcp_local");
  CHECK(n[0].path == fs::path("/q/tcp_local/ZZ03.00"));
  CHECK(parse_notifications("").empty());
}

TEST_CASE("notify: the sender's datagrams arrive and parse back", "[notify]") {
  Receiver receiver;
  EnqueueNotifier notifier(receiver.path);
  CHECK(notifier.enqueued({file("tcp_local", "/q/tcp_local/ZZ1.00"), file("l", "/q/l/ZZ1.00")}));
  auto got = parse_notifications(receiver.next());
  REQUIRE(got.size() == 2);
  CHECK(got[0].channel == "tcp_local");
  CHECK(got[1].path == fs::path("/q/l/ZZ1.00"));

  CHECK(notifier.submit("tcp_local"));
  got = parse_notifications(receiver.next());
  REQUIRE(got.size() == 1);
  CHECK(got[0].kind == Notification::Kind::submit);
  CHECK(got[0].channel == "tcp_local");
  CHECK(receiver.next().empty());
}

TEST_CASE("notify: very many files are split over datagrams, none lost", "[notify]") {
  Receiver receiver;
  EnqueueNotifier notifier(receiver.path);
  std::vector<QueuePath> files;
  for (int i = 0; i < 2000; ++i) files.push_back(file("tcp_local", "/q/tcp_local/ZZ" + std::to_string(i) + ".00"));
  CHECK(notifier.enqueued(files));
  std::size_t seen = 0, datagrams = 0;
  for (std::string d = receiver.next(); !d.empty(); d = receiver.next()) {
    ++datagrams;
    for (const auto& n : parse_notifications(d)) {
      CHECK(n.path == files[seen].path);
      ++seen;
    }
  }
  CHECK(seen == files.size());
  CHECK(datagrams > 1);
}

TEST_CASE("notify: without a listener sending fails quietly", "[notify]") {
  Receiver receiver;
  fs::path nobody = receiver.dir / "nobody.sock";
  EnqueueNotifier notifier(nobody);
  CHECK_FALSE(notifier.enqueued({file("tcp_local", "/q/x")}));
  CHECK_FALSE(notifier.submit(""));
  // A path too long for a Unix socket address cannot be reached either.
  EnqueueNotifier too_long(fs::path("/" + std::string(200, 'x')));
  CHECK_FALSE(too_long.submit("l"));
}

TEST_CASE("notify: a full receive queue drops datagrams without blocking", "[notify]") {
  Receiver receiver;
  EnqueueNotifier notifier(receiver.path);
  int sent = 0, dropped = 0;
  // Nobody reads: the queue fills (the kernel keeps ~10 datagrams by default
  // per net.unix.max_dgram_qlen, or its byte limit); sends then fail at once.
  for (int i = 0; i < 5000 && dropped == 0; ++i) (notifier.submit("tcp_local") ? sent : dropped)++;
  CHECK(sent > 0);
  CHECK(dropped > 0);
}

TEST_CASE("notify: files added by several commits go out in one datagram at flush", "[notify]") {
  Receiver receiver;
  EnqueueNotifier notifier(receiver.path);
  CHECK(notifier.flush());  // nothing pending: nothing sent, nothing wrong
  CHECK(receiver.next().empty());
  notifier.add({file("l", "/q/l/ZZa.00")});
  notifier.add({file("tcp_local", "/q/tcp_local/ZZb.00"), file("l", "/q/l/ZZb.00")});
  CHECK(receiver.next().empty());  // not before the flush
  CHECK(notifier.flush());
  auto got = parse_notifications(receiver.next());
  REQUIRE(got.size() == 3);
  CHECK(got[0].path == fs::path("/q/l/ZZa.00"));
  CHECK(got[2].path == fs::path("/q/l/ZZb.00"));
  CHECK(receiver.next().empty());
  CHECK(notifier.flush());  // sent once only
  CHECK(receiver.next().empty());
}

TEST_CASE("notify: files a full queue refused go out with the next flush", "[notify]") {
  Receiver receiver;
  EnqueueNotifier notifier(receiver.path);
  // Fill the controller's queue (nobody reads).
  int queued = 0;
  while (queued < 5000 && notifier.submit("tcp_local")) ++queued;
  REQUIRE(queued < 5000);
  notifier.add({file("l", "/q/l/ZZlate.00")});
  CHECK_FALSE(notifier.flush());
  // The controller reads again: the refused file comes with the next flush.
  for (int i = 0; i < queued; ++i) CHECK(parse_notifications(receiver.next())[0].kind == Notification::Kind::submit);
  CHECK(receiver.next().empty());
  notifier.add({file("l", "/q/l/ZZnext.00")});
  CHECK(notifier.flush());
  auto got = parse_notifications(receiver.next());
  REQUIRE(got.size() == 2);
  CHECK(got[0].path == fs::path("/q/l/ZZlate.00"));
  CHECK(got[1].path == fs::path("/q/l/ZZnext.00"));
  CHECK(notifier.flush());  // nothing left over
  CHECK(receiver.next().empty());
}
