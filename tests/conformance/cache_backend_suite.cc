#include "conformance/cache_backend_suite.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

#include "cache/policy.h"
#include "support/run_coro.h"

namespace yg::cache::conformance {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// ---- driving the interface -------------------------------------------------------------------

const BackendFactory* g_factory = nullptr;  // the running case's parameter

// A layer that keeps connections on the caller's context (Redis) is driven until its operation
// completes; the others until the context runs out of work (their threads post back to it).
template <class T>
T run_coro(asio::awaitable<T> op) {
  if (g_factory != nullptr && !g_factory->owns_storage) {
    return test::run_coro_until_done(std::move(op));
  }
  return test::run_coro(std::move(op));
}

std::optional<Hit> get(CacheBackend& b, const std::string& key, SysTime now) {
  return run_coro(b.get(key, now));
}
bool put(CacheBackend& b, const std::string& key, EntryPtr e) {
  return run_coro(b.put(key, std::move(e)));
}
bool remove(CacheBackend& b, const std::string& key) {
  return run_coro(b.remove(key));
}
std::size_t remove_prefix(CacheBackend& b, const std::string& prefix) {
  return run_coro(b.remove_prefix(prefix));
}
Usage usage(CacheBackend& b, const std::string& prefix) {
  return run_coro(b.usage(prefix));
}
// Whether `key` is held, without a read (a read would change its standing for eviction).
bool holds(CacheBackend& b, const std::string& key) {
  return usage(b, key).items != 0;
}

// The body a hit serves: the entry's string, or the file's bytes read with pread (what sendfile
// would send). A body that cannot be read comes back as a marker that matches no real body.
std::string body_of(const Hit& h) {
  if (!h.file) {
    return h.entry->body;
  }
  std::string out(h.file->size(), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(h.file->fd(), out.data() + done, out.size() - done,
                              static_cast<off_t>(h.file->offset() + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return "<pread failed at " + std::to_string(done) + ": " +
             (n < 0 ? std::string(std::strerror(errno)) : std::string("end of file")) + ">";
    }
    done += static_cast<std::size_t>(n);
  }
  return out;
}

// ---- entries and keys ------------------------------------------------------------------------

// The start of the running case, to the second: a layer that keeps time by the real clock (the
// disk layer's start-up scan, Redis's TTLs) keeps the suite's entries.
SysTime g_t0{};
SysTime base_time() {
  return g_t0;
}

EntryPtr make_entry(std::string body, SysTime expires, std::string etag = "\"e0\"") {
  auto e = std::make_shared<Entry>();
  e->meta.headers =
      "Content-Type: application/octet-stream\r\nx-amz-meta-owner: conformance\r\n"
      "x-amz-version-id: 3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY\r\n";
  e->meta.cache_control = "public, max-age=3600";
  e->meta.etag = std::move(etag);
  e->meta.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
  e->meta.size = body.size();
  e->meta.stored = expires - 1h;
  e->meta.expires = expires;
  e->body = std::move(body);
  return e;
}

EntryPtr make_entry(std::size_t size, char fill = 'x') {
  return make_entry(std::string(size, fill), base_time() + 1h);
}

// Every byte value, NULs and CR/LF included.
std::string binary_body(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    s[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  }
  return s;
}

// Fixed-width object names: no test key is a prefix of another, so usage(key) counts one key.
std::string key(int i, std::string_view bucket = "bucket") {
  char name[32];
  std::snprintf(name, sizeof name, "obj-%06d", i);
  return cache_key(bucket, name);
}

// The prefix shared by every key of `bucket` and no other bucket's (the admin purge of a
// bucket). cache_key length-prefixes the object key, so keys of lengths 1 and 2 part right
// after the bucket's own part.
std::string bucket_prefix(std::string_view bucket) {
  const std::string a = cache_key(bucket, "k"), b = cache_key(bucket, "kk");
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) {
    ++n;
  }
  return a.substr(0, n);
}

void expect_same_entry(const Hit& h, const Entry& want, const std::string& what) {
  SCOPED_TRACE(what);
  const Meta& m = h.meta();
  EXPECT_EQ(m.headers, want.meta.headers);
  EXPECT_EQ(m.cache_control, want.meta.cache_control);
  EXPECT_EQ(m.etag, want.meta.etag);
  EXPECT_EQ(m.last_modified, want.meta.last_modified);
  EXPECT_EQ(m.size, want.meta.size);
  EXPECT_EQ(m.stored.time_since_epoch().count(), want.meta.stored.time_since_epoch().count());
  EXPECT_EQ(m.expires.time_since_epoch().count(), want.meta.expires.time_since_epoch().count());
  if (h.file) {
    EXPECT_TRUE(h.entry->body.empty()) << "a file-backed hit carries its body in the file";
    EXPECT_EQ(h.file->size(), want.body.size());
  }
  const std::string body = body_of(h);
  EXPECT_EQ(body.size(), want.body.size());
  EXPECT_TRUE(body == want.body) << "body differs (" << body.size() << " bytes)";
}

}  // namespace

void CacheBackendConformance::SetUp() {
  g_factory = &GetParam();
  g_t0 = std::chrono::floor<std::chrono::seconds>(SysClock::now());
}

void CacheBackendConformance::TearDown() {
  if (GetParam().cleanup) {
    GetParam().cleanup();
  }
}

namespace {

// The layer's items and bytes: its own exact accounting (stats()) when it owns its storage,
// else (a shared layer such as Redis) a walk of its keys, which is exact while nothing else
// writes.
Usage acct(CacheBackend& b) {
  if (g_factory == nullptr || g_factory->owns_storage) {
    const auto st = b.stats();
    return Usage{st.items, st.bytes};
  }
  return usage(b, "");
}

SuiteOptions opts(uint64_t capacity = 1 << 20, uint64_t max_item = 64 << 10,
                  std::chrono::seconds grace = 0s) {
  return SuiteOptions{capacity, max_item, grace};
}

// ---- basic operations ------------------------------------------------------------------------

TEST_P(CacheBackendConformance, PutGetRoundtripsBodyAndEveryMetaField) {
  auto b = GetParam().make(opts());
  const SysTime t0 = base_time();
  auto e =
      std::make_shared<Entry>(*make_entry(binary_body(40'000), t0 + 1h, "\"9b2cf535f27731c9\""));
  e->meta.stored = t0 - 123'456'789ns;  // sub-second times survive too
  e->meta.expires = t0 + 3600s + 987'654'321ns;
  ASSERT_TRUE(put(*b, key(1), e));
  auto h = get(*b, key(1), t0);
  ASSERT_TRUE(h.has_value());
  expect_same_entry(*h, *e, "binary body");
  EXPECT_TRUE(h->meta().fresh(t0));

  // A zero-length object and one with empty optional fields.
  auto empty = std::make_shared<Entry>();
  empty->meta.headers = "Content-Type: text/plain\r\n";
  empty->meta.stored = t0;
  empty->meta.expires = t0 + 60s;
  ASSERT_TRUE(put(*b, key(2), empty));
  auto h2 = get(*b, key(2), t0);
  ASSERT_TRUE(h2.has_value());
  expect_same_entry(*h2, *empty, "empty body");

  const auto st = b->stats();
  EXPECT_EQ(acct(*b).items, 2u);
  EXPECT_EQ(st.hits, 2u);
  EXPECT_EQ(st.misses, 0u);
  EXPECT_GT(acct(*b).bytes, 0u);
}

TEST_P(CacheBackendConformance, OddKeysRoundtrip) {
  auto b = GetParam().make(opts());
  const std::vector<std::string> keys = {
      cache_key("bucket",
                "dir/sub dir/\xc3\xbcn\xc3\xaf"
                "code ?&=%2F..\\x.txt"),
      cache_key("bucket", std::string(1000, 'k')),
      cache_key("bucket", "../../etc/passwd"),
      cache_key("bucket", "a", "v1"),
      cache_key("b", ""),
  };
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(put(*b, keys[i], make_entry(100 + i, static_cast<char>('a' + i)))) << i;
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto h = get(*b, keys[i], base_time());
    ASSERT_TRUE(h.has_value()) << i;
    EXPECT_EQ(body_of(*h), std::string(100 + i, static_cast<char>('a' + i))) << i;
  }
  EXPECT_EQ(acct(*b).items, keys.size());
}

TEST_P(CacheBackendConformance, MissesAreCounted) {
  auto b = GetParam().make(opts());
  const SysTime t0 = base_time();
  EXPECT_FALSE(get(*b, key(1), t0).has_value());
  EXPECT_FALSE(get(*b, key(2), t0).has_value());
  EXPECT_FALSE(get(*b, key(1), t0).has_value());
  auto st = b->stats();
  EXPECT_EQ(st.misses, 3u);
  EXPECT_EQ(st.hits, 0u);
  EXPECT_EQ(acct(*b).items, 0u);
  EXPECT_EQ(acct(*b).bytes, 0u);
  ASSERT_TRUE(put(*b, key(1), make_entry(10)));
  EXPECT_TRUE(get(*b, key(1), t0).has_value());
  EXPECT_FALSE(get(*b, key(3), t0).has_value());
  st = b->stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 4u);
  EXPECT_EQ(st.inserts, 1u);
}

TEST_P(CacheBackendConformance, OverwriteReplacesAndAccountingStaysExact) {
  auto b = GetParam().make(opts());
  const SysTime t0 = base_time();
  const auto big = make_entry(std::string(30'000, 'A'), t0 + 1h, "\"big\"");
  const auto small = make_entry(std::string(300, 'b'), t0 + 2h, "\"small\"");
  const auto mid = make_entry(std::string(12'345, 'c'), t0 + 3h, "\"mid\"");

  // The charge of each entry alone, as this layer defines charges.
  auto alone = [&](const EntryPtr& e) {
    auto fresh = GetParam().make(opts());
    EXPECT_TRUE(put(*fresh, key(1), e));
    const auto st = acct(*fresh);
    EXPECT_EQ(st.items, 1u);
    return st.bytes;
  };
  const uint64_t big_bytes = alone(big), small_bytes = alone(small), mid_bytes = alone(mid);
  ASSERT_GT(big_bytes, small_bytes);

  ASSERT_TRUE(put(*b, key(1), big));
  EXPECT_EQ(acct(*b).bytes, big_bytes);
  ASSERT_TRUE(put(*b, key(1), small));
  EXPECT_EQ(acct(*b).bytes, small_bytes) << "after replacing a larger entry";
  EXPECT_EQ(acct(*b).items, 1u);
  auto h = get(*b, key(1), t0);
  ASSERT_TRUE(h.has_value());
  expect_same_entry(*h, *small, "after the first overwrite");

  ASSERT_TRUE(put(*b, key(1), mid));
  EXPECT_EQ(acct(*b).bytes, mid_bytes) << "after replacing a smaller entry";
  EXPECT_EQ(acct(*b).items, 1u);
  h = get(*b, key(1), t0);
  ASSERT_TRUE(h.has_value());
  expect_same_entry(*h, *mid, "after the second overwrite");

  // Another key next to it adds exactly its own charge.
  ASSERT_TRUE(put(*b, key(2), small));
  EXPECT_EQ(acct(*b).bytes, mid_bytes + small_bytes);
  EXPECT_TRUE(remove(*b, key(1)));
  EXPECT_EQ(acct(*b).bytes, small_bytes);
  EXPECT_TRUE(remove(*b, key(2)));
  EXPECT_EQ(acct(*b).bytes, 0u);
  EXPECT_EQ(acct(*b).items, 0u);
}

TEST_P(CacheBackendConformance, RemoveDropsOneKey) {
  auto b = GetParam().make(opts());
  const SysTime t0 = base_time();
  ASSERT_TRUE(put(*b, key(1), make_entry(500)));
  ASSERT_TRUE(put(*b, key(2), make_entry(600)));
  EXPECT_FALSE(remove(*b, key(3)));
  EXPECT_TRUE(remove(*b, key(1)));
  EXPECT_FALSE(remove(*b, key(1)));
  EXPECT_FALSE(get(*b, key(1), t0).has_value());
  EXPECT_TRUE(get(*b, key(2), t0).has_value());
  const auto st = b->stats();
  EXPECT_EQ(st.removals, 1u);
  EXPECT_EQ(acct(*b).items, 1u);
  EXPECT_EQ(acct(*b).bytes, usage(*b, key(2)).bytes);
}

TEST_P(CacheBackendConformance, RemovePrefixPurgesObjectsAndBucketsOnly) {
  auto b = GetParam().make(opts());
  const SysTime t0 = base_time();
  const std::string a_x = cache_key("a", "x"), a_obj = cache_key("a", "obj"),
                    a_obj_v1 = cache_key("a", "obj", "v1"), a_obj_v2 = cache_key("a", "obj", "v2"),
                    a_obj2 = cache_key("a", "obj2"), a_ob = cache_key("a", "ob"),
                    ab_x = cache_key("ab", "x"), ab_obj = cache_key("ab", "obj"),
                    b_obj = cache_key("b", "obj");
  for (const auto& k : {a_x, a_obj, a_obj_v1, a_obj_v2, a_obj2, a_ob, ab_x, ab_obj, b_obj}) {
    ASSERT_TRUE(put(*b, k, make_entry(100)));
  }
  ASSERT_EQ(acct(*b).items, 9u);
  auto present = [&](const std::string& k) { return get(*b, k, t0).has_value(); };

  // An object's key prefix: the object and its versions, not its neighbours.
  EXPECT_EQ(remove_prefix(*b, a_obj), 3u);
  EXPECT_FALSE(present(a_obj));
  EXPECT_FALSE(present(a_obj_v1));
  EXPECT_FALSE(present(a_obj_v2));
  EXPECT_TRUE(present(a_obj2));
  EXPECT_TRUE(present(a_ob));
  EXPECT_EQ(acct(*b).items, 6u);

  // A bucket: all of "a", nothing of "ab" or "b".
  EXPECT_EQ(remove_prefix(*b, bucket_prefix("a")), 3u);
  EXPECT_FALSE(present(a_x));
  EXPECT_FALSE(present(a_obj2));
  EXPECT_FALSE(present(a_ob));
  EXPECT_TRUE(present(ab_x));
  EXPECT_TRUE(present(ab_obj));
  EXPECT_TRUE(present(b_obj));
  EXPECT_EQ(acct(*b).items, 3u);
  EXPECT_EQ(b->stats().removals, 6u);

  EXPECT_EQ(remove_prefix(*b, bucket_prefix("zz")), 0u);
  EXPECT_EQ(remove_prefix(*b, ""), 3u);
  EXPECT_EQ(acct(*b).items, 0u);
  EXPECT_EQ(acct(*b).bytes, 0u);
  EXPECT_FALSE(present(b_obj));
  EXPECT_EQ(remove_prefix(*b, ""), 0u);
}

TEST_P(CacheBackendConformance, UsageCountsByPrefix) {
  auto b = GetParam().make(opts());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(put(*b, key(i, "a"), make_entry(1000 + 100 * i)));
  }
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(put(*b, key(i, "ab"), make_entry(2000)));
  }
  const Usage a = usage(*b, bucket_prefix("a")), ab = usage(*b, bucket_prefix("ab")),
              all = usage(*b, ""), none = usage(*b, bucket_prefix("zz"));
  EXPECT_EQ(a.items, 3u);
  EXPECT_EQ(ab.items, 2u);
  EXPECT_EQ(all.items, 5u);
  EXPECT_EQ(none.items, 0u);
  EXPECT_EQ(none.bytes, 0u);
  EXPECT_GE(a.bytes, 1000u + 1100 + 1200);
  EXPECT_GE(ab.bytes, 4000u);
  EXPECT_EQ(a.bytes + ab.bytes, all.bytes);
  EXPECT_EQ(all.items, acct(*b).items);
  EXPECT_EQ(all.bytes, acct(*b).bytes);
  EXPECT_EQ(usage(*b, key(1, "a")).items, 1u);
  ASSERT_TRUE(remove(*b, key(1, "a")));
  EXPECT_EQ(usage(*b, bucket_prefix("a")).items, 2u);
  EXPECT_EQ(usage(*b, "").bytes, acct(*b).bytes);
}

// ---- time ------------------------------------------------------------------------------------

TEST_P(CacheBackendConformance, TtlFreshThenStaleWithinGraceThenGone) {
  auto b = GetParam().make(opts(1 << 20, 64 << 10, 30s));
  const SysTime t0 = base_time();
  const auto e = make_entry(std::string(700, 't'), t0 + 10s);
  ASSERT_TRUE(put(*b, key(1), e));

  auto h = get(*b, key(1), t0);
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(h->meta().fresh(t0));
  h = get(*b, key(1), t0 + 9s);
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(h->meta().fresh(t0 + 9s));
  h = get(*b, key(1), t0 + 10s);  // expired, within the grace: served as stale
  ASSERT_TRUE(h.has_value());
  EXPECT_FALSE(h->meta().fresh(t0 + 10s));
  h = get(*b, key(1), t0 + 39s);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(body_of(*h), e->body);
  EXPECT_EQ(b->stats().expirations, 0u);

  EXPECT_FALSE(get(*b, key(1), t0 + 40s).has_value());  // expires + grace: gone
  EXPECT_FALSE(get(*b, key(1), t0).has_value()) << "an expired entry is dropped, not hidden";
  const auto st = b->stats();
  EXPECT_EQ(st.expirations, 1u);
  EXPECT_EQ(st.hits, 4u);
  EXPECT_EQ(st.misses, 2u);
  EXPECT_EQ(acct(*b).items, 0u);
  EXPECT_EQ(acct(*b).bytes, 0u);
}

TEST_P(CacheBackendConformance, TtlWithoutGraceEndsAtExpiry) {
  auto b = GetParam().make(opts(1 << 20, 64 << 10, 0s));
  const SysTime t0 = base_time();
  ASSERT_TRUE(put(*b, key(1), make_entry(std::string(50, 'u'), t0 + 10s)));
  ASSERT_TRUE(put(*b, key(2), make_entry(std::string(50, 'v'), t0 + 20s)));
  EXPECT_TRUE(get(*b, key(1), t0 + 10s - 1ns).has_value());
  EXPECT_FALSE(get(*b, key(1), t0 + 10s).has_value());
  EXPECT_TRUE(get(*b, key(2), t0 + 10s).has_value()) << "expiry is per entry";
  EXPECT_EQ(b->stats().expirations, 1u);
  EXPECT_EQ(acct(*b).items, 1u);
}

// ---- limits and eviction ---------------------------------------------------------------------

TEST_P(CacheBackendConformance, ItemLimitRefusesAndCounts) {
  auto b = GetParam().make(opts(1 << 20, 4096));
  const SysTime t0 = base_time();
  EXPECT_TRUE(put(*b, key(1), make_entry(4096))) << "an entry at the limit is accepted";
  EXPECT_FALSE(put(*b, key(2), make_entry(4097)));
  EXPECT_FALSE(put(*b, key(3), make_entry(100'000)));
  EXPECT_FALSE(get(*b, key(2), t0).has_value());
  EXPECT_FALSE(get(*b, key(3), t0).has_value());
  EXPECT_TRUE(get(*b, key(1), t0).has_value());
  const auto st = b->stats();
  EXPECT_EQ(st.rejected, 2u);
  EXPECT_EQ(st.inserts, 1u);
  EXPECT_EQ(acct(*b).items, 1u);
  EXPECT_EQ(acct(*b).bytes, usage(*b, key(1)).bytes);
}

TEST_P(CacheBackendConformance, CapacityIsNeverExceeded) {
  if (!GetParam().owns_storage) {
    GTEST_SKIP() << "capacity and eviction belong to the server this layer stores in";
  }
  const uint64_t cap = 64 << 10;
  auto b = GetParam().make(opts(cap, 8192));
  const SysTime t0 = base_time();
  EXPECT_EQ(b->stats().capacity_bytes, cap);
  std::mt19937 rng(11);
  for (int i = 0; i < 400; ++i) {
    const std::size_t size = 200 + rng() % 2800;
    const auto e = make_entry(std::string(size, static_cast<char>('a' + i % 26)), t0 + 1h);
    ASSERT_TRUE(put(*b, key(i), e)) << i;
    ASSERT_LE(acct(*b).bytes, cap) << "after insert " << i;
    auto h = get(*b, key(i), t0);
    ASSERT_TRUE(h.has_value()) << "the entry just inserted is present: " << i;
    ASSERT_EQ(body_of(*h), e->body) << i;
  }
  const auto st = b->stats();
  EXPECT_GT(st.evictions, 0u);
  EXPECT_EQ(acct(*b).items, usage(*b, "").items);
  EXPECT_EQ(acct(*b).bytes, usage(*b, "").bytes);
  EXPECT_LT(acct(*b).items, 400u);
}

TEST_P(CacheBackendConformance, OldestUnreadEntryIsEvictedFirst) {
  if (!GetParam().owns_storage) {
    GTEST_SKIP() << "capacity and eviction belong to the server this layer stores in";
  }
  if (!GetParam().global_eviction_order) {
    GTEST_SKIP() << "eviction order is per shard in this layer";
  }
  auto b = GetParam().make(opts(64 << 10, 8192));
  int n = 0;
  for (; n < 10'000 && b->stats().evictions == 0; ++n) {
    ASSERT_TRUE(put(*b, key(n), make_entry(1024)));
  }
  ASSERT_GT(b->stats().evictions, 0u) << "64 KiB never filled";
  ASSERT_GT(n, 4) << "only " << n << " entries of 1 KiB fit in 64 KiB";
  // The evicted ones are the oldest: absent keys form a prefix of insertion order.
  int gone = 0;
  while (gone < n && !holds(*b, key(gone))) {
    ++gone;
  }
  EXPECT_GE(gone, 1) << "the oldest entry survived the first eviction";
  for (int i = gone; i < n; ++i) {
    EXPECT_TRUE(holds(*b, key(i)))
        << "entry " << i << " of " << n << " evicted before an older one";
  }
  EXPECT_EQ(static_cast<uint64_t>(gone), b->stats().evictions);
}

TEST_P(CacheBackendConformance, EntryReadTwiceSurvivesABurstOfOneTimeInserts) {
  if (!GetParam().owns_storage) {
    GTEST_SKIP() << "capacity and eviction belong to the server this layer stores in";
  }
  if (!GetParam().global_eviction_order) {
    GTEST_SKIP() << "eviction order is per shard in this layer";
  }
  const uint64_t cap = 64 << 10;
  auto b = GetParam().make(opts(cap, 8192));
  const SysTime t0 = base_time();
  const std::string hot = cache_key("bucket", "hot");
  ASSERT_TRUE(put(*b, hot, make_entry(1024, 'h')));
  const uint64_t each = acct(*b).bytes;  // one entry's charge here
  ASSERT_GT(each, 0u);
  // Fill up to capacity behind it, without evicting.
  int fillers = 0;
  while (acct(*b).bytes + 2 * each <= cap) {
    ASSERT_TRUE(put(*b, key(fillers++), make_entry(1024)));
  }
  ASSERT_EQ(b->stats().evictions, 0u);
  ASSERT_TRUE(get(*b, hot, t0).has_value());
  ASSERT_TRUE(get(*b, hot, t0).has_value());
  // A burst of never-read entries: half the capacity, so it evicts but is smaller than the cache.
  const int burst = static_cast<int>(cap / each / 2);
  for (int i = 0; i < burst; ++i) {
    ASSERT_TRUE(put(*b, key(100'000 + i), make_entry(1024)));
  }
  EXPECT_GT(b->stats().evictions, 0u) << "the burst should have evicted";
  EXPECT_FALSE(holds(*b, key(0))) << "the oldest unread filler should have gone";
  EXPECT_TRUE(holds(*b, hot)) << "the entry read twice was evicted by " << burst
                              << " one-time inserts (" << fillers << " fillers)";
  EXPECT_TRUE(holds(*b, key(100'000 + burst - 1)));
}

TEST_P(CacheBackendConformance, HeldHitKeepsItsBytesAfterRemovalAndEviction) {
  auto b = GetParam().make(opts(256 << 10, 16 << 10));
  const SysTime t0 = base_time();
  const auto first = make_entry(binary_body(5000), t0 + 1h, "\"first\"");
  ASSERT_TRUE(put(*b, key(1), first));
  ASSERT_TRUE(put(*b, key(2), make_entry(binary_body(6000), t0 + 1h, "\"second\"")));
  auto h1 = get(*b, key(1), t0);
  auto h2 = get(*b, key(2), t0);
  ASSERT_TRUE(h1.has_value());
  ASSERT_TRUE(h2.has_value());

  // key(1) is overwritten, then removed; key(2) goes with a purge; then a flood evicts the rest.
  ASSERT_TRUE(put(*b, key(1), make_entry(std::string(5000, 'z'), t0 + 1h, "\"third\"")));
  ASSERT_TRUE(remove(*b, key(1)));
  ASSERT_EQ(remove_prefix(*b, ""), 1u);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(put(*b, key(10 + i), make_entry(4000, 'f')));
  }
  if (GetParam().owns_storage) {
    EXPECT_GT(b->stats().evictions, 0u);
  }
  expect_same_entry(*h1, *first, "held across overwrite and remove");
  EXPECT_EQ(body_of(*h2), binary_body(6000));
  EXPECT_EQ(h2->meta().etag, "\"second\"");
}

// ---- concurrency -----------------------------------------------------------------------------

// Bodies name their key and version, so a hit can be checked whole: "k=<id>;v=<version>;"
// then bytes derived from both, to a length derived from the version.
std::string pattern_body(int id, uint64_t v) {
  std::string s = "k=" + std::to_string(id) + ";v=" + std::to_string(v) + ";";
  const std::size_t size = 64 + (v * 2654435761u) % 3000;
  s.reserve(size);
  for (std::size_t i = s.size(); i < size; ++i) {
    s.push_back(static_cast<char>('a' + (id * 31 + v * 7 + i) % 26));
  }
  return s;
}

std::string pattern_etag(int id, uint64_t v) {
  return "\"" + std::to_string(id) + "-" + std::to_string(v) + "\"";
}

// Empty when the hit is what some put of key `id` wrote, else what is wrong.
std::string check_hit(int id, const Hit& h) {
  const std::string body = body_of(h);
  const std::string head = "k=" + std::to_string(id) + ";v=";
  if (!body.starts_with(head)) {
    return "body of key " + std::to_string(id) + " starts " + body.substr(0, 24);
  }
  const uint64_t v = std::strtoull(body.c_str() + head.size(), nullptr, 10);
  if (body != pattern_body(id, v)) {
    return "torn body for key " + std::to_string(id) + " v" + std::to_string(v);
  }
  if (h.meta().etag != pattern_etag(id, v) || h.meta().size != body.size()) {
    return "metadata of key " + std::to_string(id) + " v" + std::to_string(v) +
           " does not match its body: etag " + h.meta().etag;
  }
  return {};
}

TEST_P(CacheBackendConformance, ConcurrentReadersAndWritersSeeWholeEntries) {
  const uint64_t cap = 256 << 10;
  auto b = GetParam().make(opts(cap, 8192));
  const SysTime t0 = base_time();
  constexpr int kKeys = 200;
  const int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 4u, 8u));
  const auto deadline = SteadyClock::now() + 500ms;
  std::atomic<uint64_t> version{0}, hits{0}, puts{0}, bad{0};
  std::mutex mu;
  std::string first_bad;

  auto worker = [&](int t) -> asio::awaitable<void> {
    std::mt19937 rng(static_cast<unsigned>(t) * 7919u + 1);
    int ops = 0;
    while ((++ops & 15) != 0 || SteadyClock::now() < deadline) {
      const int id = static_cast<int>(rng() % kKeys);
      const std::string k = key(id);
      const unsigned r = rng() % 100;
      if (r < 55) {
        if (auto h = co_await b->get(k, t0)) {
          hits.fetch_add(1, std::memory_order_relaxed);
          if (std::string why = check_hit(id, *h); !why.empty()) {
            if (bad.fetch_add(1) == 0) {
              std::lock_guard lk(mu);
              first_bad = why;
            }
          }
        }
      } else if (r < 90) {
        const uint64_t v = version.fetch_add(1) + 1;
        if (co_await b->put(k, make_entry(pattern_body(id, v), t0 + 1h, pattern_etag(id, v)))) {
          puts.fetch_add(1, std::memory_order_relaxed);
        }
      } else if (r < 98) {
        co_await b->remove(k);
      } else if (r < 99) {
        co_await b->remove_prefix(k);
      } else {
        (void)b->stats();
        (void)co_await b->usage(bucket_prefix("bucket"));
      }
    }
  };

  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      asio::io_context io;
      // A layer with pooled connections on this context (Redis) would keep run() going: stop
      // when the worker ends. The others run until their threads have posted back.
      const bool stop_when_done = !GetParam().owns_storage;
      std::atomic<bool> finished{false};
      asio::co_spawn(io, worker(t), [&, t](std::exception_ptr e) {
        errors[static_cast<std::size_t>(t)] = e;
        finished = true;
        if (stop_when_done) {
          io.stop();
        }
      });
      while (!finished) {
        io.restart();
        io.run();
      }
    });
  }
  for (auto& th : pool) {
    th.join();
  }
  for (int t = 0; t < threads; ++t) {
    EXPECT_EQ(errors[static_cast<std::size_t>(t)], nullptr) << "worker " << t << " threw";
  }
  EXPECT_EQ(bad.load(), 0u) << "first: " << first_bad;
  EXPECT_GT(puts.load(), 0u);
  EXPECT_GT(hits.load(), 0u);

  // Quiet again: the accounting agrees with itself and every survivor is whole.
  if (GetParam().owns_storage) {
    EXPECT_LE(acct(*b).bytes, cap);
  }
  EXPECT_EQ(acct(*b).items, usage(*b, "").items);
  EXPECT_EQ(acct(*b).bytes, usage(*b, "").bytes);
  for (int id = 0; id < kKeys; ++id) {
    if (auto h = get(*b, key(id), t0)) {
      EXPECT_EQ(check_hit(id, *h), "");
    }
  }
}

// ---- persistence -----------------------------------------------------------------------------

TEST_P(CacheBackendConformance, EntriesSurviveReopen) {
  const BackendFactory& f = GetParam();
  if (!f.supports_reopen) {
    GTEST_SKIP() << "not a persistent layer";
  }
  const SuiteOptions o = opts();
  const SysTime t0 = base_time();
  std::vector<EntryPtr> entries;
  auto b = f.make(o);
  for (int i = 0; i < 5; ++i) {
    auto e = std::make_shared<Entry>(
        *make_entry(binary_body(i == 0 ? 0 : 1000 * i + 7), t0 + 1h, pattern_etag(i, 1)));
    e->meta.stored = t0 - 1s + 5ns * i;
    entries.push_back(e);
    ASSERT_TRUE(put(*b, key(i), e));
  }
  ASSERT_TRUE(put(*b, key(3), make_entry(10, 'o')));  // overwritten: the newer one survives
  entries[3] = make_entry(10, 'o');
  ASSERT_TRUE(remove(*b, key(4)));
  const auto before = acct(*b);
  b.reset();

  b = f.reopen(o);
  ASSERT_NE(b, nullptr);
  const auto after = acct(*b);
  EXPECT_EQ(after.items, before.items);
  EXPECT_EQ(after.bytes, before.bytes);
  for (int i = 0; i < 4; ++i) {
    auto h = get(*b, key(i), t0);
    ASSERT_TRUE(h.has_value()) << i;
    expect_same_entry(*h, *entries[static_cast<std::size_t>(i)], "entry " + std::to_string(i));
  }
  EXPECT_FALSE(get(*b, key(4), t0).has_value()) << "a removed entry came back";
  ASSERT_TRUE(put(*b, key(5), make_entry(77, 'n')));
  auto h = get(*b, key(5), t0);
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(body_of(*h), std::string(77, 'n'));
}

}  // namespace
}  // namespace yg::cache::conformance
