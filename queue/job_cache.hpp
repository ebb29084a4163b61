// The job controller's queue cache: every queue file it knows, per channel,
// with its attempt count and the time it is next due. Sized for queues of
// millions of files: an entry is 40 bytes (the id inline, no per-entry heap
// allocation), found by id through an open-addressing table of slot numbers,
// ordered by due time in a binary heap of (due, slot) pairs, and files whose
// time has come move to a FIFO of ready slots that jobs take from.
//
// A file is in one of three states: waiting (in the heap, not yet due),
// ready (due, queued for the next job of its channel) or running (claimed
// by a job). Not thread-safe: the controller holds its mutex around it.
// Held files are never added. The cache knows nothing of clocks: callers
// pass "now" and due times (Unix ms).
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "queue/queue_name.hpp"

namespace imta::queue {

class ChannelCache;

/// One file as the cache reports it.
struct CachedFile {
  std::string channel;
  QueueFileName name;
  std::filesystem::path path;
  std::int64_t due_ms = 0;
  bool running = false;
};

enum class FileState : std::uint8_t { free, waiting, ready, running };

/// The files of one channel.
class ChannelCache {
 public:
  using Slot = std::uint32_t;
  static constexpr Slot no_slot = 0xFFFFFFFFu;

  ChannelCache(std::string name, std::filesystem::path folder);
  ~ChannelCache();
  ChannelCache(const ChannelCache&) = delete;
  ChannelCache& operator=(const ChannelCache&) = delete;

  const std::string& name() const { return name_; }

  enum class Added { added, updated, unchanged, running };
  /// Records a file seen on disk (scan or notification) in `subfolder` of
  /// the channel folder ("" = the folder itself), due at `due_ms`. A known
  /// file (same id) that waits is moved to the new name and due time when
  /// its attempt count changed (someone else tried it); a running one is
  /// left to its job. Marks the file seen in `epoch` (see forget_unseen).
  Added add(const QueueFileName& name, std::string_view subfolder, std::int64_t due_ms, std::uint8_t epoch);

  /// Moves every waiting file due at `now_ms` or earlier to the ready FIFO.
  void promote(std::int64_t now_ms);
  std::size_t ready_count() const { return ready_n_; }
  std::size_t waiting_count() const { return waiting_; }
  std::size_t running_count() const { return running_; }
  std::size_t size() const { return live_; }

  /// The oldest ready file, now running; nullopt when none is ready.
  std::optional<Slot> take_ready();

  /// A running (or any) file is gone: forget it.
  void remove(Slot slot);
  /// A running file failed for now: it waits again, as `name` (same
  /// folder), until `due_ms`; it counts as seen in `epoch`.
  void requeue(Slot slot, const QueueFileName& name, std::int64_t due_ms, std::uint8_t epoch);
  /// The file by id, if known.
  std::optional<Slot> find(std::string_view id) const;

  /// Forgets the waiting and ready files not seen in `epoch` (vanished since
  /// the last full scan); running files stay. Returns how many went.
  std::size_t forget_unseen(std::uint8_t epoch);

  /// The earliest due time of a waiting file, if any (drops stale heap
  /// items on the way, hence not const).
  std::optional<std::int64_t> next_due();

  /// What the cache holds for `slot`.
  QueueFileName name_of(Slot slot) const;
  std::filesystem::path path_of(Slot slot) const;
  FileState state_of(Slot slot) const;
  std::int64_t due_of(Slot slot) const;
  /// Slots ever allocated: slots below this may hold files (for walking
  /// the cache a piece at a time).
  Slot slot_count() const { return slots_; }
  /// Every file (for `imta cache -view`), waiting ones in no particular order.
  void for_each(const std::function<void(Slot)>& visit) const;

  /// Bytes held by this channel's structures (capacity, not just size).
  std::size_t memory_bytes() const;

 private:
  struct Entry;
  struct HeapItem {
    std::int64_t due;
    Slot slot;
  };
  Entry& at(Slot slot);
  const Entry& at(Slot slot) const;
  Slot allocate();
  void release(Slot slot);
  std::string_view id_of(const Entry& e, Slot slot) const;
  void set_id(Entry& e, Slot slot, std::string_view id);
  std::uint16_t folder_index(std::string_view subfolder);
  void push_heap(std::int64_t due, Slot slot);
  void rebuild_heap();
  void set_state(Entry& e, FileState state);
  // The id index: open addressing over slot numbers.
  std::size_t lookup(std::string_view id) const;
  void index_insert(Slot slot);
  void index_erase(Slot slot);
  void rehash(std::size_t buckets);

  std::string name_;
  std::filesystem::path folder_;
  std::vector<std::unique_ptr<Entry[]>> chunks_;
  Slot slots_ = 0;          // slots ever allocated
  Slot free_head_ = no_slot;
  std::size_t live_ = 0;
  std::size_t waiting_ = 0;
  std::size_t ready_n_ = 0;
  std::size_t running_ = 0;
  std::vector<Slot> index_;  // buckets: no_slot empty, tombstone, or a slot
  std::size_t index_used_ = 0;  // slots + tombstones
  std::vector<HeapItem> heap_;
  std::deque<Slot> ready_;
  std::vector<std::string> folders_{""};  // subfolder names; 0 = the channel folder
  std::unordered_map<Slot, std::string> long_ids_;  // ids too long to keep inline
};

/// Every channel's files.
class QueueCache {
 public:
  explicit QueueCache(std::filesystem::path queue_root) : root_(std::move(queue_root)) {}
  /// The channel's cache, created on first use.
  ChannelCache& channel(std::string_view name);
  ChannelCache* find(std::string_view name);
  const ChannelCache* find(std::string_view name) const;
  std::vector<ChannelCache*> channels();
  std::vector<const ChannelCache*> channels() const;
  std::size_t size() const;
  std::size_t memory_bytes() const;
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  std::vector<std::unique_ptr<ChannelCache>> channels_;
};

}  // namespace imta::queue
