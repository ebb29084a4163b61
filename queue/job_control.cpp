// The control socket's protocol; see job_control.hpp.
#include "queue/job_control.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "core/text.hpp"
#include "queue/fd.hpp"
#include "queue/job_controller.hpp"

namespace imta::queue {

namespace {

/// How many cache slots are formatted per lock of the controller.
constexpr std::uint32_t kSlotsPerPiece = 4096;

std::string header(const JobController& c) {
  return "ok " + std::to_string(c.now()) + " " + std::to_string(c.cached()) + " " + std::to_string(c.memory_bytes()) +
         "\n";
}

void answer_cache(const JobController& c, const std::string& channel, const std::function<bool(std::string_view)>& write) {
  if (!write(header(c))) return;
  std::vector<std::string> channels;
  if (channel.empty()) channels = c.channels();
  else channels.push_back(channel);
  std::string piece;
  for (const auto& name : channels) {
    std::uint32_t cursor = 0;
    bool more = true;
    while (more) {
      piece.clear();
      more = c.visit_files(name, cursor, kSlotsPerPiece, [&](const CachedFile& f) {
        piece += "file " + f.channel + " " + f.name.str() + " " + std::to_string(f.name.attempts) + " " +
                 std::to_string(f.due_ms) + (f.running ? " running\n" : " waiting\n");
      });
      if (!piece.empty() && !write(piece)) return;
    }
  }
  piece.clear();
  for (const auto& s : c.summary()) {
    if (!channel.empty() && s.channel != channel) continue;
    piece += "channel " + s.channel + " " + std::to_string(s.files) + " " + std::to_string(s.waiting) + " " +
             std::to_string(s.ready) + " " + std::to_string(s.running) + " " + std::to_string(s.jobs) +
             (s.immediate ? " immediate" : " periodic") + (s.has_master ? " master\n" : " nomaster\n");
  }
  write(piece);
}

void answer_jobs(const JobController& c, const std::function<bool(std::string_view)>& write) {
  std::string out = header(c);
  // job <id> <channel> <pool> <started-ms> <files-done> <files-in-delivery,... or -> <threads>
  for (const auto& j : c.jobs()) {
    std::string delivering;
    for (const auto& f : j.delivering) delivering += (delivering.empty() ? "" : ",") + f;
    out += "job " + std::to_string(j.id) + " " + j.channel + " " + j.pool + " " + std::to_string(j.started_ms) + " " +
           std::to_string(j.files) + " " + (delivering.empty() ? "-" : delivering) + " " + std::to_string(j.threads) +
           "\n";
  }
  write(out);
}

}  // namespace

std::filesystem::path control_socket_path(const std::filesystem::path& run_dir) {
  return run_dir / "job_controller.ctl";
}

void answer_control_request(JobController& controller, std::string_view request,
                            const std::function<bool(std::string_view)>& write) {
  auto words = core::split_words(request);
  if (words.empty()) {
    write("error empty request\n");
  } else if (words[0] == "cache" && words.size() <= 2) {
    answer_cache(controller, words.size() == 2 ? words[1] : std::string(), write);
  } else if (words[0] == "sync" && words.size() == 1) {
    controller.scan();
    write(header(controller));
  } else if (words[0] == "jobs" && words.size() == 1) {
    answer_jobs(controller, write);
  } else {
    write("error unknown request (cache [CHANNEL], sync, jobs)\n");
  }
}

std::optional<std::string> ask_job_controller(const std::filesystem::path& run_dir, std::string_view request,
                                              std::string* error, std::chrono::milliseconds timeout) {
  auto fail = [&](const std::string& text) -> std::optional<std::string> {
    if (error) *error = text;
    return std::nullopt;
  };
  const std::string path = control_socket_path(run_dir).string();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return fail("socket path too long: " + path);
  std::memcpy(address.sun_path, path.data(), path.size());
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fail(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ECONNREFUSED)
      return fail("the job controller is not running (nothing answers on " + path + "; start it with imta start)");
    return fail("cannot connect to " + path + ": " + std::strerror(e));
  }
  std::string line = std::string(request) + "\n";
  for (std::size_t done = 0; done < line.size();) {
    ssize_t n = ::send(fd.get(), line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(std::string("cannot send the request: ") + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
  ::shutdown(fd.get(), SHUT_WR);
  std::string answer;
  char buf[65536];
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0)
      return fail("the job controller did not answer within " + std::to_string(timeout.count() / 1000) + " s");
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::string("cannot read the answer: ") + std::strerror(errno));
    if (n == 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  if (answer.starts_with("error ")) {
    auto end = answer.find('\n');
    return fail("the job controller says: " + answer.substr(6, end == std::string::npos ? end : end - 6));
  }
  if (!answer.starts_with("ok ")) return fail("the job controller gave no answer");
  return answer;
}

std::vector<std::vector<std::string>> answer_lines(std::string_view answer) {
  std::vector<std::vector<std::string>> out;
  std::size_t pos = 0;
  while (pos < answer.size()) {
    std::size_t end = answer.find('\n', pos);
    if (end == std::string_view::npos) end = answer.size();
    auto words = core::split_words(answer.substr(pos, end - pos));
    if (!words.empty()) out.push_back(std::move(words));
    pos = end + 1;
  }
  return out;
}

}  // namespace imta::queue
