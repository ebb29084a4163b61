// Command line splitting; see line_reader.hpp.
#include "core/smtp/line_reader.hpp"

#include <algorithm>

namespace imta::core::smtp {

LineReader::LineReader(std::size_t max_line) : max_line_(max_line) {}

void LineReader::feed(std::string_view bytes) {
  // Consumed bytes are dropped here rather than in next(), so the views
  // handed out by next() stay valid until the caller feeds again.
  if (start_ > 0) {
    buf_.erase(0, start_);
    start_ = 0;
  }
  buf_.append(bytes);
}

LineReader::Next LineReader::next() {
  if (overlong_) return drop_overlong();
  std::string_view pending = buffered();
  std::size_t lf = pending.find('\n', scanned_);
  if (lf == std::string_view::npos) {
    scanned_ = pending.size();
    // Even the shortest ending (LF) would now make the line too long: start
    // dropping instead of buffering a line we will refuse anyway.
    if (pending.size() >= max_line_) {
      overlong_ = true;
      discarded_ = pending.size();
      start_ = buf_.size();
      scanned_ = 0;
    }
    return {Status::need_more, {}};
  }
  start_ += lf + 1;
  scanned_ = 0;
  if (lf + 1 > max_line_) return {Status::too_long, {}};
  std::string_view line = pending.substr(0, lf);
  bool bare_lf = line.empty() || line.back() != '\r';
  if (!bare_lf) line.remove_suffix(1);
  return {Status::line, line, bare_lf};
}

LineReader::Next LineReader::drop_overlong() {
  std::string_view pending = buffered();
  std::size_t lf = pending.find('\n');
  if (lf == std::string_view::npos) {
    discarded_ += pending.size();
    start_ = buf_.size();
    return {Status::need_more, {}};
  }
  start_ += lf + 1;
  overlong_ = false;
  discarded_ = 0;
  return {Status::too_long, {}};
}

std::string_view LineReader::buffered() const {
  return std::string_view(buf_).substr(start_);
}

void LineReader::consume(std::size_t n) {
  n = std::min(n, buf_.size() - start_);
  start_ += n;
  scanned_ = scanned_ > n ? scanned_ - n : 0;
}

void LineReader::discard_buffered() {
  buf_.clear();
  start_ = 0;
  scanned_ = 0;
  overlong_ = false;
  discarded_ = 0;
}

}  // namespace imta::core::smtp
