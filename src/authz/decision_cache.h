#pragma once
// The decision cache (FEATURES.md AUTHZ-3): answers of OPA or OpenFGA kept for a while, so a
// repeated request does not ask again. Allow and deny have their own TTLs (a deny is kept
// shorter, so a new grant takes effect sooner); the entry count is bounded (least recently used
// goes first); errors are never cached.
//
// Thread: shared by every worker of a runtime snapshot (and across reloads while the bucket's
// authorization config is unchanged). Sharded by key hash, one short mutex per shard: a lookup
// locks one shard for a hash-map probe and a list splice, never the whole cache.

#include <array>
#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"

namespace yg::authz {

struct CachedDecision {
  bool allow = false;
  std::string reason;  // the engine's explanation of a deny (OPA {allow, reason}), if any
};

class DecisionCache {
 public:
  // Keys longer than this are not cached (a request with an enormous token asks every time;
  // memory stays bounded by max_entries * this).
  static constexpr std::size_t kMaxKeyBytes = 16 * 1024;

  DecisionCache(std::size_t max_entries, std::chrono::seconds allow_ttl,
                std::chrono::seconds deny_ttl);

  std::optional<CachedDecision> get(std::string_view key, SteadyClock::time_point now);
  void put(std::string_view key, CachedDecision d, SteadyClock::time_point now);
  void clear();
  std::size_t size() const;

 private:
  static constexpr std::size_t kShards = 16;
  struct Entry {
    CachedDecision decision;
    SteadyClock::time_point expires;
    std::list<std::string>::iterator lru;  // position in Shard::order (front: most recent)
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry> map;
    std::list<std::string> order;
  };
  Shard& shard_of(std::string_view key);

  std::size_t per_shard_;
  std::chrono::seconds allow_ttl_, deny_ttl_;
  std::array<Shard, kShards> shards_;
};

}  // namespace yg::authz
