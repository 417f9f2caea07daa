// The memory tier's store (cache/memory_store.h): hit ratio on Zipf traces beside a plain LRU
// of the same byte budget (the `hit_ratio` counters; higher is better), and the cost of a hit,
// a miss + insert, and concurrent hits.
#include <benchmark/benchmark.h>

#include <cmath>
#include <list>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/memory_store.h"

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
