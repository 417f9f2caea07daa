#pragma once
// The server: N workers, each a thread running its own io_context with its own SO_REUSEPORT
// listener (DESIGN.md section 2), plus the runtime snapshot they share.
//
// Lifecycle (main thread): start() -> [swap_runtime()]* -> drain() -> join(), or, for a caller
// that keeps its own loop running meanwhile (main: a second signal must still be heard),
// start() -> begin_drain() -> poll open_connections() -> stop() -> join().

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "proxy/runtime.h"
#include "proxy/worker.h"

namespace yg::proxy {

class Server {
 public:
  explicit Server(std::shared_ptr<const Runtime> rt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every worker's listener (throws std::runtime_error naming the address) and starts the
  // worker threads.
  void start();
  // Publishes a new snapshot; requests in flight keep the one they started with.
  void swap_runtime(std::shared_ptr<const Runtime> rt);
  std::shared_ptr<const Runtime> runtime() const { return shared_.runtime.load(); }
  // The audit log requests write to (nullptr: none). Set before start(); outlives the workers.
  void set_audit(obs::AuditLog* audit) { shared_.audit = audit; }
  // The response cache (nullptr: none). Set before start(); destroyed after the workers stop.
  void set_cache(std::shared_ptr<CacheRuntime> cache) { shared_.cache = std::move(cache); }
  CacheRuntime* cache() const { return shared_.cache.get(); }
  // The reloader POST /admin/reload hands its work to. Set before start(); outlives the workers.
  void set_reloader(Reloader* r) { shared_.reloader = r; }
  // Graceful shutdown (OPS-5): /ready turns 503, listeners close, idle keep-alive connections
  // close, in-flight requests finish within `timeout`, then the workers stop.
  void drain(std::chrono::seconds timeout);
  // The steps of drain(): /ready turns 503 and the main listeners close (metrics.port stays open
  // so health checkers see the 503), idle keep-alive connections close, and connections that
  // finish their request close after it. Returns at once.
  void begin_drain();
  bool draining() const { return shared_.draining.load(); }
  // Client connections of the main listener still open.
  std::size_t open_connections() const { return shared_.main_sessions.load(); }
  // Stops the workers: connections still open are cut.
  void stop();
  void join();

 private:
  Shared shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace yg::proxy
