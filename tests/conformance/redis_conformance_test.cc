// The Redis layer (cache/redis_backend.h) under the conformance suite, against a real
// redis-server started once for this binary (tests/support/redis_server.h). Every make() gets
// its own key prefix; reopen() is a new backend over the most recent prefix (the data lives in
// Redis, so it survives the old backend); cleanup flushes the server.
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "cache/policy.h"
#include "cache/redis_backend.h"
#include "conformance/cache_backend_suite.h"
#include "redis/client.h"
#include "support/redis_server.h"
#include "support/run_coro.h"

namespace yg::cache::conformance {
namespace {

test::RedisServer& server() {
  static test::RedisServer s;  // killed by PID at exit
  return s;
}

struct Prefixes {
  std::atomic<int> n{0};
  std::string last;
};

std::shared_ptr<CacheBackend> open_redis(const std::string& prefix, const SuiteOptions& o) {
  redis::ClientOptions c;
  c.nodes = {redis::Endpoint{"127.0.0.1", server().port()}};
  c.command_timeout = std::chrono::milliseconds(2000);  // sanitizer builds on a loaded machine
  RedisBackendOptions r;
  r.client = redis::Client::create(c);
  r.key_prefix = prefix;
  r.max_ttl = std::chrono::seconds(3600 * 24);
  r.max_item_bytes = o.max_item_bytes;
  r.stale_grace = o.stale_grace;
  r.scan_count = 50;  // several SCAN rounds even for the suite's small key sets
  return std::make_shared<RedisBackend>(std::move(r));
}

BackendFactory redis_factory() {
  auto p = std::make_shared<Prefixes>();
  BackendFactory f;
  f.name = "redis";
  f.make = [p](const SuiteOptions& o) {
    // Glob characters in the prefix: the purge and usage walks must escape them.
    p->last = "yg-conf*[" + std::to_string(p->n.fetch_add(1)) + "]?:";
    return open_redis(p->last, o);
  };
  f.cleanup = [] { server().cli({"FLUSHALL"}); };
  f.supports_reopen = true;
  f.reopen = [p](const SuiteOptions& o) -> std::shared_ptr<CacheBackend> {
    if (p->last.empty()) {
      throw std::logic_error("reopen before make");
    }
    return open_redis(p->last, o);
  };
  f.global_eviction_order = false;
  f.owns_storage = false;  // capacity and eviction are the Redis server's
  return f;
}

// What stands in for the capacity cases the suite skips for this layer: a Redis at its maxmemory
// with an LRU policy (what docs/REDIS.md tells operators to run) keeps taking writes, every
// entry just written is whole, and Redis stays within its limit by evicting.
TEST(RedisLayerCapacity, AFullRedisEvictsAndEveryWriteStaysReadable) {
  test::RedisServerOptions so;
  so.args = {"--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"};
  test::RedisServer full(so);
  redis::ClientOptions c;
  c.nodes = {redis::Endpoint{"127.0.0.1", full.port()}};
  c.command_timeout = std::chrono::milliseconds(2000);
  RedisBackendOptions r;
  r.client = redis::Client::create(c);
  r.max_ttl = std::chrono::seconds(3600);
  RedisBackend b(std::move(r));
  const SysTime t0 = SysClock::now();
  for (int i = 0; i < 1500; ++i) {
    auto e = std::make_shared<Entry>();
    e->body = std::string(4000, static_cast<char>('a' + i % 26));
    e->meta.size = e->body.size();
    e->meta.etag = "\"" + std::to_string(i) + "\"";
    e->meta.stored = t0;
    e->meta.expires = t0 + std::chrono::hours(1);
    const std::string k = cache_key("bucket", "obj-" + std::to_string(i));
    ASSERT_TRUE(test::run_coro_until_done(b.put(k, e))) << i;
    auto h = test::run_coro_until_done(b.get(k, t0));
    ASSERT_TRUE(h.has_value()) << "the entry just written is there: " << i;
    ASSERT_EQ(h->entry->body, e->body) << i;
    ASSERT_EQ(h->meta().etag, e->meta.etag) << i;
  }
  const Usage u = test::run_coro_until_done(b.usage(""));
  EXPECT_LT(u.items, 1500u) << "6 MB of values in a 2 MB Redis: some must have been evicted";
  EXPECT_GT(u.items, 100u);
  const std::string info = full.cli({"INFO", "stats"});
  EXPECT_NE(info.find("evicted_keys:"), std::string::npos);
  EXPECT_EQ(info.find("evicted_keys:0\r"), std::string::npos) << info;
  EXPECT_EQ(b.stats().errors, 0u);
}

INSTANTIATE_TEST_SUITE_P(Redis, CacheBackendConformance, ::testing::Values(redis_factory()),
                         BackendFactoryName{});

}  // namespace
}  // namespace yg::cache::conformance
