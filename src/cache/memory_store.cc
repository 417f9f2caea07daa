#include "cache/memory_store.h"

#include <algorithm>
#include <functional>

namespace yg::cache {

namespace {
// Each shard has its own slice of the budget and holds whole entries, so a slice must fit the
// largest cacheable entry (body up to max_item plus its headers and key): a small budget with a
// big item limit gets fewer shards instead of refusing every large object (64 MiB budget, 10 MiB
// items: 16 shards of 4 MiB could never hold an 8 MiB object).
constexpr std::size_t kEntryHeadroom = 64 * 1024;

std::size_t shard_count(std::size_t capacity, std::size_t max_item, std::size_t requested) {
  const std::size_t fit = capacity / (max_item + kEntryHeadroom);
  return std::max<std::size_t>(1, std::min(requested, fit));
}
}  // namespace

MemoryStore::MemoryStore(std::size_t capacity_bytes, std::size_t max_item_bytes, std::size_t shards,
                         std::chrono::seconds stale_grace)
    : capacity_(capacity_bytes),
      max_item_(max_item_bytes),
      per_shard_(capacity_bytes / shard_count(capacity_bytes, max_item_bytes, shards)),
      grace_(stale_grace) {
  const std::size_t n = shard_count(capacity_bytes, max_item_bytes, shards);
  shards_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    shards_.push_back(std::make_unique<Shard>());
  }
}

MemoryStore::Shard& MemoryStore::shard_of(std::string_view key, uint64_t& hash) {
  hash = std::hash<std::string_view>{}(key);
  // The high bits pick the shard, the whole hash names the key in the ghost queue.
  return *shards_[(hash >> 32) % shards_.size()];
}

bool MemoryStore::live(const Shard& s, const Slot& slot, bool main) {
  auto it = s.map.find(slot.key);
  return it != s.map.end() && it->second.gen == slot.gen && it->second.in_main == main;
}

void MemoryStore::compact(Shard& s) {
  for (bool main : {false, true}) {
    auto& q = main ? s.main : s.small;
    std::deque<Slot> kept;
    for (auto& slot : q) {
      if (live(s, slot, main)) {
        kept.push_back(std::move(slot));
      }
    }
    q.swap(kept);
  }
}

void MemoryStore::erase_node(Shard& s, Map::iterator it) {
  (it->second.in_main ? s.main_bytes : s.small_bytes) -= it->second.charge;
  s.map.erase(it);  // its FIFO slot goes stale
}

void MemoryStore::remember_ghost(Shard& s, uint64_t hash) {
  if (s.ghost_set.insert(hash).second) {
    s.ghost.push_back(hash);
  }
  // The ghost remembers about as many keys as the shard holds (at least a few dozen).
  const std::size_t cap = std::max<std::size_t>(64, s.map.size());
  while (s.ghost.size() > cap) {
    s.ghost_set.erase(s.ghost.front());
    s.ghost.pop_front();
  }
}

void MemoryStore::evict_small(Shard& s) {
  while (!s.small.empty()) {
    Slot slot = std::move(s.small.front());
    s.small.pop_front();
    if (!live(s, slot, false)) {
      continue;
    }
    auto it = s.map.find(slot.key);
    Node& n = it->second;
    if (n.freq >= 1) {
      // Read again while on probation: it earned a place in main.
      n.in_main = true;
      n.freq = 0;
      s.small_bytes -= n.charge;
      s.main_bytes += n.charge;
      s.main.push_back(std::move(slot));
      ++s.st.promoted_to_main;
      return;
    }
    uint64_t hash = std::hash<std::string_view>{}(slot.key);
    erase_node(s, it);
    remember_ghost(s, hash);
    ++s.st.evictions;
    return;
  }
}

void MemoryStore::evict_main(Shard& s) {
  while (!s.main.empty()) {
    Slot slot = std::move(s.main.front());
    s.main.pop_front();
    if (!live(s, slot, true)) {
      continue;
    }
    auto it = s.map.find(slot.key);
    if (it->second.freq > 0) {
      --it->second.freq;  // another lap
      s.main.push_back(std::move(slot));
      continue;
    }
    erase_node(s, it);
    ++s.st.evictions;
    return;
  }
}

void MemoryStore::make_room(Shard& s, std::size_t need) {
  // Every live node has exactly one live slot, so while the map is not empty one of the
  // queues has something to evict. Each round evicts one entry or promotes one from small
  // (which shrinks small until main's turn comes).
  while (s.small_bytes + s.main_bytes + need > per_shard_ && !s.map.empty()) {
    if (s.small_bytes > per_shard_ / 10 || s.main.empty()) {
      evict_small(s);
    } else {
      evict_main(s);
    }
  }
}

EntryPtr MemoryStore::get(std::string_view key, SysTime now) {
  uint64_t hash = 0;
  Shard& s = shard_of(key, hash);
  std::lock_guard lk(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    ++s.st.misses;
    return nullptr;
  }
  if (it->second.entry->meta.expires + grace_ <= now) {
    erase_node(s, it);
    ++s.st.expirations;
    ++s.st.misses;
    return nullptr;
  }
  it->second.freq = static_cast<uint8_t>(std::min<int>(it->second.freq + 1, 3));
  ++s.st.hits;
  return it->second.entry;
}

bool MemoryStore::put(std::string_view key, EntryPtr e) {
  const std::size_t charge = e->charge() + key.size();
  if (e->body.size() > max_item_ || charge > per_shard_) {
    uint64_t hash = 0;
    Shard& s = shard_of(key, hash);
    std::lock_guard lk(s.mu);
    ++s.st.rejected_too_large;
    return false;
  }
  uint64_t hash = 0;
  Shard& s = shard_of(key, hash);
  std::lock_guard lk(s.mu);
  std::string k(key);
  bool to_main = false;
  uint8_t freq = 0;
  if (auto it = s.map.find(k); it != s.map.end()) {
    // A replacement keeps the standing the key had earned.
    to_main = it->second.in_main;
    freq = it->second.freq;
    erase_node(s, it);
  } else if (s.ghost_set.erase(hash) != 0) {
    to_main = true;  // evicted from small recently and wanted again
    ++s.st.ghost_hits;
  }
  make_room(s, charge);
  const uint64_t gen = s.next_gen++;
  (to_main ? s.main_bytes : s.small_bytes) += charge;
  (to_main ? s.main : s.small).push_back(Slot{k, gen});
  s.map.emplace(std::move(k), Node{std::move(e), charge, gen, freq, to_main});
  ++s.st.inserts;
  if (s.small.size() + s.main.size() > 2 * s.map.size() + 64) {
    compact(s);
  }
  return true;
}

bool MemoryStore::remove(std::string_view key) {
  uint64_t hash = 0;
  Shard& s = shard_of(key, hash);
  std::lock_guard lk(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    return false;
  }
  erase_node(s, it);
  ++s.st.removals;
  return true;
}

bool MemoryStore::contains(std::string_view key) const {
  const auto& s = *shards_[(std::hash<std::string_view>{}(key) >> 32) % shards_.size()];
  std::lock_guard lk(s.mu);
  return s.map.find(key) != s.map.end();
}

Usage MemoryStore::usage(std::string_view prefix) const {
  Usage u;
  for (const auto& sp : shards_) {
    std::lock_guard lk(sp->mu);
    for (const auto& [k, n] : sp->map) {
      if (std::string_view(k).starts_with(prefix)) {
        ++u.items;
        u.bytes += n.charge;
      }
    }
  }
  return u;
}

void MemoryStore::clear() {
  for (auto& sp : shards_) {
    std::lock_guard lk(sp->mu);
    sp->map.clear();
    sp->small.clear();
    sp->main.clear();
    sp->small_bytes = sp->main_bytes = 0;
  }
}

MemoryStoreStats MemoryStore::stats() const {
  MemoryStoreStats t;
  for (const auto& sp : shards_) {
    std::lock_guard lk(sp->mu);
    const auto& st = sp->st;
    t.hits += st.hits;
    t.misses += st.misses;
    t.inserts += st.inserts;
    t.rejected_too_large += st.rejected_too_large;
    t.evictions += st.evictions;
    t.expirations += st.expirations;
    t.removals += st.removals;
    t.promoted_to_main += st.promoted_to_main;
    t.ghost_hits += st.ghost_hits;
    t.entries += sp->map.size();
    t.bytes += sp->small_bytes + sp->main_bytes;
  }
  return t;
}

}  // namespace yg::cache
