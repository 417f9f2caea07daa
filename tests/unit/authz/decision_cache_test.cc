#include "authz/decision_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace yg::authz {
namespace {

using std::chrono::seconds;
const SteadyClock::time_point t0{};

TEST(DecisionCache, AllowAndDenyExpireAfterTheirOwnTtl) {
  DecisionCache c(100, seconds(60), seconds(5));
  c.put("a", CachedDecision{true, ""}, t0);
  c.put("d", CachedDecision{false, "no"}, t0);
  auto a = c.get("a", t0 + seconds(4));
  auto d = c.get("d", t0 + seconds(4));
  ASSERT_TRUE(a && d);
  EXPECT_TRUE(a->allow);
  EXPECT_FALSE(d->allow);
  EXPECT_EQ(d->reason, "no");
  EXPECT_FALSE(c.get("d", t0 + seconds(5)));  // deny TTL over
  EXPECT_TRUE(c.get("a", t0 + seconds(59)));
  EXPECT_FALSE(c.get("a", t0 + seconds(60)));  // allow TTL over
  EXPECT_EQ(c.size(), 0u);                     // expired entries are dropped when seen
}

TEST(DecisionCache, OverwriteRefreshesDecisionAndExpiry) {
  DecisionCache c(100, seconds(10), seconds(10));
  c.put("k", CachedDecision{true, ""}, t0);
  c.put("k", CachedDecision{false, "revoked"}, t0 + seconds(8));
  auto d = c.get("k", t0 + seconds(15));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->allow);
  EXPECT_EQ(c.size(), 1u);
}

TEST(DecisionCache, BoundedByEntriesLeastRecentlyUsedGoesFirst) {
  // 16 shards: a bound of 16 is one entry per shard, so the shard of each key holds only the
  // most recent key that hashed there.
  DecisionCache c(16, seconds(60), seconds(60));
  for (int i = 0; i < 1000; ++i) {
    c.put("key-" + std::to_string(i), CachedDecision{true, ""}, t0);
  }
  EXPECT_LE(c.size(), 16u);
  EXPECT_TRUE(c.get("key-999", t0));  // the newest survives
}

TEST(DecisionCache, RecentlyReadEntrySurvivesEviction) {
  DecisionCache c(32, seconds(60), seconds(60));  // two per shard
  c.put("hot", CachedDecision{true, ""}, t0);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(c.get("hot", t0)) << i;  // read between every insert: never the LRU one
    c.put("cold-" + std::to_string(i), CachedDecision{true, ""}, t0);
  }
}

TEST(DecisionCache, HugeKeysAreNotCached) {
  DecisionCache c(10, seconds(60), seconds(60));
  const std::string big(DecisionCache::kMaxKeyBytes + 1, 'x');
  c.put(big, CachedDecision{true, ""}, t0);
  EXPECT_FALSE(c.get(big, t0));
  EXPECT_EQ(c.size(), 0u);
}

TEST(DecisionCache, ClearEmptiesEveryShard) {
  DecisionCache c(1000, seconds(60), seconds(60));
  for (int i = 0; i < 100; ++i) {
    c.put(std::to_string(i), CachedDecision{true, ""}, t0);
  }
  EXPECT_EQ(c.size(), 100u);
  c.clear();
  EXPECT_EQ(c.size(), 0u);
}

TEST(DecisionCache, ConcurrentReadersAndWriters) {
  DecisionCache c(256, seconds(60), seconds(60));
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&c, t] {
      for (int i = 0; i < 20000; ++i) {
        const std::string k = std::to_string((i * 7 + t) % 500);
        if (auto d = c.get(k, t0)) {
          ASSERT_EQ(d->allow, k.size() % 2 == 0);
        } else {
          c.put(k, CachedDecision{k.size() % 2 == 0, ""}, t0);
        }
      }
    });
  }
  for (auto& th : ts) {
    th.join();
  }
  EXPECT_LE(c.size(), 256u + 16u);
}

}  // namespace
}  // namespace yg::authz
