#include "cache/tiered.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "cache/memory_backend.h"
#include "support/run_coro.h"

namespace yg::cache {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

const SysTime t0{std::chrono::hours(24 * 365 * 50)};

using test::run_coro;

EntryPtr entry(std::string body, SysTime expires = t0 + 3600s) {
  auto e = std::make_shared<Entry>();
  e->meta.size = body.size();
  e->meta.etag = "\"e\"";
  e->meta.expires = expires;
  e->body = std::move(body);
  return e;
}

std::shared_ptr<MemoryBackend> memory(std::size_t cap = 1 << 20) {
  MemoryBackendOptions o;
  o.capacity_bytes = cap;
  o.max_item_bytes = cap / 2;
  o.shards = 1;
  return std::make_shared<MemoryBackend>(o);
}

// A layer that fails every operation (a broken disk, an unreachable Redis).
class BrokenBackend final : public CacheBackend {
 public:
  std::string_view name() const noexcept override { return "broken"; }
  asio::awaitable<std::optional<Hit>> get(std::string, SysTime) override {
    throw std::runtime_error("I/O error");
    co_return std::nullopt;
  }
  asio::awaitable<bool> put(std::string, EntryPtr) override {
    throw std::runtime_error("I/O error");
    co_return false;
  }
  asio::awaitable<bool> remove(std::string) override { co_return false; }
  asio::awaitable<std::size_t> remove_prefix(std::string) override {
    throw std::runtime_error("I/O error");
    co_return 0;
  }
  LayerStats stats() const override { return {}; }
  asio::awaitable<Usage> usage(std::string) override { co_return Usage{}; }
};

// Waits (bounded) for the engine's background writes to drain.
void settle(const TieredCache& t) {
  for (int i = 0; i < 500 && t.write_queue_pending() != 0; ++i) {
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_EQ(t.write_queue_pending(), 0u);
}

TEST(TieredCache, PutWritesFirstLayerAtOnceAndTheOthersBehind) {
  auto fast = memory(), slow = memory();
  TieredCache t({fast, slow});
  EXPECT_TRUE(run_coro(t.put("k", entry("hello"))));
  EXPECT_NE(fast->get_now("k", t0), nullptr) << "the first layer is written before put returns";
  settle(t);
  EXPECT_NE(slow->get_now("k", t0), nullptr);
  auto l = run_coro(t.get("k", t0));
  ASSERT_TRUE(l);
  EXPECT_EQ(l->layer, 0u);
  EXPECT_EQ(l->hit.entry->body, "hello");
}

TEST(TieredCache, LowerLayerHitIsServedAndPromoted) {
  auto fast = memory(), slow = memory();
  TieredCache t({fast, slow});
  ASSERT_TRUE(slow->put_now("k", entry("from below")));
  auto l = run_coro(t.get("k", t0));
  ASSERT_TRUE(l);
  EXPECT_EQ(l->layer, 1u);
  EXPECT_EQ(l->hit.entry->body, "from below");
  settle(t);
  auto promoted = fast->get_now("k", t0);
  ASSERT_NE(promoted, nullptr);
  EXPECT_EQ(promoted->body, "from below");
  EXPECT_EQ(run_coro(t.get("k", t0))->layer, 0u);
}

TEST(TieredCache, FullWriteQueueDropsAndCountsWithoutBlocking) {
  auto fast = memory(), slow = memory();
  TieredCache t({fast, slow}, /*write_queue_limit=*/0);
  EXPECT_TRUE(run_coro(t.put("k", entry("x"))));
  EXPECT_EQ(t.write_queue_dropped(), 1u);
  EXPECT_EQ(slow->get_now("k", t0), nullptr);
  EXPECT_NE(fast->get_now("k", t0), nullptr);
}

TEST(TieredCache, FailingLayerIsAMiss) {
  auto fast = memory();
  TieredCache t({std::make_shared<BrokenBackend>(), fast});
  EXPECT_FALSE(run_coro(t.put("k", entry("x"))));  // the first layer failed
  settle(t);
  EXPECT_GE(t.errors(), 1u);
  auto l = run_coro(t.get("k", t0));
  ASSERT_TRUE(l) << "the broken layer's failure falls through to the next";
  EXPECT_EQ(l->layer, 1u);
  EXPECT_EQ(run_coro(t.get("absent", t0)), std::nullopt);
  auto counts = run_coro(t.remove_prefix(""));
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0], (std::pair<std::string, std::size_t>{"broken", 0}));
  EXPECT_EQ(counts[1], (std::pair<std::string, std::size_t>{"memory", 1}));
}

TEST(TieredCache, ExpiredEntriesAreReturnedWithinTheGraceForTheCallerToJudge) {
  MemoryBackendOptions o;
  o.stale_grace = 30s;
  auto m = std::make_shared<MemoryBackend>(o);
  TieredCache t({m});
  ASSERT_TRUE(run_coro(t.put("k", entry("old", t0 + 10s))));
  auto stale = run_coro(t.get("k", t0 + 20s));
  ASSERT_TRUE(stale);
  EXPECT_FALSE(stale->hit.meta().fresh(t0 + 20s));
  EXPECT_EQ(run_coro(t.get("k", t0 + 41s)), std::nullopt);
}

TEST(TieredCache, PurgeCountsPerLayer) {
  auto a = memory(), b = memory();
  TieredCache t({a, b});
  run_coro(t.put("1:bk", entry("1")));
  run_coro(t.put("1:bj", entry("2")));
  run_coro(t.put("2:bb", entry("3")));
  settle(t);
  auto counts = run_coro(t.remove_prefix("1:b"));
  EXPECT_EQ(counts, (LayerCounts{{"memory", 2}, {"memory", 2}}));
  EXPECT_TRUE(run_coro(t.get("2:bb", t0)));
}

}  // namespace
}  // namespace yg::cache
