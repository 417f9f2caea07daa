#pragma once
// The memory layer (FEATURES.md CACHE-2): the S3-FIFO MemoryStore behind CacheBackend. Every
// operation is a short critical section on one shard, so it completes without suspending.

#include "cache/backend.h"
#include "cache/memory_store.h"

namespace yg::cache {

struct MemoryBackendOptions {
  std::size_t capacity_bytes = 1024ull * 1024 * 1024;
  std::size_t max_item_bytes = 10ull * 1024 * 1024;
  std::size_t shards = 16;
  std::chrono::seconds stale_grace{0};
};

class MemoryBackend final : public CacheBackend {
 public:
  explicit MemoryBackend(const MemoryBackendOptions& o)
      : store_(o.capacity_bytes, o.max_item_bytes, o.shards, o.stale_grace) {}

  std::string_view name() const noexcept override { return "memory"; }
  boost::asio::awaitable<std::optional<Hit>> get(std::string key, SysTime now) override;
  boost::asio::awaitable<bool> put(std::string key, EntryPtr e) override;
  boost::asio::awaitable<bool> remove(std::string key) override;
  boost::asio::awaitable<std::size_t> remove_prefix(std::string prefix) override;
  LayerStats stats() const override;
  boost::asio::awaitable<Usage> usage(std::string prefix) override;
  Usage usage_now(std::string_view prefix) const { return store_.usage(prefix); }

  // The synchronous forms (the tiered engine's fast path for a memory first layer).
  EntryPtr get_now(std::string_view key, SysTime now) { return store_.get(key, now); }
  bool put_now(std::string_view key, EntryPtr e) { return store_.put(key, std::move(e)); }
  bool contains(std::string_view key) const { return store_.contains(key); }

 private:
  MemoryStore store_;
};

}  // namespace yg::cache
