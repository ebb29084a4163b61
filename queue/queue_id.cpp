// Queue ids: unique, never reused, sortable by arrival (see store.hpp).
#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "queue/file_io.hpp"
#include "queue/store.hpp"

namespace imta::queue {

namespace {

constexpr std::string_view base36_digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Id layout: creation time in ms, process, counter (base 36, fixed width).
constexpr int id_time_width = 9;
constexpr int id_process_width = 5;
constexpr int id_counter_width = 4;
constexpr std::size_t id_length = id_time_width + id_process_width + id_counter_width;

std::string base36(std::uint64_t value, int width) {
  std::string out(static_cast<std::size_t>(width), '0');
  for (int i = width - 1; i >= 0 && value > 0; --i) {
    out[static_cast<std::size_t>(i)] = base36_digits[value % 36];
    value /= 36;
  }
  return out;
}

std::uint64_t power36(int n) {
  std::uint64_t p = 1;
  while (n-- > 0) p *= 36;
  return p;
}

std::uint32_t random_seed() {
  std::uint32_t seed = 0;
  if (::getrandom(&seed, sizeof seed, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed))
    seed = static_cast<std::uint32_t>(io::now_ms()) ^ static_cast<std::uint32_t>(::getpid()) * 2654435761u;
  return seed;
}

/// getpid() without a system call per id. imtad forks its dispatcher and
/// job controller without exec: a forked child refreshes the value.
std::atomic<pid_t> cached_pid{0};
void refresh_pid() { cached_pid.store(::getpid(), std::memory_order_relaxed); }
pid_t process_id() {
  static const bool registered = [] {
    refresh_pid();
    ::pthread_atfork(nullptr, nullptr, refresh_pid);
    return true;
  }();
  (void)registered;
  return cached_pid.load(std::memory_order_relaxed);
}

bool valid_id(std::string_view id) {
  return !id.empty() && std::all_of(id.begin(), id.end(),
                                    [](char c) { return base36_digits.find(c) != std::string_view::npos; });
}

}  // namespace

std::string new_queue_id() {
  // Time first so ids sort by arrival and never repeat across restarts; the
  // process part separates processes writing in the same millisecond; the
  // counter separates ids of one process and starts at a random value so
  // that equal pids in different pid namespaces are unlikely to collide
  // (and rename without replace catches the rest).
  static std::atomic<std::uint32_t> counter{random_seed()};
  const auto ms = static_cast<std::uint64_t>(io::now_ms());
  const auto pid = static_cast<std::uint64_t>(process_id());
  const auto count = counter.fetch_add(1, std::memory_order_relaxed);
  return base36(ms % power36(id_time_width), id_time_width) +
         base36(pid % power36(id_process_width), id_process_width) +
         base36(count % power36(id_counter_width), id_counter_width);
}

std::optional<std::int64_t> id_time_ms(std::string_view id) {
  if (id.size() != id_length || !valid_id(id)) return std::nullopt;
  std::int64_t ms = 0;
  for (char c : id.substr(0, id_time_width)) ms = ms * 36 + static_cast<std::int64_t>(base36_digits.find(c));
  return ms;
}

}  // namespace imta::queue
