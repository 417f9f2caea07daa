#pragma once
// Token buckets for rate limits (FEATURES.md OPS-3), as GCRA: one "theoretical arrival time"
// per bucket instead of a token count and a refill timestamp, so a check is one atomic
// compare-exchange and an idle bucket needs no timer to refill. A bucket whose arrival time is
// in the past is full: that is what lets the keyed limiter forget idle clients at any time.
//
// Rate r per second, burst b: up to b requests at once, then one every 1/r seconds.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/clock.h"

namespace yg::resilience {

struct RateSettings {
  double per_second = 1;
  uint32_t burst = 1;  // >= 1
  bool operator==(const RateSettings&) const = default;
};

struct RateDecision {
  bool allowed = true;
  SteadyClock::duration retry_after{};  // refused: when one request would be allowed again
};

// One bucket shared by every worker (global or per-bucket limits).
class TokenBucket {
 public:
  explicit TokenBucket(RateSettings s);
  RateDecision take(SteadyClock::time_point now);
  const RateSettings& settings() const noexcept { return s_; }

 private:
  const RateSettings s_;
  const int64_t interval_ns_;   // 1 / rate
  const int64_t tolerance_ns_;  // (burst - 1) * interval
  std::atomic<int64_t> tat_{INT64_MIN};
};

// Buckets keyed by client address (16 bytes: IPv4 as v4-mapped IPv6), for per-IP limits.
// Memory is bounded: at most `max_keys` buckets in all. A shard that is full first drops its
// buckets that are full again (idle clients: forgetting them changes nothing), then, if every
// bucket is still in use (more active clients than max_keys), drops arbitrary ones: those
// clients get a fresh burst. Evictions are counted.
class KeyedLimiter {
 public:
  using Key = std::array<uint8_t, 16>;
  KeyedLimiter(RateSettings s, std::size_t max_keys);
  RateDecision take(const Key& key, SteadyClock::time_point now);

  std::size_t size() const;                   // buckets held
  uint64_t evicted_active() const noexcept {  // in-use buckets dropped for room
    return evicted_active_.load(std::memory_order_relaxed);
  }
  const RateSettings& settings() const noexcept { return s_; }
  std::size_t max_keys() const noexcept { return max_keys_; }

 private:
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  static constexpr std::size_t kShards = 64;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<Key, int64_t, KeyHash> tat;
  };
  const RateSettings s_;
  const int64_t interval_ns_, tolerance_ns_;
  const std::size_t max_keys_, per_shard_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> evicted_active_{0};
};

}  // namespace yg::resilience
