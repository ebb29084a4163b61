// Maildir delivery; see maildir.hpp.
#include "channels/local/maildir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include "core/text.hpp"
#include "core/fd.hpp"

namespace imta::channels::local {

namespace fs = std::filesystem;
using core::Fd;

namespace {

std::atomic<std::uint64_t> name_counter{0};

MaildirResult success() {
  MaildirResult r;
  r.ok = true;
  return r;
}

MaildirResult failure(int error, std::string_view step, const fs::path& path) {
  MaildirResult r;
  r.error = error;
  r.text = std::string(step) + " " + path.string() + ": " + std::generic_category().message(error);
  return r;
}

/// fsync of a directory, so that an entry just made in it is durable.
int sync_directory(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return errno;
  if (::fsync(fd.get()) != 0) return errno;
  return 0;
}

/// mkdir -p with mode 0700, syncing the parent of every folder it creates.
/// Returns 0 or the errno of the step that failed, `failed` naming its path.
int make_directories(const fs::path& dir, fs::path& failed) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return 0;
    failed = dir;
    return ENOTDIR;
  }
  if (errno != ENOENT) {
    failed = dir;
    return errno;
  }
  fs::path parent = dir.parent_path();
  if (!parent.empty() && parent != dir)
    if (int e = make_directories(parent, failed)) return e;
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return 0;  // another delivery made it meanwhile
    failed = dir;
    return errno;
  }
  if (!parent.empty())
    if (int e = sync_directory(parent)) {
      failed = parent;
      return e;
    }
  return 0;
}

/// The Maildir folder and its tmp/ new/ cur/.
MaildirResult make_maildir(const fs::path& maildir) {
  for (const char* sub : {"tmp", "new", "cur"}) {
    fs::path failed;
    if (int e = make_directories(maildir / sub, failed)) return failure(e, "mkdir", failed);
  }
  return success();
}

int write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

/// Creates tmp/<name> exclusively; on ENOENT makes the Maildir and tries again.
/// On EEXIST (a name left by an earlier process with the same pid) picks
/// another name.
MaildirResult create_temporary(const fs::path& maildir, std::string& name, Fd& fd) {
  bool made = false;
  for (int attempt = 0; attempt < 16; ++attempt) {
    name = maildir_unique_name(static_cast<std::int64_t>(::time(nullptr)));
    fs::path tmp = maildir / "tmp" / name;
    fd.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd) return success();
    int e = errno;
    if (e == EEXIST) continue;
    if (e == ENOENT && !made) {
      made = true;
      if (auto r = make_maildir(maildir); !r.ok) return r;
      continue;
    }
    return failure(e, "create", tmp);
  }
  return failure(EEXIST, "create", maildir / "tmp");
}

}  // namespace

std::string maildir_bytes(std::string_view sender, std::string_view delivered_to, std::string_view message) {
  std::string out;
  out.reserve(message.size() + sender.size() + delivered_to.size() + 32);
  out += "Return-Path: <";
  out += sender;
  out += ">\n";
  out += "Delivered-To: ";
  out += delivered_to;
  out += '\n';
  core::append_lf(out, message);
  return out;
}

std::string maildir_host_name() {
  static const std::string host = [] {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return std::string("localhost");
    std::string escaped;
    for (const char* p = buf; *p; ++p) {
      if (*p == '/') escaped += "\\057";
      else if (*p == ':') escaped += "\\072";
      else escaped += *p;
    }
    return escaped;
  }();
  return host;
}

std::string maildir_unique_name(std::int64_t unix_seconds) {
  auto n = name_counter.fetch_add(1, std::memory_order_relaxed);
  return std::to_string(unix_seconds) + "." + std::to_string(::getpid()) + "_" + std::to_string(n) + "." +
         maildir_host_name();
}

MaildirResult deliver_to_maildir(const fs::path& maildir, std::string_view bytes) {
  std::string name;
  Fd fd;
  if (auto r = create_temporary(maildir, name, fd); !r.ok) return r;
  const fs::path tmp = maildir / "tmp" / name;
  // From here on, every failure removes the temporary file.
  auto fail = [&](int e, std::string_view step, const fs::path& path) {
    fd.reset();
    ::unlink(tmp.c_str());
    return failure(e, step, path);
  };
  if (int e = write_all(fd.get(), bytes)) return fail(e, "write", tmp);
  if (::fsync(fd.get()) != 0) return fail(errno, "fsync", tmp);
  if (::close(fd.release()) != 0) return fail(errno, "close", tmp);

  // Into new/ under the same name (another name if it is taken). link()
  // never replaces a file; where a file system cannot link, rename().
  const fs::path new_dir = maildir / "new";
  fs::path target;
  for (int attempt = 0;; ++attempt) {
    std::string final_name = attempt == 0 ? name : maildir_unique_name(static_cast<std::int64_t>(::time(nullptr)));
    target = new_dir / final_name;
    if (::link(tmp.c_str(), target.c_str()) == 0) {
      ::unlink(tmp.c_str());
      break;
    }
    int e = errno;
    if (e == EEXIST && attempt < 16) continue;
    if (e == EPERM || e == ENOSYS || e == EOPNOTSUPP) {
      if (::rename(tmp.c_str(), target.c_str()) == 0) break;
      e = errno;
    }
    if (e == ENOENT && attempt == 0) {
      // new/ vanished (someone removed it): make it again, once.
      if (auto r = make_maildir(maildir); !r.ok) {
        ::unlink(tmp.c_str());
        return r;
      }
      continue;
    }
    return fail(e, "link", target);
  }
  if (int e = sync_directory(new_dir)) {
    // Not known to be durable: take it back so that the retry the caller
    // schedules does not leave two copies.
    ::unlink(target.c_str());
    return failure(e, "fsync", new_dir);
  }
  MaildirResult ok;
  ok.ok = true;
  ok.file = target;
  return ok;
}

}  // namespace imta::channels::local
