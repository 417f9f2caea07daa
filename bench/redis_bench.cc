// A Redis round trip through our client (src/redis, the cache's Redis layer: CACHE-4) against a
// real redis-server on loopback, started by this program (tests/support/redis_server.h): SET
// and GET of 1 KiB and 64 KiB values, one command at a time on one connection, as a worker
// waits on a cache lookup. Wall time (UseRealTime) is the figure: it includes the server's work
// and two trips through the loopback stack, which is what a request waits for. If the server
// cannot start, every benchmark reports an error instead of a number (YG_BENCH_REDIS_SERVER
// overrides the path of the binary).

#include <benchmark/benchmark.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "redis/client.h"
#include "support/redis_server.h"

namespace {

namespace asio = boost::asio;
using yg::redis::Client;
using yg::redis::Command;

// One server and one client for the whole program: starting redis-server per benchmark run
// (Google Benchmark calls each function several times) would cost more than the runs.
struct RedisFixture {
  std::unique_ptr<yg::test::RedisServer> server;
  std::shared_ptr<Client> client;
  std::string error;  // why there is no server; empty when it runs
};

RedisFixture& fixture() {
  static RedisFixture f = [] {
    RedisFixture r;
    // YG_BENCH_REDIS_SERVER names another redis-server binary (or a broken one, to see the
    // error path).
    if (const char* bin = std::getenv("YG_BENCH_REDIS_SERVER")) {
      yg::test::kRedisServerBin = bin;
    }
    try {
      r.server = std::make_unique<yg::test::RedisServer>();
      yg::redis::ClientOptions o;
      o.nodes = {yg::redis::Endpoint{"127.0.0.1", r.server->port()}};
      o.pool_size = 1;  // one connection: strictly one round trip after another
      o.command_timeout = std::chrono::seconds(2);
      r.client = Client::create(o);
    } catch (const std::exception& e) {
      r.error = std::string("redis-server unavailable: ") + e.what();
    }
    return r;
  }();
  return f;
}

// Runs `op` on a fresh io_context (a worker's) until it completes. The client's pooled
// connection keeps a read pending, so the context is stopped rather than run dry.
void run_on_worker(asio::awaitable<void> op, benchmark::State& state) {
  asio::io_context io;
  bool done = false;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e) {
    done = true;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        state.SkipWithError(ex.what());
      }
    }
    io.stop();
  });
  io.run_for(std::chrono::minutes(5));
  if (!done) {
    state.SkipWithError("the benchmark coroutine did not finish");
  }
}

// The whole timed loop runs inside one coroutine, so an iteration is exactly one exec(): no
// co_spawn or io_context start-up per command. The connection is opened (and the key written,
// for GET) before the loop.
asio::awaitable<void> round_trips(std::shared_ptr<Client> c, benchmark::State& state, bool get) {
  const std::string key = "yg-bench:" + std::to_string(state.range(0));
  const std::string value(static_cast<std::size_t>(state.range(0)), 'v');
  auto warm = co_await c->exec(Command{"SET", key, value});
  if (!warm.ok() || !warm.reply.is_ok()) {
    state.SkipWithError(("SET before the loop failed: " + warm.detail).c_str());
    co_return;
  }
  for (auto _ : state) {
    // Not `get ? co_await a : co_await b`: g++ 12 destroys the result of a co_await inside ?:
    // twice (free(): invalid pointer).
    yg::redis::Result r;
    if (get) {
      r = co_await c->exec(Command{"GET", key});
    } else {
      r = co_await c->exec(Command{"SET", key, value});
    }
    if (!r.ok() || r.reply.is_error()) {
      state.SkipWithError(("redis command failed: " + r.detail + r.reply.str).c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void run_round_trips(benchmark::State& state, bool get) {
  RedisFixture& f = fixture();
  if (!f.client) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  run_on_worker(round_trips(f.client, state, get), state);
}

// Arg: value bytes.
void BM_RedisGet(benchmark::State& state) {
  run_round_trips(state, true);
}
BENCHMARK(BM_RedisGet)->Arg(1024)->Arg(64 * 1024)->UseRealTime();

// Arg: value bytes.
void BM_RedisSet(benchmark::State& state) {
  run_round_trips(state, false);
}
BENCHMARK(BM_RedisSet)->Arg(1024)->Arg(64 * 1024)->UseRealTime();

}  // namespace
