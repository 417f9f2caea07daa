#include "cache/memory_backend.h"

namespace yg::cache {

boost::asio::awaitable<std::optional<Hit>> MemoryBackend::get(std::string key, SysTime now) {
  if (auto e = store_.get(key, now)) {
    co_return Hit{std::move(e), nullptr};
  }
  co_return std::nullopt;
}

boost::asio::awaitable<bool> MemoryBackend::put(std::string key, EntryPtr e) {
  co_return store_.put(key, std::move(e));
}

boost::asio::awaitable<bool> MemoryBackend::remove(std::string key) {
  co_return store_.remove(key);
}

boost::asio::awaitable<Usage> MemoryBackend::usage(std::string prefix) {
  co_return store_.usage(prefix);
}

boost::asio::awaitable<std::size_t> MemoryBackend::remove_prefix(std::string prefix) {
  co_return store_.remove_if([&](std::string_view k) { return k.starts_with(prefix); });
}

LayerStats MemoryBackend::stats() const {
  const auto s = store_.stats();
  LayerStats l;
  l.hits = s.hits;
  l.misses = s.misses;
  l.inserts = s.inserts;
  l.rejected = s.rejected_too_large;
  l.evictions = s.evictions;
  l.expirations = s.expirations;
  l.removals = s.removals;
  l.items = s.entries;
  l.bytes = s.bytes;
  l.capacity_bytes = store_.capacity_bytes();
  return l;
}

}  // namespace yg::cache
