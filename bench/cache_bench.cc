// The memory tier's store (cache/memory_store.h): hit ratio on Zipf traces beside a plain LRU
// of the same byte budget (the `hit_ratio` counters; higher is better), and the cost of a hit,
// a miss + insert, and concurrent hits.
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cmath>
#include <list>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/memory_backend.h"
#include "cache/memory_store.h"
#include "cache/policy.h"

namespace {

using yg::SysClock;
using yg::SysTime;
using yg::cache::Entry;
using yg::cache::EntryPtr;
using yg::cache::MemoryStore;

constexpr std::size_t kKeys = 100'000;
constexpr std::size_t kRequests = 1'000'000;
constexpr std::size_t kBody = 1024;

// Zipf(alpha) over kKeys ranks, drawn by inverse CDF; keys are shuffled ranks so popularity
// is not correlated with key order.
std::vector<uint32_t> zipf_trace(double alpha, uint32_t seed) {
  std::vector<double> cdf(kKeys);
  double sum = 0;
  for (std::size_t i = 0; i < kKeys; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha);
    cdf[i] = sum;
  }
  std::vector<uint32_t> perm(kKeys);
  for (uint32_t i = 0; i < kKeys; ++i) {
    perm[i] = i;
  }
  std::mt19937 rng(seed);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<uint32_t> trace(kRequests);
  for (auto& t : trace) {
    t = perm[std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin()];
  }
  return trace;
}

EntryPtr make_entry() {
  auto e = std::make_shared<Entry>();
  e->body.assign(kBody, 'x');
  e->meta.expires = SysTime::max() - std::chrono::hours(24 * 365);
  return e;
}

// A plain byte-bounded LRU with the same charge per entry, for comparison.
class Lru {
 public:
  explicit Lru(std::size_t cap) : cap_(cap) {}
  bool get(const std::string& k) {
    auto it = map_.find(k);
    if (it == map_.end()) {
      return false;
    }
    order_.splice(order_.begin(), order_, it->second);
    return true;
  }
  void put(const std::string& k, std::size_t charge) {
    while (used_ + charge > cap_ && !order_.empty()) {
      map_.erase(order_.back());
      order_.pop_back();
      used_ -= charge;
    }
    order_.push_front(k);
    map_[k] = order_.begin();
    used_ += charge;
  }

 private:
  std::size_t cap_, used_ = 0;
  std::list<std::string> order_;
  std::unordered_map<std::string, std::list<std::string>::iterator> map_;
};

// Args: alpha x100, cache size in per mille of the key space's bytes, policy (0 S3-FIFO, 1 LRU).
void BM_ZipfHitRatio(benchmark::State& state) {
  const double alpha = static_cast<double>(state.range(0)) / 100.0;
  const auto trace = zipf_trace(alpha, 42);
  const EntryPtr e = make_entry();
  const std::size_t charge = e->charge() + 6;  // keys are about 6 bytes
  const std::size_t cap = kKeys * charge * static_cast<std::size_t>(state.range(1)) / 1000;
  double ratio = 0;
  for (auto _ : state) {
    std::size_t hits = 0;
    if (state.range(2) == 0) {
      MemoryStore m(cap, 1 << 20, 1);
      const auto now = SysClock::now();
      for (uint32_t k : trace) {
        const std::string key = std::to_string(k);
        if (m.get(key, now)) {
          ++hits;
        } else {
          m.put(key, e);
        }
      }
    } else {
      Lru l(cap);
      for (uint32_t k : trace) {
        const std::string key = std::to_string(k);
        if (l.get(key)) {
          ++hits;
        } else {
          l.put(key, charge);
        }
      }
    }
    ratio = static_cast<double>(hits) / static_cast<double>(trace.size());
  }
  state.counters["hit_ratio"] = ratio;
  state.SetLabel(state.range(2) == 0 ? "s3fifo" : "lru");
}
BENCHMARK(BM_ZipfHitRatio)
    ->ArgsProduct({{80, 100}, {10, 50, 100}, {0, 1}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_Hit(benchmark::State& state) {
  static MemoryStore m(256 << 20, 1 << 20, 16);
  const auto now = SysClock::now();
  if (state.thread_index() == 0) {
    for (int i = 0; i < 10000; ++i) {
      m.put("/bucket/key-" + std::to_string(i), make_entry());
    }
  }
  std::mt19937 rng(state.thread_index());
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i) {
    keys.push_back("/bucket/key-" + std::to_string(rng() % 10000));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.get(keys[i++ & 1023], now));
  }
}
BENCHMARK(BM_Hit)->Threads(1)->Threads(2);

void BM_MissAndInsert(benchmark::State& state) {
  MemoryStore m(16 << 20, 1 << 20, 16);  // full after ~12k entries: inserts evict
  const EntryPtr e = make_entry();
  const auto now = SysClock::now();
  uint64_t n = 0;
  for (auto _ : state) {
    const std::string key = "/bucket/key-" + std::to_string(n++);
    if (!m.get(key, now)) {
      m.put(key, e);
    }
  }
}
BENCHMARK(BM_MissAndInsert);

}  // namespace

// ===============================================================================================
// The memory layer behind CacheBackend (cache/memory_backend.h) and cache key building: the
// per-request costs of a memory hit, a miss, a fill, a fill that evicts, hits from several
// threads, and cache_key(). Bodies are shared immutable entries, so get and put cost the same
// for any body size: the size arguments show that they do.
// ===============================================================================================

namespace {

using yg::cache::MemoryBackend;
using yg::cache::MemoryBackendOptions;

constexpr std::size_t kLayerKeys = 1024;  // a power of two: keys[i & (kLayerKeys - 1)]

// An entry shaped like a real fill: the stored header block, validators, a body.
EntryPtr layer_entry(std::size_t body_bytes, char fill = 'b',
                     std::chrono::seconds ttl = std::chrono::hours(1)) {
  auto e = std::make_shared<Entry>();
  e->meta.headers = "Content-Type: application/octet-stream\r\nx-amz-version-id: null\r\n";
  e->meta.etag = "\"0123456789abcdef0123456789abcdef\"";
  e->meta.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
  e->body.assign(body_bytes, fill);
  e->meta.size = body_bytes;
  e->meta.stored = SysClock::now();
  e->meta.expires = e->meta.stored + ttl;
  return e;
}

std::string layer_key(std::size_t i) {
  return yg::cache::cache_key("bench-bucket", "objects/2024/" + std::to_string(i) + ".bin");
}

std::vector<std::string> layer_keys(std::size_t n, std::size_t first = 0) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    keys.push_back(layer_key(first + i));
  }
  return keys;
}

MemoryBackendOptions layer_options(std::size_t capacity) {
  MemoryBackendOptions o;
  o.capacity_bytes = capacity;
  o.max_item_bytes = 2 << 20;
  return o;  // default shard count, as the proxy runs it
}

// Arg: body bytes. The synchronous get (the tiered engine's path for a memory first layer).
void BM_LayerGetHit(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  MemoryBackend b(layer_options(kLayerKeys * (size + 4096) * 2));
  const auto keys = layer_keys(kLayerKeys);
  for (const auto& k : keys) {
    b.put_now(k, layer_entry(size));
  }
  const auto now = SysClock::now();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.get_now(keys[i++ & (kLayerKeys - 1)], now));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LayerGetHit)->Arg(1024)->Arg(64 * 1024);

// The same hit through the CacheBackend interface: co_await get() in one coroutine.
void BM_LayerGetHitAwait(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  MemoryBackend b(layer_options(kLayerKeys * (size + 4096) * 2));
  const auto keys = layer_keys(kLayerKeys);
  for (const auto& k : keys) {
    b.put_now(k, layer_entry(size));
  }
  const auto now = SysClock::now();
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        std::size_t i = 0;
        for (auto _ : state) {
          auto hit = co_await b.get(keys[i++ & (kLayerKeys - 1)], now);
          benchmark::DoNotOptimize(hit);
        }
      },
      boost::asio::detached);
  io.run();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LayerGetHitAwait)->Arg(1024);

void BM_LayerGetMiss(benchmark::State& state) {
  MemoryBackend b(layer_options(64 << 20));
  for (const auto& k : layer_keys(kLayerKeys)) {
    b.put_now(k, layer_entry(1024));
  }
  const auto absent = layer_keys(kLayerKeys, 1'000'000);
  const auto now = SysClock::now();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.get_now(absent[i++ & (kLayerKeys - 1)], now));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LayerGetMiss);

// Arg: body bytes. Replaces entries of 64 keys that all fit: the cost of an insert alone.
void BM_LayerPut(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t kRing = 64;
  MemoryBackend b(layer_options(kRing * (size + 4096) * 32));
  const auto keys = layer_keys(kRing);
  const EntryPtr e = layer_entry(size);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.put_now(keys[i++ % kRing], e));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LayerPut)->Arg(1024)->Arg(1 << 20);

// New 1 KiB entries into a full 4 MiB layer: every put evicts (or promotes) to make room.
void BM_LayerPutEvicting(benchmark::State& state) {
  constexpr std::size_t kRing = 1 << 18;  // far more keys than fit: each put is a new key
  MemoryBackend b(layer_options(4 << 20));
  const auto keys = layer_keys(kRing);
  const EntryPtr e = layer_entry(1024);
  for (std::size_t i = 0; i < 8192; ++i) {  // fill it first
    b.put_now(keys[i], e);
  }
  std::size_t i = 8192;
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.put_now(keys[i++ & (kRing - 1)], e));
  }
  state.counters["evictions"] = static_cast<double>(b.stats().evictions);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LayerPutEvicting);

// Hits on one shared layer from 1, 2 and 4 threads (each on its own random key sequence).
void BM_LayerConcurrentGet(benchmark::State& state) {
  static MemoryBackend& b = []() -> MemoryBackend& {
    static MemoryBackend layer(layer_options(256 << 20));
    for (std::size_t i = 0; i < 16 * kLayerKeys; ++i) {
      layer.put_now(layer_key(i), layer_entry(1024));
    }
    return layer;
  }();
  std::mt19937 rng(static_cast<unsigned>(state.thread_index()) + 1);
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < kLayerKeys; ++i) {
    keys.push_back(layer_key(rng() % (16 * kLayerKeys)));
  }
  const auto now = SysClock::now();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.get_now(keys[i++ & (kLayerKeys - 1)], now));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_LayerConcurrentGet)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

// Arg: object key bytes (a short key, a 1 KiB key, S3's maximum).
void BM_CacheKey(benchmark::State& state) {
  const std::string bucket = "my-media-bucket";
  const std::string object(static_cast<std::size_t>(state.range(0)), 'k');
  for (auto _ : state) {
    benchmark::DoNotOptimize(yg::cache::cache_key(bucket, object));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_CacheKey)->Arg(16)->Arg(1024);

void BM_CacheKeyVersioned(benchmark::State& state) {
  const std::string bucket = "my-media-bucket", object = "photos/2024/07/cat.jpg",
                    version = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY";
  for (auto _ : state) {
    benchmark::DoNotOptimize(yg::cache::cache_key(bucket, object, version));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_CacheKeyVersioned);

}  // namespace

// ===============================================================================================
// The disk layer (cache/disk_backend.h): the restart scan of 100k entries (open() wall time),
// a hit (index lookup + open + header pread on the pool, back on the caller), a miss (index
// only) and a put (temp file + rename). The files live in a temp directory on the machine's
// disk; after the setup they are in the page cache, so the scan figure is a warm one.
// ===============================================================================================

#include <stdlib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "cache/disk_backend.h"

namespace {

using yg::cache::DiskBackend;
using yg::cache::DiskBackendOptions;

class BenchDir {
 public:
  BenchDir() {
    std::string t = (std::filesystem::temp_directory_path() / "yg-disk-bench-XXXXXX").string();
    if (::mkdtemp(t.data()) != nullptr) {
      path_ = t;
    }
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

DiskBackendOptions disk_options(const std::filesystem::path& dir) {
  DiskBackendOptions o;
  o.dir = dir;
  o.capacity_bytes = 8ull << 30;
  o.max_item_bytes = 64 << 20;
  return o;
}

EntryPtr disk_entry(std::size_t body_bytes) {
  return layer_entry(body_bytes, 'd', std::chrono::hours(24 * 365));
}

// Stores keys [0, n) with `inflight` puts in flight (so every pool thread writes).
void fill_disk(DiskBackend& b, std::size_t n, std::size_t body_bytes, std::size_t inflight = 32) {
  boost::asio::io_context io;
  const EntryPtr e = disk_entry(body_bytes);
  std::atomic<std::size_t> next{0};
  for (std::size_t w = 0; w < inflight; ++w) {
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          for (std::size_t i = next++; i < n; i = next++) {
            co_await b.put("/bench-bucket/objects/" + std::to_string(i), e);
          }
        },
        boost::asio::detached);
  }
  io.run();
}

// Arg: entries. The directory is written once (1 KiB bodies) and reused by every iteration.
void BM_DiskStartupScan(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  static BenchDir dir;
  static bool filled = false;
  if (!filled) {
    auto b = DiskBackend::open(disk_options(dir.path()));
    fill_disk(*b, n, 1024);
    filled = true;
  }
  yg::cache::DiskStartupReport r;
  for (auto _ : state) {
    auto b = DiskBackend::open(disk_options(dir.path()));
    r = b->startup_report();
    state.PauseTiming();
    b.reset();
    state.ResumeTiming();
  }
  state.counters["loaded"] = static_cast<double>(r.loaded);
  state.counters["scan_seconds"] = r.seconds;
  state.counters["entries_per_s"] = static_cast<double>(r.loaded) / r.seconds;
}
// The smoke run (YG_BENCH_SMOKE=1, `make bench-smoke`) scans 2000 entries: writing 100k files
// takes minutes on a slow shared disk. The entry count is in the benchmark's name, so a smoke
// result is never compared with a full one by mistake.
BENCHMARK(BM_DiskStartupScan)
    ->Arg(std::getenv("YG_BENCH_SMOKE") != nullptr ? 2000 : 100000)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

// 1024 keys with 1 KiB bodies, written once per program and shared by the hit and miss
// benchmarks and their repetitions (filling is slow on a busy disk and not what they measure).
struct FilledDisk {
  FilledDisk() : backend(DiskBackend::open(disk_options(dir.path()))) {
    fill_disk(*backend, 1024, 1024);
    for (int i = 0; i < 1024; ++i) {
      keys.push_back("/bench-bucket/objects/" + std::to_string(i));
    }
  }
  BenchDir dir;  // declared first: removed after the backend is closed
  std::shared_ptr<DiskBackend> backend;
  std::vector<std::string> keys;
};

FilledDisk& filled_disk() {
  static FilledDisk f;
  return f;
}

// A whole 1 KiB hit as a worker sees it, including closing the descriptor.
void BM_DiskGetHit(benchmark::State& state) {
  FilledDisk& d = filled_disk();
  DiskBackend* b = d.backend.get();
  const uint64_t hits_before = b->stats().hits;
  const auto now = SysClock::now();
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        std::size_t i = 0;
        for (auto _ : state) {
          auto h = co_await b->get(d.keys[i++ & 1023], now);
          benchmark::DoNotOptimize(h);
        }
      },
      boost::asio::detached);
  io.run();
  if (b->stats().hits - hits_before != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("not every get was a hit");
  }
}
BENCHMARK(BM_DiskGetHit)->Arg(1024)->UseRealTime();

void BM_DiskGetMiss(benchmark::State& state) {
  DiskBackend* b = filled_disk().backend.get();
  const auto now = SysClock::now();
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        for (auto _ : state) {
          auto h = co_await b->get("/bench-bucket/absent", now);
          benchmark::DoNotOptimize(h);
        }
      },
      boost::asio::detached);
  io.run();
}
BENCHMARK(BM_DiskGetMiss);

// Arg: body bytes. Overwrites 1024 keys in turn (no fsync).
void BM_DiskPut(benchmark::State& state) {
  BenchDir dir;
  auto b = DiskBackend::open(disk_options(dir.path()));
  const EntryPtr e = disk_entry(static_cast<std::size_t>(state.range(0)));
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i) {
    keys.push_back("/bench-bucket/objects/" + std::to_string(i));
  }
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        std::size_t i = 0;
        for (auto _ : state) {
          benchmark::DoNotOptimize(co_await b->put(keys[i++ & 1023], e));
        }
      },
      boost::asio::detached);
  io.run();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_DiskPut)->Arg(1024)->Arg(1 << 20)->UseRealTime();

}  // namespace
