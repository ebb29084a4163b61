// Byte-level writer and reader for the compiled configuration image
// (config/imta.image). Every part of the configuration serialises itself with
// these; the snapshot frames the parts with a magic, a version and a checksum.
// Integers are little-endian fixed width; strings are length-prefixed.
// Locations name their file by number: the first use of a file in a stream
// writes its number (the next free one) followed by the name, later uses
// write only the number, so an image holds each file name once.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/diagnostics.hpp"

namespace imta::config {

/// Thrown when an image is truncated or malformed; the caller reports it as
/// "rebuild with imta cnbuild".
struct ImageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ImageWriter {
 public:
  void u8(std::uint8_t v) { bytes_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { raw(&v, sizeof v); }
  void i64(std::int64_t v) { raw(&v, sizeof v); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    bytes_.append(s.data(), s.size());
  }
  void strings(const std::vector<std::string>& v) {
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& s : v) str(s);
  }
  void location(const SourceLocation& where) {
    auto [it, added] = files_.try_emplace(where.file.str(), static_cast<std::uint32_t>(files_.size()));
    u32(it->second);
    if (added) str(where.file.str());
    u32(static_cast<std::uint32_t>(where.line));
  }
  /// Writes a count followed by each element through `each(writer, element)`.
  template <typename Container, typename F>
  void list(const Container& v, F each) {
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& x : v) each(*this, x);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  void raw(const void* p, std::size_t n) {  // the image is host-order: little-endian x86/arm
    bytes_.append(static_cast<const char*>(p), n);
  }
  std::string bytes_;
  std::unordered_map<std::string, std::uint32_t> files_;  ///< file name -> number
};

class ImageReader {
 public:
  explicit ImageReader(std::string_view bytes) : data_(bytes) {}
  std::uint8_t u8() { return static_cast<std::uint8_t>(take(1)[0]); }
  std::uint32_t u32() { return fixed<std::uint32_t>(); }
  std::int64_t i64() { return fixed<std::int64_t>(); }
  bool boolean() { return u8() != 0; }
  std::string str() { return std::string(view()); }
  /// A string without copying it: valid as long as the bytes being read.
  std::string_view view() {
    auto n = u32();
    return take(n);
  }
  std::vector<std::string> strings() {
    std::vector<std::string> v(count());
    for (auto& s : v) s = str();
    return v;
  }
  SourceLocation location() {
    auto n = u32();
    if (n == files_.size()) {
      files_.emplace_back(view());
    } else if (n > files_.size()) {
      throw ImageError("corrupt configuration image (bad file number)");
    }
    SourceLocation where{files_[n], 0};
    where.line = static_cast<int>(u32());
    return where;
  }
  /// Reads a count, then each element through `each(reader) -> T`.
  template <typename T, typename F>
  std::vector<T> list(F each) {
    std::vector<T> v;
    auto n = count();
    v.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) v.push_back(each(*this));
    return v;
  }
  bool at_end() const { return pos_ == data_.size(); }
  /// Reads a count of things that follow. It can never exceed the bytes left:
  /// rejects absurd sizes from a corrupted image before anything allocates.
  std::uint32_t count() {
    auto n = u32();
    if (n > data_.size() - pos_) [[unlikely]]
      bad_count();
    return n;
  }

 private:
  template <typename T>
  T fixed() {
    T v;
    std::memcpy(&v, take(sizeof v).data(), sizeof v);
    return v;
  }
  std::string_view take(std::size_t n) {
    if (n > data_.size() - pos_) [[unlikely]]
      truncated();
    std::string_view s(data_.data() + pos_, n);
    pos_ += n;
    return s;
  }
  // Out of line so that take(), which every read goes through, stays small
  // enough to be inlined.
  [[noreturn, gnu::cold, gnu::noinline]] static void truncated() {
    throw ImageError("truncated configuration image");
  }
  [[noreturn, gnu::cold, gnu::noinline]] static void bad_count() {
    throw ImageError("corrupt configuration image (bad count)");
  }
  std::string_view data_;
  std::size_t pos_ = 0;
  std::vector<SourceFile> files_;  ///< by number, as location() met them
};

}  // namespace imta::config
