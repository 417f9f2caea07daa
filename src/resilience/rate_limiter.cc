#include "resilience/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace yg::resilience {
namespace {

int64_t ns_of(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int64_t interval_of(const RateSettings& s) {
  return static_cast<int64_t>(std::llround(1e9 / std::max(s.per_second, 1e-9)));
}

// GCRA on one arrival time: allowed when now >= tat - tolerance; then tat = max(tat, now) + T.
struct Step {
  bool allowed;
  int64_t next_tat;
  int64_t wait_ns;
};
Step gcra(int64_t tat, int64_t now, int64_t interval, int64_t tolerance) {
  const int64_t base = std::max(tat, now);
  if (base - tolerance > now) {
    return {false, tat, base - tolerance - now};
  }
  return {true, base + interval, 0};
}

RateDecision decision_of(const Step& s) {
  return {s.allowed, std::chrono::nanoseconds(std::max<int64_t>(s.wait_ns, 1))};
}

}  // namespace

TokenBucket::TokenBucket(RateSettings s)
    : s_(s),
      interval_ns_(interval_of(s)),
      tolerance_ns_(static_cast<int64_t>(std::max<uint32_t>(s.burst, 1) - 1) * interval_ns_) {}

RateDecision TokenBucket::take(SteadyClock::time_point now) {
  const int64_t n = ns_of(now);
  int64_t tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    const Step st = gcra(tat, n, interval_ns_, tolerance_ns_);
    if (!st.allowed) {
      return decision_of(st);
    }
    if (tat_.compare_exchange_weak(tat, st.next_tat, std::memory_order_relaxed)) {
      return {true, {}};
    }
  }
}

std::size_t KeyedLimiter::KeyHash::operator()(const Key& k) const noexcept {
  uint64_t a = 0;
  uint64_t b = 0;
  std::memcpy(&a, k.data(), 8);
  std::memcpy(&b, k.data() + 8, 8);
  uint64_t h = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL + (a << 6) + (a >> 2));
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return static_cast<std::size_t>(h);
}

KeyedLimiter::KeyedLimiter(RateSettings s, std::size_t max_keys)
    : s_(s),
      interval_ns_(interval_of(s)),
      tolerance_ns_(static_cast<int64_t>(std::max<uint32_t>(s.burst, 1) - 1) * interval_ns_),
      max_keys_(std::max<std::size_t>(max_keys, kShards)),
      per_shard_(max_keys_ / kShards) {}

RateDecision KeyedLimiter::take(const Key& key, SteadyClock::time_point now) {
  const int64_t n = ns_of(now);
  const std::size_t h = KeyHash{}(key);
  Shard& sh = shards_[(h >> 58) % kShards];
  std::lock_guard lock(sh.mu);
  auto it = sh.tat.find(key);
  if (it == sh.tat.end()) {
    if (sh.tat.size() >= per_shard_) {
      // Full: forget the clients whose bucket has refilled (nothing is lost by that)...
      std::erase_if(sh.tat, [n](const auto& kv) { return kv.second <= n; });
      // ...and if every one is still busy, make room anyway (those get a fresh burst): an
      // eighth of the shard at once, so a flood of new addresses costs one scan per
      // per_shard/8 of them, not one per request.
      if (sh.tat.size() >= per_shard_) {
        const std::size_t target = per_shard_ - std::max<std::size_t>(per_shard_ / 8, 1);
        while (sh.tat.size() > target) {
          sh.tat.erase(sh.tat.begin());
          evicted_active_.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
    it = sh.tat.emplace(key, INT64_MIN).first;
  }
  const Step st = gcra(it->second, n, interval_ns_, tolerance_ns_);
  if (!st.allowed) {
    return decision_of(st);
  }
  it->second = st.next_tat;
  return {true, {}};
}

std::size_t KeyedLimiter::size() const {
  std::size_t n = 0;
  for (const auto& sh : shards_) {
    std::lock_guard lock(sh.mu);
    n += sh.tat.size();
  }
  return n;
}

}  // namespace yg::resilience
