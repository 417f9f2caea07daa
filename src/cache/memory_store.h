#pragma once
// The memory tier's store (FEATURES.md CACHE-2): byte-bounded, item-limited, TTL, sharded (one
// short mutex per shard, no global lock), with S3-FIFO admission and eviction (Yang et al.,
// "FIFO queues are all you need for cache eviction", SOSP 2023):
//
//   small FIFO (10 % of a shard's bytes)  new objects land here; most one-hit wonders leave
//                                         from here without disturbing the main queue
//   main FIFO (90 %)                      objects read again while in small, or remembered by
//                                         the ghost queue, live here; eviction gives each
//                                         object with reads left another lap (2-bit counter)
//   ghost FIFO (keys only)                recently evicted-from-small keys: a re-insert goes
//                                         straight to main
//
// On skewed traffic this matches or beats W-TinyLFU and clearly beats LRU (bench_cache shows
// hit ratios on Zipf traces beside a plain LRU); a hit only bumps a saturating counter, no list
// surgery, so the critical section of a read is a hash probe.
//
// Values are shared immutable entries: a hit hands out a shared_ptr, the store can evict the
// entry meanwhile and the reader keeps its bytes until it has written them.
//
// MemoryBackend (memory_backend.h) puts it behind the CacheBackend interface.

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/backend.h"
#include "core/clock.h"

namespace yg::cache {

struct MemoryStoreStats {
  uint64_t hits = 0, misses = 0, inserts = 0, rejected_too_large = 0;
  uint64_t evictions = 0, expirations = 0, removals = 0;
  uint64_t promoted_to_main = 0, ghost_hits = 0;
  std::size_t entries = 0, bytes = 0;
};

class MemoryStore {
 public:
  // `capacity_bytes` across all shards; `max_item_bytes`: larger entries are refused.
  // `shards`: a power of two is not required; at least 1, and fewer when a shard's slice of the
  // budget would be smaller than the largest entry (max_item_bytes + 64 KiB of headroom).
  // `stale_grace`: how long past its expiry an entry is still kept and returned (stale-if-error).
  MemoryStore(std::size_t capacity_bytes, std::size_t max_item_bytes, std::size_t shards = 16,
              std::chrono::seconds stale_grace = std::chrono::seconds(0));

  // The entry under `key` while now < expires + stale grace, or nullptr (absent, or past that:
  // then it is dropped).
  EntryPtr get(std::string_view key, SysTime now);
  // Stores (or replaces) `key`. Returns false when the entry exceeds the item limit (or a
  // shard's whole budget).
  bool put(std::string_view key, EntryPtr e);
  bool remove(std::string_view key);
  // Whether `key` is held (any freshness), without counting a hit or a read.
  bool contains(std::string_view key) const;
  // Removes every key for which `match` is true; returns how many.
  template <class Pred>
  std::size_t remove_if(Pred match);
  void clear();
  // Items and bytes (charges) under keys starting with `prefix`.
  Usage usage(std::string_view prefix) const;

  MemoryStoreStats stats() const;
  std::size_t capacity_bytes() const noexcept { return capacity_; }

 private:
  struct Node {
    EntryPtr entry;
    std::size_t charge = 0;
    uint64_t gen = 0;      // matches the FIFO slot that holds this node
    uint8_t freq = 0;      // 0..3, bumped by reads
    bool in_main = false;  // which FIFO holds the key
  };
  // A FIFO slot. A node removed or replaced leaves its slot behind (removal stays O(1));
  // eviction skips slots whose generation no longer matches, and a queue with too many such
  // slots is compacted.
  struct Slot {
    std::string key;
    uint64_t gen;
  };
  // Heterogeneous lookup: a get() probes with the caller's string_view, no key copy.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept {
      return std::hash<std::string_view>{}(k);
    }
  };
  using Map = std::unordered_map<std::string, Node, KeyHash, std::equal_to<>>;
  struct Shard {
    mutable std::mutex mu;
    Map map;
    std::deque<Slot> small, main;  // push_back new, pop_front oldest
    std::deque<uint64_t> ghost;    // key hashes, oldest first
    std::unordered_set<uint64_t> ghost_set;
    std::size_t small_bytes = 0, main_bytes = 0;
    uint64_t next_gen = 1;
    MemoryStoreStats st;
  };

  Shard& shard_of(std::string_view key, uint64_t& hash);
  void make_room(Shard& s, std::size_t need);
  void evict_small(Shard& s);
  void evict_main(Shard& s);
  void remember_ghost(Shard& s, uint64_t hash);
  void erase_node(Shard& s, Map::iterator it);
  static bool live(const Shard& s, const Slot& slot, bool main);
  static void compact(Shard& s);

  std::size_t capacity_, max_item_, per_shard_;
  SysTime::duration grace_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

template <class Pred>
std::size_t MemoryStore::remove_if(Pred match) {
  std::size_t n = 0;
  for (auto& sp : shards_) {
    std::lock_guard lk(sp->mu);
    for (auto it = sp->map.begin(); it != sp->map.end();) {
      if (match(std::string_view(it->first))) {
        auto next = std::next(it);
        erase_node(*sp, it);
        it = next;
        ++n;
        ++sp->st.removals;
      } else {
        ++it;
      }
    }
  }
  return n;
}

}  // namespace yg::cache
