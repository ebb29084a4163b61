// A shared_ptr that one thread replaces (a reload) while other threads take
// copies of it: the configuration snapshot, the TLS context.
//
// Why not std::atomic<std::shared_ptr>: the one in GCC 12's libstdc++
// (Debian 12) ends a load() by unlocking with memory_order_relaxed
// (bits/shared_ptr_atomic.h), so the C++ memory model does not order that
// load's read of the pointer before a later store()'s write of it; on a
// weakly ordered CPU a reader can pair the new pointer with the old one's
// reference count. ThreadSanitizer reports it as a data race. A mutex held
// for one pointer copy costs about what that atomic's own lock bit costs:
// copies are taken per connection, per queue file (the store asks the
// snapshot for a channel's subdirs) and per reload, never per byte.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

namespace imta::core {

template <class T>
class SharedSlot {
 public:
  SharedSlot() = default;
  explicit SharedSlot(std::shared_ptr<T> value) : value_(std::move(value)) {}
  SharedSlot(const SharedSlot&) = delete;
  SharedSlot& operator=(const SharedSlot&) = delete;

  std::shared_ptr<T> load() const {
    std::lock_guard lock(mutex_);
    return value_;
  }

  void store(std::shared_ptr<T> value) {
    {
      std::lock_guard lock(mutex_);
      value_.swap(value);
    }
    // `value` now holds the previous one: if that was its last reference,
    // it is destroyed here, outside the lock.
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<T> value_;
};

}  // namespace imta::core
