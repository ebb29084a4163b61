#include "channels/pipe/child_process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>
#include <utility>

#include "core/fd.hpp"

namespace imta::channels {

namespace {

using core::Fd;

using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// Moves a descriptor to 3 or above (close-on-exec), so that setting up the
/// child's 0, 1 and 2 can never overwrite it.
Fd above_stdio(Fd fd) {
  if (fd.get() > 2) return fd;
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) throw_errno("fcntl");
  return Fd(moved);
}

/// An unlinked temporary file holding `input`, positioned at its start.
Fd input_file(std::string_view input) {
  auto dir = std::filesystem::temp_directory_path();
  Fd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) {
    // File systems without O_TMPFILE: a named file, unlinked at once.
    std::string path = (dir / "imta-input-XXXXXX").string();
    fd.reset(::mkostemp(path.data(), O_CLOEXEC));
    if (!fd) throw_errno("temporary file in " + dir.string());
    ::unlink(path.c_str());
  }
  fd = above_stdio(std::move(fd));
  std::size_t done = 0;
  while (done < input.size()) {
    ssize_t n = ::write(fd.get(), input.data() + done, input.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("writing the program's input");
    done += static_cast<std::size_t>(n);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) throw_errno("lseek");
  return fd;
}

struct Pipe {
  Fd read, write;
};

Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  Pipe p{Fd(fds[0]), Fd(fds[1])};
  p.read = above_stdio(std::move(p.read));
  p.write = above_stdio(std::move(p.write));
  return p;
}

/// argv/envp for execve, built before fork (the child must not allocate).
struct CStrings {
  std::vector<char*> pointers;
  explicit CStrings(const std::vector<std::string>& strings) {
    for (const auto& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
    pointers.push_back(nullptr);
  }
};

/// The child's side between fork and exec: async-signal-safe calls only.
/// Reports a failure as "<step>\0<errno>" on `report` and exits 127.
[[noreturn]] void become_program(const ChildSpec& spec, char* const* argv, char* const* envp, int stdin_fd,
                                 int stdout_fd, int stderr_fd, int report, int highest_fd) {
  auto fail = [&](const char* step) {
    int e = errno;
    char buf[64];
    std::size_t n = std::strlen(step);
    if (n > 40) n = 40;
    std::memcpy(buf, step, n);
    buf[n] = '\0';
    std::memcpy(buf + n + 1, &e, sizeof e);
    [[maybe_unused]] auto w = ::write(report, buf, n + 1 + sizeof e);
    ::_exit(127);
  };
  // A process group of its own, so a timeout kills whatever it started.
  ::setpgid(0, 0);
  // Signals the daemon ignores or blocks would stay so across execve.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);

  if (::dup2(stdin_fd, 0) < 0 || ::dup2(stdout_fd, 1) < 0 || ::dup2(stderr_fd, 2) < 0) fail("dup2");
  // The report pipe becomes 3 (close-on-exec); everything above is closed.
  if (report != 3) {
    if (::dup2(report, 3) < 0) fail("dup2");
    report = 3;
  }
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  if (::close_range(4, ~0U, 0) != 0)
    for (int fd = 4; fd <= highest_fd; ++fd) ::close(fd);

  if (spec.run_as) {
    const auto& who = *spec.run_as;
    if (::setgroups(who.groups.size(), who.groups.data()) != 0) fail("setgroups");
    if (::setgid(who.gid) != 0) fail("setgid");
    if (::setuid(who.uid) != 0) fail("setuid");
  }
  if (::chdir("/") != 0) fail("chdir /");
  ::execve(argv[0], argv, envp);
  fail("execve");
  ::_exit(127);  // not reached: fail() exits
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

/// Reads what is available; false at end of file (or error).
bool drain(int fd, std::string& into, std::size_t limit, bool& over_limit) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      std::size_t room = into.size() < limit ? limit - into.size() : 0;
      if (static_cast<std::size_t>(n) > room) over_limit = true;
      into.append(buf, std::min(room, static_cast<std::size_t>(n)));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

}  // namespace

std::optional<RunAs> resolve_user(const std::string& name, std::string* error) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE) buf.resize(buf.size() * 2);
  if (rc != 0 || !found) {
    if (error) *error = "no such user: " + name;
    return std::nullopt;
  }
  RunAs who{pw.pw_name, pw.pw_uid, pw.pw_gid, {}, pw.pw_dir ? pw.pw_dir : "/"};
  int count = 32;
  who.groups.resize(static_cast<std::size_t>(count));
  if (::getgrouplist(pw.pw_name, pw.pw_gid, who.groups.data(), &count) < 0) {
    who.groups.resize(static_cast<std::size_t>(count));
    ::getgrouplist(pw.pw_name, pw.pw_gid, who.groups.data(), &count);
  }
  who.groups.resize(static_cast<std::size_t>(std::max(count, 0)));
  return who;
}

std::optional<RunAs> choose_run_as(const std::string& name, std::string* error) {
  if (::geteuid() != 0) return std::nullopt;
  return resolve_user(name.empty() ? std::string("nobody") : name, error);
}

ChildResult run_child(const ChildSpec& spec) {
  ChildResult result;
  if (spec.argv.empty()) {
    result.error = "no program to run";
    return result;
  }
  Fd input = input_file(spec.input);
  Pipe out = make_pipe(), err = make_pipe(), report = make_pipe();
  CStrings argv(spec.argv), envp(spec.env);
  rlimit files{};
  int highest_fd = ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY
                       ? static_cast<int>(std::min<rlim_t>(files.rlim_cur, 65536))
                       : 65536;

  pid_t pid = ::fork();
  if (pid < 0) {
    result.error = std::string("fork: ") + std::strerror(errno);
    return result;
  }
  if (pid == 0)
    become_program(spec, argv.pointers.data(), envp.pointers.data(), input.get(), out.write.get(), err.write.get(),
                   report.write.get(), highest_fd);
  ::setpgid(pid, pid);  // also here: whichever runs first, the group exists before we may kill it
  out.write.reset();
  err.write.reset();
  report.write.reset();
  input.reset();

  // Did the child reach execve? The report pipe closes on exec, or carries why not.
  {
    char buf[64];
    ssize_t n;
    std::size_t got = 0;
    while ((n = ::read(report.read.get(), buf + got, sizeof buf - got)) != 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      got += static_cast<std::size_t>(n);
      if (got == sizeof buf) break;
    }
    if (got > 0) {
      std::string step(buf, strnlen(buf, got));
      int e = 0;
      if (got >= step.size() + 1 + sizeof e) std::memcpy(&e, buf + step.size() + 1, sizeof e);
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      result.error = step + (step == "execve" ? " " + spec.argv.front() : std::string()) + ": " + std::strerror(e);
      return result;
    }
  }

  set_nonblocking(out.read.get());
  set_nonblocking(err.read.get());
  const auto deadline = Clock::now() + spec.timeout;
  bool out_open = true, err_open = true, too_large = false, errors_over = false;
  bool exited = false;
  int status = 0;
  auto kill_group = [&](ChildResult::End why) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    result.end = why;
  };
  bool killed = false;
  auto reap_nohang = [&] {
    if (exited) return true;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) exited = true;
    return exited;
  };

  while (!killed) {
    if (!out_open && !err_open) break;
    auto now = Clock::now();
    if (now >= deadline) {
      kill_group(ChildResult::End::timed_out);
      killed = true;
      break;
    }
    if (spec.stopping && spec.stopping->load()) {
      kill_group(ChildResult::End::stopped);
      killed = true;
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    // Wake now and then to notice a stop request, or a program that exited
    // while something it started keeps its output open.
    int wait_ms = static_cast<int>(std::min<long long>(left, 100));
    pollfd fds[2];
    nfds_t n = 0;
    if (out_open) fds[n++] = {out.read.get(), POLLIN, 0};
    if (err_open) fds[n++] = {err.read.get(), POLLIN, 0};
    int ready = ::poll(fds, n, wait_ms);
    if (ready < 0 && errno != EINTR) break;
    if (out_open) out_open = drain(out.read.get(), result.output, spec.max_output, too_large);
    if (err_open) err_open = drain(err.read.get(), result.errors, spec.max_errors, errors_over);
    if (too_large) {
      kill_group(ChildResult::End::output_too_large);
      killed = true;
      break;
    }
    if (ready == 0 && reap_nohang()) {
      // Exited, and nothing more came within the poll interval: whatever
      // still holds the pipes (a background descendant) is not waited for.
      if (out_open) drain(out.read.get(), result.output, spec.max_output, too_large);
      if (err_open) drain(err.read.get(), result.errors, spec.max_errors, errors_over);
      break;
    }
  }

  // Reap: after both pipes closed the program normally exits at once; it
  // still answers to the deadline.
  while (!exited) {
    pid_t r = ::waitpid(pid, &status, killed ? 0 : WNOHANG);
    if (r == pid) {
      exited = true;
      break;
    }
    if (r < 0 && errno != EINTR) break;
    if (!killed && Clock::now() >= deadline) {
      kill_group(ChildResult::End::timed_out);
      killed = true;
      continue;
    }
    if (!killed && spec.stopping && spec.stopping->load()) {
      kill_group(ChildResult::End::stopped);
      killed = true;
      continue;
    }
    if (!killed) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (killed) return result;
  if (WIFEXITED(status)) {
    result.end = ChildResult::End::exited;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.end = ChildResult::End::signaled;
    result.signal = WTERMSIG(status);
  }
  return result;
}

std::string describe(const ChildResult& r, const ChildSpec& spec) {
  switch (r.end) {
    case ChildResult::End::exited: return "exited with status " + std::to_string(r.exit_code);
    case ChildResult::End::signaled: return "killed by signal " + std::to_string(r.signal);
    case ChildResult::End::timed_out:
      return "timed out after " +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(spec.timeout).count()) + " s";
    case ChildResult::End::output_too_large: return "wrote more than " + std::to_string(spec.max_output) + " bytes";
    case ChildResult::End::stopped: return "stopped (imta is shutting down)";
    case ChildResult::End::start_failed: return "could not be started: " + r.error;
  }
  return "ended";
}

std::string first_line(std::string_view text, std::size_t limit) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string line;
    for (char c : text.substr(pos, eol - pos)) line += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
    auto b = line.find_first_not_of(' ');
    if (b != std::string::npos) {
      auto e = line.find_last_not_of(' ');
      line = line.substr(b, e - b + 1);
      if (line.size() > limit) line.resize(limit);
      return line;
    }
    pos = eol + 1;
  }
  return {};
}

}  // namespace imta::channels
