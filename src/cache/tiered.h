#pragma once
// The tiered cache engine (FEATURES.md CACHE-1): layers in `cache.cache_layers` order behind
// one CacheBackend interface, so the Redis layer (issue #7) joins without touching the rest.
//
//   get    layers in order; the first that has the key answers. A hit in a lower layer is
//          returned at once and copied into the faster layers in the background.
//   put    the first layer is written before put() completes (so a coalesced follower finds
//          the entry); the slower layers through a bounded background queue: when
//          `write_queue_limit` writes are pending, further ones are dropped and counted, never
//          waited for.
//   purge  every layer, with counts per layer.
//
// A layer that throws is a miss (counted in errors()). Background work runs on the engine's
// own threads (never a worker's); the destructor waits for it.

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cache/backend.h"

namespace yg::cache {

class MemoryBackend;

struct Lookup {
  Hit hit;
  std::size_t layer = 0;  // index in layers()
};

// How many entries each layer removed.
using LayerCounts = std::vector<std::pair<std::string, std::size_t>>;

class TieredCache {
 public:
  explicit TieredCache(std::vector<BackendPtr> layers, std::size_t write_queue_limit = 512);
  ~TieredCache();
  TieredCache(const TieredCache&) = delete;
  TieredCache& operator=(const TieredCache&) = delete;

  // `key` must stay valid until the lookup completes (the caller's, across its co_await).
  boost::asio::awaitable<std::optional<Lookup>> get(const std::string& key, SysTime now);
  // Write::Behind: the first layer now, the others through the background queue. Write::Through:
  // every layer, in order, before completing (a fill other instances are waiting for in Redis).
  enum class Write : uint8_t { Behind, Through };
  // true when the first layer stored it.
  boost::asio::awaitable<bool> put(std::string key, EntryPtr e, Write how = Write::Behind);
  // A file-backed hit's metadata and body as an in-memory entry (read on the engine's threads).
  // nullptr when the file could not be read.
  boost::asio::awaitable<EntryPtr> load_body(const Hit& h);
  // Every layer, or only the layers this instance owns (`local_only`: a purge another instance
  // already applied to the shared Redis layer).
  boost::asio::awaitable<LayerCounts> remove_prefix(std::string prefix, bool local_only = false);
  // Removes exactly `key` from every layer.
  boost::asio::awaitable<void> remove(std::string key);

  const std::vector<BackendPtr>& layers() const noexcept { return layers_; }
  uint64_t write_queue_pending() const noexcept { return pending_.load(); }
  uint64_t write_queue_dropped() const noexcept { return dropped_.load(); }
  uint64_t promotions() const noexcept { return promotions_.load(); }
  uint64_t errors() const noexcept { return errors_.load(); }

 private:
  // Runs `layer->put(key, e)` for each layer in [from, to) in the background, if the queue has
  // room; `e` may still need its body loaded (a file-backed hit being promoted).
  void write_behind(std::size_t from, std::size_t to, std::string key, EntryPtr e,
                    std::shared_ptr<const FileBody> file);
  boost::asio::awaitable<void> write_task(std::size_t from, std::size_t to, std::string key,
                                          EntryPtr e, std::shared_ptr<const FileBody> file,
                                          uint64_t generation);
  static boost::asio::awaitable<EntryPtr> load_task(std::shared_ptr<const FileBody> file,
                                                    EntryPtr meta);

  std::vector<BackendPtr> layers_;
  MemoryBackend* memory_first_ = nullptr;  // layers_[0] when it is the memory layer
  std::size_t limit_;
  std::atomic<uint64_t> pending_{0}, dropped_{0}, promotions_{0}, errors_{0};
  // Bumped by every removal: a write queued before it is dropped, so a purge is not undone by
  // a write-behind or a promotion that was still waiting.
  std::atomic<uint64_t> generation_{0};
  boost::asio::thread_pool bg_;
};

// Reads a file body into a string (blocking; for the engine's threads and tests).
bool read_file_body(const FileBody& f, std::string& out);

}  // namespace yg::cache
