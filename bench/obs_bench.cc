// The request-path cost of observability (OBS-2/OBS-3): recording one request in a worker's
// metric shard, formatting its access and audit lines, queueing an audit line, and what a
// scrape costs (it runs on a worker thread, so it competes with requests).

#include <benchmark/benchmark.h>

#include "obs/audit.h"
#include "obs/metrics.h"
#include "obs/request_log.h"

namespace {
using namespace yg::obs;

void BM_CounterAdd(benchmark::State& state) {
  Counter c;
  for (auto _ : state) {
    c.add();
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_CounterAdd);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram h;
  int64_t ns = 1;
  for (auto _ : state) {
    h.observe(std::chrono::nanoseconds(ns));
    ns = (ns * 7 + 13) % 5'000'000'000;  // spread over the buckets
  }
}
BENCHMARK(BM_HistogramObserve);

// Everything finish_exchange records for one proxied request.
void BM_RecordRequest(benchmark::State& state) {
  metrics().reset_for_test();
  const auto slot = metrics().bucket_slot("bench");
  auto& w = metrics().add_shard();
  for (auto _ : state) {
    auto& b = w.buckets[slot];
    b.requests[static_cast<std::size_t>(method_of("GET"))][status_slot(200)].add();
    b.bytes_sent.add(1024);
    b.duration.observe(std::chrono::microseconds(350));
    b.ttfb.observe(std::chrono::microseconds(300));
    auto& r = w.replicas[0];
    r.responses[status_slot(200)].add();
    r.latency.observe(std::chrono::microseconds(250));
  }
}
BENCHMARK(BM_RecordRequest);

RequestRecord sample() {
  RequestRecord r;
  r.time = std::chrono::system_clock::now();
  r.request_id = "0af7651916cd43dd8448eb211c80319c";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.client_ip = "127.0.0.1";
  r.bucket = "products";
  r.key = "images/2026/11/photo-1234.jpg";
  r.method = "GET";
  r.path = "/products/images/2026/11/photo-1234.jpg";
  r.status = 200;
  r.bytes_sent = 48213;
  r.duration_ms = 1.234;
  r.ttfb_ms = 0.9;
  r.upstream_ms = 0.7;
  r.cache_status = "miss";
  r.replica = "primary";
  r.user_agent = "Mozilla/5.0 (X11; Linux x86_64)";
  return r;
}

void BM_AccessJson(benchmark::State& state) {
  const auto r = sample();
  for (auto _ : state) {
    benchmark::DoNotOptimize(access_json_members(r));
  }
}
BENCHMARK(BM_AccessJson);

void BM_AuditJson(benchmark::State& state) {
  const auto r = sample();
  for (auto _ : state) {
    benchmark::DoNotOptimize(audit_json(r));
  }
}
BENCHMARK(BM_AuditJson);

class NullSink final : public AuditSink {
 public:
  bool write(std::string_view) override { return true; }
  std::string_view name() const override { return "null"; }
};

// Queueing one audit line from 1 and 2 request threads (the writer drains concurrently).
void BM_AuditSubmit(benchmark::State& state) {
  static AuditLog* log = nullptr;
  if (state.thread_index() == 0) {
    std::vector<std::unique_ptr<AuditSink>> sinks;
    sinks.push_back(std::make_unique<NullSink>());
    log = new AuditLog(std::move(sinks), 1 << 20);
  }
  const std::string line = audit_json(sample());
  for (auto _ : state) {
    log->submit(line);
  }
  if (state.thread_index() == 0) {
    log->close(std::chrono::seconds(10));
    delete log;
  }
}
BENCHMARK(BM_AuditSubmit)->Threads(1)->Threads(2)->UseRealTime();

// A scrape of a registry with `n` buckets and 2 workers: what /metrics costs a worker.
void BM_Render(benchmark::State& state) {
  metrics().reset_for_test();
  auto& w1 = metrics().add_shard();
  auto& w2 = metrics().add_shard();
  for (int i = 0; i < state.range(0); ++i) {
    const auto b = metrics().bucket_slot("bucket-" + std::to_string(i));
    const auto r = metrics().replica_slot("bucket-" + std::to_string(i), "primary");
    for (auto* w : {&w1, &w2}) {
      w->buckets[b].requests[0][status_slot(200)].add(100);
      w->buckets[b].requests[0][status_slot(404)].add(3);
      w->buckets[b].duration.observe(std::chrono::milliseconds(2));
      w->replicas[r].responses[status_slot(200)].add(100);
    }
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(metrics().render({}));
  }
}
BENCHMARK(BM_Render)->Arg(1)->Arg(10)->Arg(50);

}  // namespace
