// DATA decoding and BDAT line-end checks; see data_decoder.hpp.
#include "core/smtp/data_decoder.hpp"

#include <cstring>

namespace imta::core::smtp {

Reply bare_lf_reply() {
  return {554, "5.6.0", "Bare LF in message data: lines must end with CRLF (RFC 5321 section 2.3.8)"};
}

Reply bare_cr_reply() {
  return {554, "5.6.0", "Bare CR in message data: lines must end with CRLF (RFC 5321 section 2.3.8)"};
}

namespace {

Reply too_big_reply() { return {552, "5.3.4", "Message size exceeds fixed maximum message size"}; }

Reply long_line_reply(std::size_t limit) {
  return {554, "5.6.0",
          "Message has a line longer than " + std::to_string(limit) + " characters (RFC 5322 section 2.1.1)"};
}

}  // namespace

DataDecoder::DataDecoder(DataLimits limits) : limits_(limits) {}

void DataDecoder::reset() {
  state_ = State::line_start;
  size_ = 0;
  line_length_ = 0;
  refusal_.reset();
}

DataProgress DataDecoder::fail(Reply reply, std::size_t consumed) {
  state_ = State::failed;
  refusal_ = std::move(reply);
  return {DataStatus::failed, consumed};
}

// Counts and (unless the message is already refused) stores decoded bytes.
// Once refused, nothing more is stored: memory stays within the limit. The
// bytes up to the limit are stored even when they arrive in the same run as
// the byte past it, so the output never depends on how the input was split.
void DataDecoder::emit(std::string_view bytes, std::string& out) {
  std::uint64_t max = limits_.max_message_size;
  if (!refusal_ && max != 0 && size_ + bytes.size() > max) {
    out.append(bytes.substr(0, static_cast<std::size_t>(max - size_)));
    refusal_ = too_big_reply();
  }
  size_ += bytes.size();
  if (!refusal_) out.append(bytes);
}

// A run of ordinary bytes inside a line, up to the next CR or LF. When the
// run ends with CRLF (the usual case) the line end is taken too, so a whole
// line costs two memchr scans and one append instead of a step per byte.
std::size_t DataDecoder::take_run(std::string_view in, std::size_t pos, std::string& out) {
  const char* base = in.data();
  const std::size_t size = in.size();
  // The first CR, then the first LF before it (a LF alone is a bare LF).
  const void* cr_at = std::memchr(base + pos, '\r', size - pos);
  std::size_t cr = cr_at ? static_cast<std::size_t>(static_cast<const char*>(cr_at) - base) : size;
  const void* lf_at = std::memchr(base + pos, '\n', cr - pos);
  std::size_t end = lf_at ? static_cast<std::size_t>(static_cast<const char*>(lf_at) - base) : cr;
  std::string_view run = in.substr(pos, end - pos);
  const bool crlf = !lf_at && end + 1 < size && base[end] == '\r' && base[end + 1] == '\n';
  std::size_t max = limits_.max_line_length;
  if (!refusal_ && max != 0 && line_length_ + run.size() > max) {
    std::size_t fits = static_cast<std::size_t>(max - line_length_);
    emit(run.substr(0, fits), out);
    if (!refusal_) refusal_ = long_line_reply(max);
    emit(run.substr(fits), out);
  } else if (crlf) {
    emit(in.substr(pos, end + 2 - pos), out);  // the line and its CRLF
    line_length_ = 0;
    state_ = State::line_start;
    return end + 2;
  } else {
    emit(run, out);
  }
  line_length_ += run.size();
  if (crlf) {
    end_line(out);
    state_ = State::line_start;
    return end + 2;
  }
  state_ = State::in_line;
  return end;
}

void DataDecoder::end_line(std::string& out) {
  emit("\r\n", out);
  line_length_ = 0;
}

DataProgress DataDecoder::feed(std::string_view in, std::string& out) {
  if (state_ == State::done) return {DataStatus::done, 0};
  if (state_ == State::failed) return {DataStatus::failed, 0};
  std::size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    switch (state_) {
      case State::line_start:
        if (c == '.') {  // transparency dot, or the start of the end marker
          state_ = State::dot;
          ++i;
          break;
        }
        [[fallthrough]];
      case State::in_line:
        if (c == '\r') {
          state_ = State::cr;
          ++i;
        } else if (c == '\n') {
          return fail(bare_lf_reply(), i + 1);
        } else {
          i = take_run(in, i, out);  // sets the state after the run
        }
        break;
      case State::dot:
        if (c == '\r') {
          state_ = State::dot_cr;
          ++i;
        } else if (c == '\n') {
          return fail(bare_lf_reply(), i + 1);
        } else {
          state_ = State::in_line;  // the dot is dropped; `c` is data (even another dot)
        }
        break;
      case State::dot_cr:
        if (c != '\n') return fail(bare_cr_reply(), i + 1);
        state_ = State::done;
        return {DataStatus::done, i + 1};
      case State::cr:
        if (c != '\n') return fail(bare_cr_reply(), i + 1);
        end_line(out);
        state_ = State::line_start;
        ++i;
        break;
      case State::done:
      case State::failed:
        return {DataStatus::failed, i};  // not reached: feed() returns on entering them
    }
  }
  return {DataStatus::need_more, in.size()};
}

void CrlfChecker::check(std::string_view chunk) {
  if (refusal_) return;
  for (char c : chunk) {
    if (pending_cr_ && c != '\n') {
      refusal_ = bare_cr_reply();
      return;
    }
    if (!pending_cr_ && c == '\n') {
      refusal_ = bare_lf_reply();
      return;
    }
    pending_cr_ = c == '\r';
  }
}

void CrlfChecker::finish() {
  if (!refusal_ && pending_cr_) refusal_ = bare_cr_reply();
  pending_cr_ = false;
}

void CrlfChecker::reset() {
  pending_cr_ = false;
  refusal_.reset();
}

}  // namespace imta::core::smtp
