// The result of parsing something a peer sent: a value, or the SMTP reply
// that refuses it. Shaped like C++23 std::expected<T, Reply> (has_value,
// value, error, operator*, operator->) so that switching later is mechanical.
#pragma once

#include <utility>
#include <variant>

#include "core/smtp/reply.hpp"

namespace imta::core::smtp {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Reply error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  /// The value; calling these on an error is a programming error.
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The refusal; calling this on a value is a programming error.
  const Reply& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Reply> v_;
};

}  // namespace imta::core::smtp
