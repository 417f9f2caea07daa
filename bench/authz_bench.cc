// What a cached authorization decision costs on the request path: building the cache key (OPA:
// the input document without the request id, serialized; OpenFGA: user + relation + object) and
// one lookup in the sharded decision cache. A miss adds the engine's round trip, measured by
// load/authz_overhead.py against real OPA and OpenFGA servers.
#include <benchmark/benchmark.h>

#include <boost/json/parse.hpp>
#include <string>
#include <thread>

#include "authz/decision_cache.h"
#include "authz/opa.h"
#include "authz/openfga.h"

namespace {

using namespace yg::authz;

const boost::json::object& claims() {
  static const boost::json::object c =
      boost::json::parse(R"({"sub":"alice","iss":"https://issuer.example/","aud":"yatagarasu",
                             "iat":1767225600,"exp":1767229200,"roles":["reader","eng"],
                             "department":"eng","email":"alice@example.com"})")
          .as_object();
  return c;
}

Input input() {
  Input in;
  in.claims = &claims();
  in.bucket = "docs";
  in.path = "/docs/departments/eng/plan.txt";
  in.key = "departments/eng/plan.txt";
  in.method = "GET";
  in.client_ip = "192.0.2.10";
  in.request_id = "0123456789abcdef0123456789abcdef";
  in.header = [](std::string_view) { return std::string_view("acme"); };
  return in;
}

yg::config::AuthorizationConfig opa_cfg() {
  yg::config::AuthorizationConfig c;
  c.opa_url = "http://127.0.0.1:8181";
  c.opa_policy_path = "yatagarasu/authz/allow";
  c.opa_input_headers = {"x-tenant"};
  return c;
}

void BM_OpaCacheKey(benchmark::State& state) {
  const OpaAuthorizer a(opa_cfg(), nullptr);
  const Input in = input();
  for (auto _ : state) {
    benchmark::DoNotOptimize(a.prepare(in, true).key);
  }
}
BENCHMARK(BM_OpaCacheKey);

void BM_OpenFgaCacheKey(benchmark::State& state) {
  yg::config::AuthorizationConfig c;
  c.type = yg::config::AuthorizationType::OpenFga;
  c.openfga_endpoint = "http://127.0.0.1:8080";
  c.openfga_store_id = "01J0000000000000000000000";
  const OpenFgaAuthorizer a(c, nullptr);
  const Input in = input();
  for (auto _ : state) {
    benchmark::DoNotOptimize(a.prepare(in, true).key);
  }
}
BENCHMARK(BM_OpenFgaCacheKey);

void BM_OpenFgaCheckBody(benchmark::State& state) {
  for (auto _ : state) {
    const auto o = openfga_object("docs", "departments/eng/2024/q1/plan.txt", true);
    benchmark::DoNotOptimize(openfga_check_body({"user:alice", "viewer", o.object}, o.parents, ""));
  }
}
BENCHMARK(BM_OpenFgaCheckBody);

// A hit in a cache holding 10k decisions; threads share one cache (the workers do).
void BM_DecisionCacheHit(benchmark::State& state) {
  static DecisionCache cache(10000, std::chrono::seconds(600), std::chrono::seconds(60));
  const OpaAuthorizer a(opa_cfg(), nullptr);
  Input in = input();
  const std::string key = a.prepare(in, true).key;
  const auto now = yg::SteadyClock::now();
  if (state.thread_index() == 0) {
    for (int i = 0; i < 10000; ++i) {
      cache.put(key + std::to_string(i), CachedDecision{true, ""}, now);
    }
  }
  const std::string mine = key + std::to_string(state.thread_index() * 97 % 10000);
  for (auto _ : state) {
    benchmark::DoNotOptimize(cache.get(mine, now));
  }
}
BENCHMARK(BM_DecisionCacheHit)->Threads(1)->Threads(2);

}  // namespace
