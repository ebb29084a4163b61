// A tiny JSON writer for machine-readable command output (`imta qm --json`):
// one compact line per document, built in order with no intermediate tree, so
// a listing of any length streams one object at a time.
//
// Strings are escaped as RFC 8259 requires (quote, backslash and every control
// character); text that is valid UTF-8 passes through unchanged, and each byte
// of an invalid sequence becomes U+FFFD, because queue files hold addresses
// and subjects from the network and a consumer such as jq or Python's
// json.loads must never be handed a line it cannot decode.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace imta::core {

/// `text` as a JSON string literal, quotes included.
std::string json_quote(std::string_view text);

/// Builds one JSON document. Commas and colons are placed automatically;
/// calls must nest properly (a key before every value inside an object),
/// which is the caller's contract: a mismatch throws std::logic_error.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  /// The next member's name (inside an object only).
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(bool b);
  template <std::signed_integral T>
  JsonWriter& value(T n) { return number(std::to_string(static_cast<std::int64_t>(n))); }
  template <std::unsigned_integral T>
    requires(!std::same_as<T, bool>)
  JsonWriter& value(T n) { return number(std::to_string(static_cast<std::uint64_t>(n))); }
  JsonWriter& null();

  /// key(name).value(v) in one call.
  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) { return key(name).value(v); }

  /// The document so far. Complete once every object and array is closed.
  const std::string& str() const { return out_; }
  bool complete() const { return stack_.empty() && !out_.empty(); }
  /// Starts a new document, keeping the buffer's capacity.
  void clear();

 private:
  enum class Frame : std::uint8_t { object, array };
  JsonWriter& number(const std::string& digits);
  void before_value();
  void close(Frame frame, char c);

  std::string out_;
  std::vector<Frame> stack_;
  bool first_ = true;      ///< no member/element yet in the innermost container
  bool have_key_ = false;  ///< inside an object: a key was written, its value is due
};

}  // namespace imta::core
