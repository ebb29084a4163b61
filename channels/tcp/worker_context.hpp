// Per worker thread (per io_context) state of the SMTP server, as an Asio
// service so it lives and dies with the io_context:
//  - the watchdog: one timer per thread that looks at every session of the
//    thread four times a second, enforcing read and write deadlines (RFC
//    5321 §4.5.3.2 timeouts) and waking idle sessions when the dispatcher
//    stops. Cheaper than one timer per session re-armed on every read.
//  - the way back for work done on other threads (the queue's commit
//    thread, the password-check threads): park the coroutine's completion
//    handler here, let the other thread finish, post the handler back. When
//    the io_context is destroyed first (shutdown after the grace period),
//    parked handlers are destroyed with it and late completions are dropped,
//    so no thread ever posts to a dead io_context.
//  - a read buffer shared by the thread's plain-text sessions: a session
//    waits for readability, then reads synchronously into it, so an idle
//    connection holds no buffer of its own.
// Included by smtp_session.cpp only (it keeps Asio out of other files).
#pragma once

#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace imta::channels::tcp {

/// Something the watchdog looks after (a session).
class Watched {
 public:
  virtual ~Watched() = default;
  virtual void on_tick(std::chrono::steady_clock::time_point now) = 0;

 private:
  friend class WorkerContext;
  Watched* prev_ = nullptr;
  Watched* next_ = nullptr;
};

/// Handlers waiting for another thread's result. Results that come in
/// while the worker is busy go back together: the commit thread finishes a
/// whole batch of commits at once, and one post (one wake-up of the worker's
/// epoll_wait) then resumes all of that worker's sessions, not one each.
class Parking : public std::enable_shared_from_this<Parking> {
 public:
  struct Parked {
    virtual ~Parked() = default;
    virtual void complete() = 0;
  };

  explicit Parking(asio::io_context& context) : context_(context) {}

  std::uint64_t park(std::unique_ptr<Parked> entry) {
    std::lock_guard lock(mutex_);
    auto id = ++next_id_;
    if (!dead_) entries_.emplace(id, std::move(entry));
    return id;
  }

  /// From any thread: hands the parked handler back to its io_context,
  /// unless that is gone.
  void finish(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    if (dead_) return;
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    ready_.push_back(std::move(it->second));
    entries_.erase(it);
    // The first since the last drain posts the drain; later ones join it.
    if (ready_.size() == 1) asio::post(context_, [self = shared_from_this()] { self->drain(); });
  }

  /// The io_context is shutting down: nothing is posted from now on; the
  /// parked handlers (and the coroutines they hold) are destroyed here.
  void kill() {
    std::unordered_map<std::uint64_t, std::unique_ptr<Parked>> doomed;
    std::vector<std::unique_ptr<Parked>> doomed_ready;
    {
      std::lock_guard lock(mutex_);
      dead_ = true;
      doomed.swap(entries_);
      doomed_ready.swap(ready_);
    }
  }

 private:
  asio::io_context& context_;
  std::mutex mutex_;
  bool dead_ = false;
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::uint64_t, std::unique_ptr<Parked>> entries_;
  std::vector<std::unique_ptr<Parked>> ready_;  ///< finished, not yet resumed

  /// On the worker: resumes everything finished so far.
  void drain() {
    std::vector<std::unique_ptr<Parked>> batch;
    {
      std::lock_guard lock(mutex_);
      batch.swap(ready_);
    }
    for (auto& entry : batch) entry->complete();
  }
};

class WorkerContext : public asio::execution_context::service {
 public:
  inline static asio::execution_context::id id;

  explicit WorkerContext(asio::execution_context& owner)
      : asio::execution_context::service(owner),
        context_(static_cast<asio::io_context&>(owner)),
        parking(std::make_shared<Parking>(context_)),
        number(next_number()) {}

  // The timer goes here, not in the destructor: services are destroyed
  // newest first, and the timer service came after this one (with the first
  // session), so by the time this one is destroyed the timer's service is
  // gone. At shutdown every service still exists.
  void shutdown() override {
    parking->kill();
    timer_.reset();
  }

  void add(Watched* w) {
    w->prev_ = nullptr;
    w->next_ = head_;
    if (head_) head_->prev_ = w;
    head_ = w;
    if (!ticking_) tick();
  }

  void remove(Watched* w) {
    if (w->prev_) w->prev_->next_ = w->next_;
    else if (head_ == w) head_ = w->next_;
    if (w->next_) w->next_->prev_ = w->prev_;
    w->prev_ = w->next_ = nullptr;
  }

  /// Per-thread connection counter for LOG_PROCESS.
  std::uint32_t next_count() { return ++count_; }

  asio::io_context& context() { return context_; }

 private:
  static std::uint32_t next_number() {
    static std::atomic<std::uint32_t> n{0};
    return ++n;
  }

  void tick() {
    if (!head_) {
      ticking_ = false;
      return;
    }
    ticking_ = true;
    if (!timer_) timer_.emplace(context_);
    timer_->expires_after(std::chrono::milliseconds(250));
    timer_->async_wait([this](std::error_code ec) {
      if (ec) {
        ticking_ = false;
        return;
      }
      auto now = std::chrono::steady_clock::now();
      for (Watched* w = head_; w; w = w->next_) w->on_tick(now);
      tick();
    });
  }

  asio::io_context& context_;
  Watched* head_ = nullptr;
  bool ticking_ = false;
  std::optional<asio::steady_timer> timer_;
  std::uint32_t count_ = 0;

 public:
  const std::shared_ptr<Parking> parking;
  const std::uint32_t number;  ///< this worker's number in LOG_PROCESS records
  std::vector<char> read_buffer = std::vector<char>(64 * 1024);
};

/// Awaits a result that `start` produces on another thread: `start` gets a
/// callback to call (once, from any thread) with the result. Not itself a
/// coroutine, and callers pass `start` as a named variable: GCC 12 destroys
/// some temporaries of a co_await expression twice.
template <class R>
asio::awaitable<R> await_foreign(WorkerContext& worker, std::function<void(std::function<void(R)>)> start) {
  auto slot = std::make_shared<std::optional<R>>();
  auto parking = worker.parking;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(
      [slot, parking, start = std::move(start)](auto handler) mutable {
        using Handler = decltype(handler);
        struct Entry final : Parking::Parked {
          Entry(Handler h, std::shared_ptr<std::optional<R>> s) : handler(std::move(h)), slot(std::move(s)) {}
          void complete() override { std::move(handler)(std::move(**slot)); }
          Handler handler;
          std::shared_ptr<std::optional<R>> slot;
        };
        auto id = parking->park(std::make_unique<Entry>(std::move(handler), slot));
        start([slot, parking, id](R result) {
          *slot = std::move(result);
          parking->finish(id);
        });
      },
      asio::use_awaitable);
}

}  // namespace imta::channels::tcp
