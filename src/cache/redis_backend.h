#pragma once
// The Redis layer (FEATURES.md CACHE-4, OPS-7; docs/REDIS.md): entries in a Redis server or
// cluster shared by every instance, through the asynchronous client in src/redis.
//
// Keys are `key_prefix` + the cache key, unchanged (no hashing), so a purge by prefix is a SCAN
// MATCH on the escaped prefix that cannot miss a long key. Cache keys start with a digit (the
// bucket name's length); the proxy's other keys under the prefix (fill locks) do not, so a
// whole-cache walk (prefix "") matches "<key_prefix>[0-9]*". Values are the body + the metadata
// strings + a versioned binary trailer (lengths, times, version, magic), body first so a hit
// keeps the reply's buffer as its body; a value that does not decode is a miss and is deleted. The
// Redis TTL of a value is its freshness plus the stale grace, bounded by `max_ttl`
// (redis_ttl_seconds); expiry is checked again against the caller's clock on every read.
//
// Failures never escape: any Redis problem (down, slow, error reply) is a miss or a refused
// write, counted in stats().errors, and the client reconnects on its own.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "cache/backend.h"

namespace yg::redis {
class Client;
}

namespace yg::cache {

struct RedisBackendOptions {
  std::shared_ptr<redis::Client> client;
  std::string key_prefix = "yatagarasu:";
  std::chrono::seconds max_ttl{3600};  // redis_ttl_seconds
  uint64_t max_item_bytes = 64ull << 20;
  std::chrono::seconds stale_grace{0};
  std::size_t scan_count = 1000;  // SCAN COUNT hint for purges and usage walks
};

// The value layout, exposed for tests: body + encode_tail(meta) decodes to the entry.
namespace redis_value {
inline constexpr std::size_t kTrailer = 52;  // the fixed part at the end of every value
// The metadata strings and the fixed trailer that follow the body in a stored value.
std::string encode_tail(const Meta& m);
// Parses a stored value; nullptr when it is not one of ours (bad magic, version or lengths).
// Takes the string by value and moves the body out of it (no copy of a large body).
EntryPtr decode(std::string value);
}  // namespace redis_value

class RedisBackend final : public CacheBackend {
 public:
  explicit RedisBackend(RedisBackendOptions o);

  std::string_view name() const noexcept override { return "redis"; }
  boost::asio::awaitable<std::optional<Hit>> get(std::string key, SysTime now) override;
  boost::asio::awaitable<bool> put(std::string key, EntryPtr e) override;
  boost::asio::awaitable<bool> remove(std::string key) override;
  boost::asio::awaitable<std::size_t> remove_prefix(std::string prefix) override;
  LayerStats stats() const override;
  boost::asio::awaitable<Usage> usage(std::string prefix) override;
  bool shared() const noexcept override { return true; }

  const redis::Client& client() const noexcept { return *o_.client; }
  const std::string& key_prefix() const noexcept { return o_.key_prefix; }

 private:
  // Every key under `prefix` on every master, in batches handed to `each` (SCAN MATCH).
  template <class Fn>
  boost::asio::awaitable<bool> scan(const std::string& prefix, Fn&& each);

  RedisBackendOptions o_;
  mutable std::atomic<uint64_t> hits_{0}, misses_{0}, inserts_{0}, rejected_{0}, expirations_{0},
      removals_{0}, errors_{0};
  std::atomic<uint64_t> items_{0}, bytes_{0};  // from the last usage("") walk
};

// Escapes `s` for a Redis glob pattern (MATCH): '*', '?', '[', ']' and '\' match themselves.
std::string redis_glob_escape(std::string_view s);

}  // namespace yg::cache
