#include "resilience/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace yg::resilience {
namespace {
using namespace std::chrono_literals;

const SteadyClock::time_point t0{std::chrono::hours(1)};

TEST(TokenBucket, BurstThenOneEveryInterval) {
  TokenBucket b({10, 5});  // 10/s, burst 5
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(b.take(t0).allowed) << i;
  }
  auto r = b.take(t0);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after, 100ms);
  EXPECT_FALSE(b.take(t0 + 99ms).allowed);
  EXPECT_TRUE(b.take(t0 + 100ms).allowed);
  EXPECT_FALSE(b.take(t0 + 100ms).allowed);
  // Idle for a second: the whole burst is back, and no more.
  int n = 0;
  while (b.take(t0 + 2s).allowed) {
    ++n;
  }
  EXPECT_EQ(n, 5);
}

TEST(TokenBucket, SustainedRateMatchesSettings) {
  TokenBucket b({50, 1});
  int allowed = 0;
  for (int ms = 0; ms < 10000; ++ms) {
    allowed += b.take(t0 + std::chrono::milliseconds(ms)).allowed ? 1 : 0;
  }
  EXPECT_EQ(allowed, 500);
}

TEST(TokenBucket, ConcurrentTakersNeverExceedTheBurst) {
  TokenBucket b({1, 1000});
  std::atomic<int> allowed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        allowed += b.take(t0).allowed ? 1 : 0;
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  EXPECT_EQ(allowed.load(), 1000);
}

KeyedLimiter::Key key(uint32_t n) {
  KeyedLimiter::Key k{};
  k[10] = 0xFF;
  k[11] = 0xFF;
  k[12] = static_cast<uint8_t>(n >> 24);
  k[13] = static_cast<uint8_t>(n >> 16);
  k[14] = static_cast<uint8_t>(n >> 8);
  k[15] = static_cast<uint8_t>(n);
  return k;
}

TEST(KeyedLimiter, KeysAreIsolated) {
  KeyedLimiter l({1, 2}, 1000);
  EXPECT_TRUE(l.take(key(1), t0).allowed);
  EXPECT_TRUE(l.take(key(1), t0).allowed);
  auto r = l.take(key(1), t0);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after, 1s);
  EXPECT_TRUE(l.take(key(2), t0).allowed);
  EXPECT_TRUE(l.take(key(1), t0 + 1s).allowed);
}

// A million distinct clients (one request each, spread over time as a scan would be) leave at
// most max_keys buckets behind; idle ones are dropped first, so no active client is evicted.
TEST(KeyedLimiter, MillionDistinctKeysStayBounded) {
  KeyedLimiter l({10, 10}, 10000);
  for (uint32_t i = 0; i < 1'000'000; ++i) {
    ASSERT_TRUE(l.take(key(i), t0 + std::chrono::microseconds(i * 100)).allowed);
  }
  EXPECT_LE(l.size(), 10000u);
  EXPECT_EQ(l.evicted_active(), 0u);
}

// More active clients than room: still bounded, evictions counted, nobody wrongly refused.
TEST(KeyedLimiter, ActiveFloodEvictsButStaysBounded) {
  KeyedLimiter l({1, 1}, 1000);
  for (uint32_t i = 0; i < 100'000; ++i) {
    ASSERT_TRUE(l.take(key(i), t0).allowed);
  }
  EXPECT_LE(l.size(), 1000u);
  EXPECT_GT(l.evicted_active(), 0u);
}

}  // namespace
}  // namespace yg::resilience
