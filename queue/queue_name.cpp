#include "queue/queue_name.hpp"

namespace imta::queue {

namespace {
constexpr std::string_view digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

std::optional<unsigned> digit_value(char c) {
  auto pos = digits.find(c);
  if (pos == std::string_view::npos) return std::nullopt;
  return static_cast<unsigned>(pos);
}

bool valid_id(std::string_view id) {
  if (id.empty()) return false;
  for (char c : id)
    if (!digit_value(c)) return false;
  return true;
}
}  // namespace

std::string retry_prefix(unsigned attempts) {
  if (attempts > max_attempts) attempts = max_attempts;
  return {digits[35 - attempts / 36], digits[35 - attempts % 36]};
}

std::optional<unsigned> attempts_from_prefix(std::string_view prefix) {
  if (prefix.size() != 2) return std::nullopt;
  auto high = digit_value(prefix[0]);
  auto low = digit_value(prefix[1]);
  if (!high || !low) return std::nullopt;
  return (35 - *high) * 36 + (35 - *low);
}

std::string QueueFileName::str() const {
  std::string out;
  append_to(out);
  return out;
}

void QueueFileName::append_to(std::string& out) const {
  out.reserve(out.size() + 2 + id.size() + 5);
  out += retry_prefix(attempts);  // (two characters: no allocation of its own)
  out += id;
  out += held ? ".HELD" : ".00";
}

std::optional<QueueFileName> parse_queue_file_name(std::string_view name) {
  QueueFileName parsed;
  if (name.ends_with(".00")) {
    name.remove_suffix(3);
  } else if (name.ends_with(".HELD")) {
    name.remove_suffix(5);
    parsed.held = true;
  } else {
    return std::nullopt;
  }
  if (name.size() < 3) return std::nullopt;
  auto attempts = attempts_from_prefix(name.substr(0, 2));
  if (!attempts || !valid_id(name.substr(2))) return std::nullopt;
  parsed.attempts = *attempts;
  parsed.id = std::string(name.substr(2));
  return parsed;
}

}  // namespace imta::queue
