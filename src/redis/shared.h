#pragma once
// State one Client shares with every execution context that uses it: the options, the TLS
// context, the counters and the cluster slot map. Held by shared_ptr by the Client and by each
// context's pools, so either may go first. Thread-safe (atomics, TopologyHolder's mutex; the
// rest is immutable after create()).

#include <boost/asio/ssl/context.hpp>

#include <spdlog/logger.h>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/log.h"
#include "redis/client.h"
#include "redis/topology.h"

namespace yg::redis {

class ContextPools;

struct AtomicStats {
  std::atomic<uint64_t> connects{0}, connect_failures{0}, disconnects{0}, timeouts{0};
  std::atomic<uint64_t> fast_failures{0}, moved{0}, ask{0}, topology_refreshes{0};
  std::atomic<int64_t> connections_open{0};

  static void inc(std::atomic<uint64_t>& c, uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }
  ClientStats snapshot() const noexcept;
};

// Builds the TLS client context of `o` (verify the peer against o.tls_ca_file, or the system
// store when empty). Throws std::invalid_argument when the CA file cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const ClientOptions& o);

struct Shared {
  explicit Shared(ClientOptions o);

  const ClientOptions opts;
  const uint64_t id;  // distinguishes Clients in a context's PoolService
  std::shared_ptr<boost::asio::ssl::context> tls;  // null unless opts.tls
  std::shared_ptr<spdlog::logger> log;
  AtomicStats stats;
  TopologyHolder topology;
  yg::log::Throttle timeout_log{std::chrono::seconds(1)};

  // The pools this Client has in each execution context, so that destroying the Client closes
  // its connections everywhere (idle connections keep a read pending, which keeps an
  // io_context's run() going). A context that shuts down first unregisters its pools.
  // Returns false once closed.
  bool register_pools(const std::shared_ptr<ContextPools>& p);
  void unregister_pools(const ContextPools* p);
  // Posts a close to every registered pools' strand; later lookups get no pools.
  void close_all_pools();

 private:
  std::mutex pools_mu_;
  bool pools_closed_ = false;
  std::vector<std::weak_ptr<ContextPools>> pools_;
};

// The wait before reconnect attempt `failures` + 1 (pools and the subscriber):
// backoff_initial * 2^(failures-1), capped at backoff_max, then +-20% jitter.
std::chrono::steady_clock::duration backoff_delay(const ClientOptions& o, unsigned failures);

}  // namespace yg::redis
