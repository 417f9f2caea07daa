#pragma once
// Process-wide shared state and the per-worker state (DESIGN.md section 2).
//
// Shared: read-mostly, atomics only. Worker: owned by one thread running its io_context;
// everything in it is touched only on that thread (posts from other threads go through
// boost::asio::post to `io`).

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <unordered_set>

#include "core/clock.h"
#include "net/client/upstream_pool.h"
#include "net/server/client_stream.h"
#include "obs/audit.h"
#include "obs/metrics.h"
#include "proxy/runtime.h"

namespace yg::proxy {

struct CacheRuntime;  // proxy/cache_phase.h
class Reloader;       // proxy/reload.h

struct Shared {
  std::atomic<std::shared_ptr<const Runtime>> runtime;
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> inflight{0};     // requests being handled, streams included
  std::atomic<std::size_t> sessions{0};  // open client connections, all workers
  // Those of the main listener: the drain waits for these (metrics.port scrapes are cut).
  std::atomic<std::size_t> main_sessions{0};
  SteadyClock::time_point started = SteadyClock::now();
  // Set before the workers start, cleared after they stop; the audit config is read at start.
  obs::AuditLog* audit = nullptr;
  // The response cache (nullptr: cache.enabled was false at start). Kept across reloads.
  std::shared_ptr<CacheRuntime> cache;
  // POST /admin/reload (nullptr: not offered). Set before the workers start; outlives them.
  Reloader* reloader = nullptr;
};

// Which listener a connection came in on: the main one, or metrics.port (which answers only
// /metrics, /health and /ready).
enum class Listener : uint8_t { Main, Metrics };

struct Worker {
  explicit Worker(Shared& s)
      : shared(s), metrics(obs::metrics().add_shard()), pool(io.get_executor()) {}
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Destruction order matters: members below `io` (sockets of the acceptor and of pooled
  // connections) are destroyed first, while io's socket service still exists. Session frames
  // still suspended are destroyed with `io`, last; on that path they touch only `shared`
  // (which outlives every Worker), never the members below.
  Shared& shared;
  obs::WorkerMetrics& metrics;  // this worker's shard: only this thread writes it
  boost::asio::io_context io{1};
  net::UpstreamPool pool;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor;
  std::optional<boost::asio::ip::tcp::acceptor> metrics_acceptor;  // worker 0, metrics.port
  // Sessions waiting for the next request on a keep-alive connection; closed on drain.
  std::unordered_set<net::ClientStream*> idle;
};

}  // namespace yg::proxy
