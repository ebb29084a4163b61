// The queue cache; see job_cache.hpp.
#include "queue/job_cache.hpp"

#include <algorithm>
#include <cstring>

namespace imta::queue {

namespace {

/// Ids up to this long live inside the entry (imta's own ids have 18
/// characters, Sun's too); longer ones, from files dropped in by hand, in
/// a side table.
constexpr std::size_t kInlineId = 22;
constexpr std::uint8_t kLongId = 0xFF;
/// Entries are allocated in chunks, so a big queue never needs one huge
/// block nor the spare half of a doubled vector.
constexpr std::size_t kChunk = 4096;
constexpr ChannelCache::Slot kTombstone = 0xFFFFFFFEu;

std::uint32_t hash_id(std::string_view id) {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

// The heap is a min-heap on due time.
bool later(const auto& a, const auto& b) { return a.due > b.due; }

}  // namespace

struct ChannelCache::Entry {
  std::int64_t due = 0;  ///< next due time; the next free slot while free
  char id[kInlineId];
  std::uint8_t id_len = 0;
  FileState state = FileState::free;
  std::uint16_t attempts = 0;
  std::uint16_t folder = 0;
  std::uint8_t epoch = 0;
};

ChannelCache::ChannelCache(std::string name, std::filesystem::path folder)
    : name_(std::move(name)), folder_(std::move(folder)) {
  static_assert(sizeof(Entry) == 40, "the memory figure in job_controller.cnf(5) assumes 40-byte entries");
}

ChannelCache::~ChannelCache() = default;

ChannelCache::Entry& ChannelCache::at(Slot slot) { return chunks_[slot / kChunk][slot % kChunk]; }
const ChannelCache::Entry& ChannelCache::at(Slot slot) const { return chunks_[slot / kChunk][slot % kChunk]; }

ChannelCache::Slot ChannelCache::allocate() {
  if (free_head_ != no_slot) {
    Slot s = free_head_;
    free_head_ = static_cast<Slot>(at(s).due);
    return s;
  }
  if (slots_ % kChunk == 0) chunks_.push_back(std::make_unique<Entry[]>(kChunk));
  return slots_++;
}

void ChannelCache::release(Slot slot) {
  Entry& e = at(slot);
  if (e.id_len == kLongId) long_ids_.erase(slot);
  e.state = FileState::free;
  e.id_len = 0;
  e.due = free_head_;
  free_head_ = slot;
}

std::string_view ChannelCache::id_of(const Entry& e, Slot slot) const {
  if (e.id_len == kLongId) return long_ids_.at(slot);
  return {e.id, e.id_len};
}

void ChannelCache::set_id(Entry& e, Slot slot, std::string_view id) {
  if (id.size() <= kInlineId) {
    std::memcpy(e.id, id.data(), id.size());
    e.id_len = static_cast<std::uint8_t>(id.size());
  } else {
    e.id_len = kLongId;
    long_ids_[slot] = std::string(id);
  }
}

std::uint16_t ChannelCache::folder_index(std::string_view subfolder) {
  for (std::size_t i = 0; i < folders_.size(); ++i)
    if (folders_[i] == subfolder) return static_cast<std::uint16_t>(i);
  if (folders_.size() >= 0xFFFF) return 0;  // cannot happen: subdirs is at most 1000
  folders_.emplace_back(subfolder);
  return static_cast<std::uint16_t>(folders_.size() - 1);
}

void ChannelCache::set_state(Entry& e, FileState state) {
  auto count = [this](FileState s) -> std::size_t* {
    switch (s) {
      case FileState::waiting: return &waiting_;
      case FileState::ready: return &ready_n_;
      case FileState::running: return &running_;
      case FileState::free: break;
    }
    return nullptr;
  };
  if (auto* n = count(e.state)) --*n;
  e.state = state;
  if (auto* n = count(state)) ++*n;
}

// --- the id index ------------------------------------------------------------------

std::size_t ChannelCache::lookup(std::string_view id) const {
  if (index_.empty()) return std::string::npos;
  const std::size_t mask = index_.size() - 1;
  for (std::size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
    Slot s = index_[i];
    if (s == no_slot) return std::string::npos;
    if (s != kTombstone && id_of(at(s), s) == id) return i;
  }
}

void ChannelCache::index_insert(Slot slot) {
  if ((index_used_ + 1) * 10 > index_.size() * 7) {
    // Half full after the rehash: bigger when live entries filled it, the
    // same size when tombstones did.
    std::size_t want = 16;
    while (want * 5 < (live_ + 1) * 10) want *= 2;
    rehash(want);
  }
  const std::size_t mask = index_.size() - 1;
  for (std::size_t i = hash_id(id_of(at(slot), slot)) & mask;; i = (i + 1) & mask) {
    if (index_[i] == no_slot || index_[i] == kTombstone) {
      if (index_[i] == no_slot) ++index_used_;
      index_[i] = slot;
      return;
    }
  }
}

void ChannelCache::index_erase(Slot slot) {
  std::size_t i = lookup(id_of(at(slot), slot));
  if (i != std::string::npos) index_[i] = kTombstone;
}

void ChannelCache::rehash(std::size_t buckets) {
  std::vector<Slot> old;
  old.swap(index_);
  index_.assign(std::max<std::size_t>(buckets, 16), no_slot);
  index_used_ = 0;
  const std::size_t mask = index_.size() - 1;
  for (Slot s : old) {
    if (s == no_slot || s == kTombstone) continue;
    for (std::size_t i = hash_id(id_of(at(s), s)) & mask;; i = (i + 1) & mask)
      if (index_[i] == no_slot) {
        index_[i] = s;
        ++index_used_;
        break;
      }
  }
}

// --- the due-time heap -------------------------------------------------------------

void ChannelCache::push_heap(std::int64_t due, Slot slot) {
  // Stale items (of files that went or changed) are dropped as they reach
  // the top; rebuild when they would make up most of the heap.
  if (heap_.size() > 1024 && heap_.size() > 2 * waiting_ + 1024) rebuild_heap();
  heap_.push_back({due, slot});
  std::push_heap(heap_.begin(), heap_.end(), [](const HeapItem& a, const HeapItem& b) { return later(a, b); });
}

void ChannelCache::rebuild_heap() {
  std::vector<HeapItem> fresh;
  fresh.reserve(waiting_ + 16);
  for (Slot s = 0; s < slots_; ++s)
    if (at(s).state == FileState::waiting) fresh.push_back({at(s).due, s});
  std::make_heap(fresh.begin(), fresh.end(), [](const HeapItem& a, const HeapItem& b) { return later(a, b); });
  heap_.swap(fresh);
}

std::optional<std::int64_t> ChannelCache::next_due() {
  auto cmp = [](const HeapItem& a, const HeapItem& b) { return later(a, b); };
  while (!heap_.empty()) {
    const HeapItem& top = heap_.front();
    const Entry& e = at(top.slot);
    if (e.state == FileState::waiting && e.due == top.due) return top.due;
    std::pop_heap(heap_.begin(), heap_.end(), cmp);
    heap_.pop_back();
  }
  return std::nullopt;
}

void ChannelCache::promote(std::int64_t now_ms) {
  auto cmp = [](const HeapItem& a, const HeapItem& b) { return later(a, b); };
  while (!heap_.empty() && heap_.front().due <= now_ms) {
    HeapItem top = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), cmp);
    heap_.pop_back();
    Entry& e = at(top.slot);
    if (e.state != FileState::waiting || e.due != top.due) continue;  // stale
    set_state(e, FileState::ready);
    ready_.push_back(top.slot);
  }
}

// --- files ---------------------------------------------------------------------------

ChannelCache::Added ChannelCache::add(const QueueFileName& name, std::string_view subfolder, std::int64_t due_ms,
                                      std::uint8_t epoch) {
  if (name.held) return Added::unchanged;  // never offered; callers skip them already
  const auto attempts = static_cast<std::uint16_t>(std::min(name.attempts, max_attempts));
  if (std::size_t i = lookup(name.id); i != std::string::npos) {
    const Slot s = index_[i];
    Entry& e = at(s);
    e.epoch = epoch;
    if (e.state == FileState::running) return Added::running;
    const std::uint16_t folder = folder_index(subfolder);
    if (e.attempts == attempts && e.folder == folder) return Added::unchanged;
    // Someone else tried it (imta run) or moved it: take the disk's word.
    e.attempts = attempts;
    e.folder = folder;
    if (e.state == FileState::waiting) {
      e.due = due_ms;
      push_heap(due_ms, s);
    }
    return Added::updated;
  }
  const Slot s = allocate();
  Entry& e = at(s);
  e = Entry{};
  set_id(e, s, name.id);
  e.attempts = attempts;
  e.folder = folder_index(subfolder);
  e.epoch = epoch;
  e.due = due_ms;
  set_state(e, FileState::waiting);
  ++live_;
  index_insert(s);
  push_heap(due_ms, s);
  return Added::added;
}

std::optional<ChannelCache::Slot> ChannelCache::take_ready() {
  while (!ready_.empty()) {
    Slot s = ready_.front();
    ready_.pop_front();
    Entry& e = at(s);
    if (e.state != FileState::ready) continue;  // removed meanwhile
    set_state(e, FileState::running);
    return s;
  }
  return std::nullopt;
}

void ChannelCache::remove(Slot slot) {
  Entry& e = at(slot);
  if (e.state == FileState::free) return;
  index_erase(slot);
  set_state(e, FileState::free);
  --live_;
  release(slot);
}

void ChannelCache::requeue(Slot slot, const QueueFileName& name, std::int64_t due_ms, std::uint8_t epoch) {
  Entry& e = at(slot);
  if (e.state == FileState::free) return;
  e.epoch = epoch;
  e.attempts = static_cast<std::uint16_t>(std::min(name.attempts, max_attempts));
  e.due = due_ms;
  set_state(e, FileState::waiting);
  push_heap(due_ms, slot);
}

std::optional<ChannelCache::Slot> ChannelCache::find(std::string_view id) const {
  std::size_t i = lookup(id);
  if (i == std::string::npos) return std::nullopt;
  return index_[i];
}

std::size_t ChannelCache::forget_unseen(std::uint8_t epoch) {
  std::size_t gone = 0;
  for (Slot s = 0; s < slots_; ++s) {
    const Entry& e = at(s);
    if (e.state == FileState::free || e.state == FileState::running || e.epoch == epoch) continue;
    remove(s);
    ++gone;
  }
  if (gone > 0) rebuild_heap();
  return gone;
}

QueueFileName ChannelCache::name_of(Slot slot) const {
  const Entry& e = at(slot);
  QueueFileName n;
  n.attempts = e.attempts;
  n.id = std::string(id_of(e, slot));
  n.held = false;
  return n;
}

std::filesystem::path ChannelCache::path_of(Slot slot) const {
  const Entry& e = at(slot);
  std::filesystem::path p = folder_;
  if (e.folder != 0) p /= folders_[e.folder];
  return p / name_of(slot).str();
}

FileState ChannelCache::state_of(Slot slot) const { return at(slot).state; }
std::int64_t ChannelCache::due_of(Slot slot) const { return at(slot).due; }

void ChannelCache::for_each(const std::function<void(Slot)>& visit) const {
  for (Slot s = 0; s < slots_; ++s)
    if (at(s).state != FileState::free) visit(s);
}

std::size_t ChannelCache::memory_bytes() const {
  std::size_t bytes = sizeof(*this) + chunks_.size() * kChunk * sizeof(Entry) +
                      chunks_.capacity() * sizeof(chunks_[0]) + index_.capacity() * sizeof(Slot) +
                      heap_.capacity() * sizeof(HeapItem) + ready_.size() * sizeof(Slot);
  for (const auto& [slot, id] : long_ids_) bytes += sizeof(slot) + id.capacity() + 32;
  return bytes;
}

// --- every channel ---------------------------------------------------------------------

ChannelCache& QueueCache::channel(std::string_view name) {
  if (auto* c = find(name)) return *c;
  channels_.push_back(std::make_unique<ChannelCache>(std::string(name), root_ / std::string(name)));
  return *channels_.back();
}

ChannelCache* QueueCache::find(std::string_view name) {
  for (auto& c : channels_)
    if (c->name() == name) return c.get();
  return nullptr;
}

const ChannelCache* QueueCache::find(std::string_view name) const {
  for (const auto& c : channels_)
    if (c->name() == name) return c.get();
  return nullptr;
}

std::vector<ChannelCache*> QueueCache::channels() {
  std::vector<ChannelCache*> out;
  for (auto& c : channels_) out.push_back(c.get());
  return out;
}

std::vector<const ChannelCache*> QueueCache::channels() const {
  std::vector<const ChannelCache*> out;
  for (const auto& c : channels_) out.push_back(c.get());
  return out;
}

std::size_t QueueCache::size() const {
  std::size_t n = 0;
  for (const auto& c : channels_) n += c->size();
  return n;
}

std::size_t QueueCache::memory_bytes() const {
  std::size_t n = sizeof(*this);
  for (const auto& c : channels_) n += c->memory_bytes();
  return n;
}

}  // namespace imta::queue
