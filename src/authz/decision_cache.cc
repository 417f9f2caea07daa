#include "authz/decision_cache.h"

#include <functional>

namespace yg::authz {

DecisionCache::DecisionCache(std::size_t max_entries, std::chrono::seconds allow_ttl,
                             std::chrono::seconds deny_ttl)
    : per_shard_(std::max<std::size_t>(1, (max_entries + kShards - 1) / kShards)),
      allow_ttl_(allow_ttl),
      deny_ttl_(deny_ttl) {}

DecisionCache::Shard& DecisionCache::shard_of(std::string_view key) {
  return shards_[std::hash<std::string_view>{}(key) % kShards];
}

std::optional<CachedDecision> DecisionCache::get(std::string_view key,
                                                 SteadyClock::time_point now) {
  Shard& s = shard_of(key);
  std::lock_guard lk(s.mu);
  // C++20 heterogeneous lookup needs a transparent hash; one std::string per lookup is cheaper
  // than the engine call it saves and keeps the map simple.
  auto it = s.map.find(std::string(key));
  if (it == s.map.end()) {
    return std::nullopt;
  }
  if (it->second.expires <= now) {
    s.order.erase(it->second.lru);
    s.map.erase(it);
    return std::nullopt;
  }
  s.order.splice(s.order.begin(), s.order, it->second.lru);
  return it->second.decision;
}

void DecisionCache::put(std::string_view key, CachedDecision d, SteadyClock::time_point now) {
  if (key.size() > kMaxKeyBytes) {
    return;
  }
  const auto expires = now + (d.allow ? allow_ttl_ : deny_ttl_);
  Shard& s = shard_of(key);
  std::lock_guard lk(s.mu);
  std::string k(key);
  if (auto it = s.map.find(k); it != s.map.end()) {
    it->second.decision = std::move(d);
    it->second.expires = expires;
    s.order.splice(s.order.begin(), s.order, it->second.lru);
    return;
  }
  while (s.map.size() >= per_shard_) {
    s.map.erase(s.order.back());
    s.order.pop_back();
  }
  s.order.push_front(k);
  s.map.emplace(std::move(k), Entry{std::move(d), expires, s.order.begin()});
}

void DecisionCache::clear() {
  for (auto& s : shards_) {
    std::lock_guard lk(s.mu);
    s.map.clear();
    s.order.clear();
  }
}

std::size_t DecisionCache::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lk(s.mu);
    n += s.map.size();
  }
  return n;
}

}  // namespace yg::authz
