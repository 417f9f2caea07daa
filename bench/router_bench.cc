// Hot-path costs of routing (ROUTE-1..3): RouteTable::match with 1/10/50/100 buckets (hit on
// the longest prefix, miss), decode_path on typical and hostile paths, and
// looks_like_sql_injection. Range parsing is in http_bench.cc.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "router/path.h"
#include "router/router.h"

namespace {

// n buckets like a multi-tenant config: half single-segment, half two-segment prefixes, plus
// a nested prefix under the last one so a hit has to pick the longest.
std::vector<std::string> make_prefixes(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n - 1; ++i) {
    out.push_back("/tenant" + std::to_string(i) + (i % 2 ? "/assets" : ""));
  }
  out.push_back("/tenant" + std::to_string(n - 2) + "/assets/private");
  return out;
}

void BM_MatchHitLongest(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const yg::router::RouteTable table(make_prefixes(n));
  const std::string path =
      "/tenant" + std::to_string(n - 2) + "/assets/private/2024/05/photos/img_0001.jpg";
  for (auto _ : state) {
    auto m = table.match(path);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_MatchHitLongest)->Arg(1)->Arg(10)->Arg(50)->Arg(100);

void BM_MatchMiss(benchmark::State& state) {
  const yg::router::RouteTable table(make_prefixes(static_cast<int>(state.range(0))));
  const std::string path = "/unknown/2024/05/photos/img_0001.jpg";
  for (auto _ : state) {
    auto m = table.match(path);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_MatchMiss)->Arg(1)->Arg(10)->Arg(50)->Arg(100);

void BM_DecodePath(benchmark::State& state, const char* raw) {
  for (auto _ : state) {
    auto r = yg::router::decode_path(raw);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK_CAPTURE(BM_DecodePath, plain, "/products/2024/05/photos/img_0001.jpg");
BENCHMARK_CAPTURE(BM_DecodePath, encoded_utf8,
                  "/products/%E6%97%A5%E6%9C%AC%E8%AA%9E/my%20file%20%281%29.jpg");
BENCHMARK_CAPTURE(BM_DecodePath, traversal, "/products/a/%2e%2e%2f%2e%2e%2fetc/passwd");
BENCHMARK_CAPTURE(BM_DecodePath, overlong_utf8, "/products/%c0%ae%c0%ae/%c0%ae%c0%ae/etc");

void BM_DecodePathAllEscaped(benchmark::State& state) {
  // Worst case for the decoder: an 8 KiB path made only of escapes.
  std::string raw = "/p/";
  while (raw.size() < 8192) {
    raw += "%41";
  }
  for (auto _ : state) {
    auto r = yg::router::decode_path(raw);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_DecodePathAllEscaped);

void BM_SqlInjectionCheck(benchmark::State& state, const char* text) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(yg::router::looks_like_sql_injection(text));
  }
}
BENCHMARK_CAPTURE(BM_SqlInjectionCheck, clean, "/products/2024/05/photos/img_0001.jpg");
BENCHMARK_CAPTURE(BM_SqlInjectionCheck, attack, "/products/file' UNION SELECT NULL--.txt");

}  // namespace
