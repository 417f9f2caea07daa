#include "cache/memory_store.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

namespace yg::cache {
namespace {

using std::chrono::seconds;
const SysTime t0{std::chrono::hours(24 * 365 * 50)};

EntryPtr entry(std::size_t body_bytes, SysTime expires = t0 + seconds(3600), char fill = 'x') {
  auto e = std::make_shared<Entry>();
  e->meta.headers = "Content-Type: text/plain\r\n";
  e->body.assign(body_bytes, fill);
  e->meta.expires = expires;
  e->meta.size = body_bytes;
  return e;
}

TEST(MemoryStore, PutGetRemove) {
  MemoryStore m(1 << 20, 1 << 16, 4);
  EXPECT_EQ(m.get("a", t0), nullptr);
  ASSERT_TRUE(m.put("a", entry(100, t0 + seconds(10), 'a')));
  auto e = m.get("a", t0);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->body, std::string(100, 'a'));
  EXPECT_TRUE(m.remove("a"));
  EXPECT_FALSE(m.remove("a"));
  EXPECT_EQ(m.get("a", t0), nullptr);
  const auto st = m.stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 2u);
  EXPECT_EQ(st.entries, 0u);
  EXPECT_EQ(st.bytes, 0u);
}

TEST(MemoryStore, ExpiredEntriesAreMissesAndLeave) {
  MemoryStore m(1 << 20, 1 << 16, 1);
  m.put("a", entry(10, t0 + seconds(5)));
  EXPECT_NE(m.get("a", t0 + seconds(4)), nullptr);
  EXPECT_EQ(m.get("a", t0 + seconds(5)), nullptr);
  EXPECT_EQ(m.stats().expirations, 1u);
  EXPECT_EQ(m.stats().entries, 0u);
}

TEST(MemoryStore, ItemLimitIsEnforced) {
  MemoryStore m(1 << 20, 1000, 1);
  EXPECT_FALSE(m.put("big", entry(2000)));
  EXPECT_EQ(m.stats().rejected_too_large, 1u);
  EXPECT_EQ(m.get("big", t0), nullptr);
}

TEST(MemoryStore, ItemsUpToTheLimitFitASmallBudget) {
  // 64 MiB with a 10 MiB item limit: 16 slices of 4 MiB could hold no object above 4 MiB.
  MemoryStore m(64u << 20, 10u << 20);
  ASSERT_TRUE(m.put("eight", entry(8u << 20)));
  ASSERT_TRUE(m.put("ten", entry(10u << 20)));
  EXPECT_NE(m.get("eight", t0), nullptr);
  EXPECT_NE(m.get("ten", t0), nullptr);
  EXPECT_EQ(m.stats().rejected_too_large, 0u);
  // A budget smaller than one item still takes what fits in it (one slice).
  MemoryStore tiny(3u << 20, 10u << 20);
  EXPECT_TRUE(tiny.put("two", entry(2u << 20)));
  EXPECT_NE(tiny.get("two", t0), nullptr);
}

TEST(MemoryStore, ExactByteAccountingWithOverwrites) {
  MemoryStore m(1 << 20, 1 << 16, 2);
  m.put("k", entry(1000));
  const auto one = m.stats().bytes;
  EXPECT_EQ(one, entry(1000)->charge() + 1);
  m.put("k", entry(3000));  // replaces: counted once
  EXPECT_EQ(m.stats().bytes, entry(3000)->charge() + 1);
  EXPECT_EQ(m.stats().entries, 1u);
  m.remove("k");
  EXPECT_EQ(m.stats().bytes, 0u);
}

TEST(MemoryStore, NeverExceedsItsBudget) {
  const std::size_t cap = 200 * 1024;
  MemoryStore m(cap, 8 * 1024, 4);
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    m.put("k" + std::to_string(rng() % 3000), entry(100 + rng() % 4000));
    if (i % 3 == 0) {
      m.get("k" + std::to_string(rng() % 3000), t0);
    }
    ASSERT_LE(m.stats().bytes, cap) << i;
  }
  EXPECT_GT(m.stats().evictions, 0u);
}

TEST(MemoryStore, OneHitWondersDoNotFlushTheWorkingSet) {
  // A hot set read repeatedly, then a scan of never-reread keys several times the cache size:
  // the scan passes through the small queue and the hot set survives in main (an LRU would
  // have lost all of it).
  MemoryStore m(100 * 1024, 4096, 1);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) {
      const std::string k = "hot" + std::to_string(i);
      if (!m.get(k, t0)) {
        m.put(k, entry(1000));
      }
    }
  }
  for (int i = 0; i < 2000; ++i) {
    m.put("scan" + std::to_string(i), entry(1000));
  }
  int kept = 0;
  for (int i = 0; i < 40; ++i) {
    kept += m.get("hot" + std::to_string(i), t0) != nullptr ? 1 : 0;
  }
  EXPECT_GE(kept, 36);
}

TEST(MemoryStore, GhostHitGoesStraightToMain) {
  MemoryStore m(20 * 1024, 4096, 1);
  m.put("a", entry(1000));
  for (int i = 0; i < 30; ++i) {  // pushes "a" out of small unread: it becomes a ghost
    m.put("f" + std::to_string(i), entry(1000));
  }
  ASSERT_EQ(m.get("a", t0), nullptr);
  m.put("a", entry(1000));
  EXPECT_EQ(m.stats().ghost_hits, 1u);
}

TEST(MemoryStore, ReaderKeepsItsEntryAfterEviction) {
  MemoryStore m(10 * 1024, 4096, 1);
  m.put("a", entry(3000, t0 + seconds(60), 'q'));
  EntryPtr held = m.get("a", t0);
  m.clear();
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->body, std::string(3000, 'q'));
}

TEST(MemoryStore, RemoveIfMatchesKeys) {
  MemoryStore m(1 << 20, 1 << 16, 8);
  for (int i = 0; i < 50; ++i) {
    m.put("b1/" + std::to_string(i), entry(10));
    m.put("b2/" + std::to_string(i), entry(10));
  }
  EXPECT_EQ(m.remove_if([](std::string_view k) { return k.starts_with("b1/"); }), 50u);
  EXPECT_EQ(m.stats().entries, 50u);
  EXPECT_EQ(m.get("b1/3", t0), nullptr);
  EXPECT_NE(m.get("b2/3", t0), nullptr);
}

TEST(MemoryStore, ConcurrentReadersAndWriters) {
  const std::size_t cap = 256 * 1024;
  MemoryStore m(cap, 8 * 1024, 8);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&m, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 20000; ++i) {
        const std::string k = std::to_string(rng() % 500);
        if (auto e = m.get(k, t0)) {
          ASSERT_EQ(e->body.size() % 7, 0u);  // whole entries only
        } else {
          m.put(k, entry(7 * (1 + rng() % 200)));
        }
      }
    });
  }
  for (auto& th : ts) {
    th.join();
  }
  EXPECT_LE(m.stats().bytes, cap);
}

}  // namespace
}  // namespace yg::cache
