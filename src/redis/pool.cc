#include "redis/pool.h"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <random>

#include "redis/connection.h"

namespace yg::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// backoff_initial * 2^(n-1), capped at backoff_max, then +-20% jitter.
std::chrono::steady_clock::duration backoff_delay(const ClientOptions& o, unsigned failures) {
  using ms = std::chrono::milliseconds;
  ms d = o.backoff_initial;
  for (unsigned i = 1; i < failures && d < o.backoff_max; ++i) {
    d *= 2;
  }
  d = std::min(d, o.backoff_max);
  thread_local std::minstd_rand rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(static_cast<double>(d.count()) * jitter(rng)));
}

// ---- BatchOp ----

BatchOp::BatchOp(Handler h, std::size_t n, const asio::any_io_executor& handler_ex)
    : handler_(std::move(h)),
      work_(asio::prefer(handler_ex, asio::execution::outstanding_work.tracked)),
      results_(n),
      remaining_(n) {
  if (n == 0) {
    finish();
  }
}

void BatchOp::set(std::size_t i, Result r) {
  results_[i] = std::move(r);
  if (--remaining_ == 0) {
    finish();
  }
}

void BatchOp::finish() {
  auto ex = std::move(work_);
  work_ = nullptr;
  asio::post(ex, [h = std::move(handler_), r = std::move(results_)]() mutable {
    std::move(h)(std::move(r));
  });
}

// ---- ContextPools ----

ContextPools::ContextPools(asio::any_io_executor strand, std::shared_ptr<Shared> shared)
    : strand_(std::move(strand)), shared_(std::move(shared)) {}

ContextPools::~ContextPools() = default;

void ContextPools::submit(std::vector<Job> jobs, std::shared_ptr<BatchOp> op) {
  asio::post(strand_,
             [self = shared_from_this(), jobs = std::move(jobs), op = std::move(op)]() mutable {
               self->run(std::move(jobs), std::move(op));
             });
}

ContextPools::NodePool& ContextPools::pool_for(const Endpoint& ep) {
  std::string key = ep.to_string();
  auto it = nodes_.find(key);
  if (it == nodes_.end()) {
    it = nodes_.emplace(std::move(key), NodePool{}).first;
    it->second.ep = ep;
  }
  return it->second;
}

void ContextPools::run(std::vector<Job> jobs, std::shared_ptr<BatchOp> op) {
  if (closed_) {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      op->set(i, Result{Errc::closed, {}, "the Redis client's pools are closed"});
    }
    return;
  }
  // Group by node, keeping the given order inside each group.
  std::vector<std::size_t> order(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    order[i] = i;
  }
  if (jobs.size() > 1) {
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return jobs[a].node.port != jobs[b].node.port ? jobs[a].node.port < jobs[b].node.port
                                                    : jobs[a].node.host < jobs[b].node.host;
    });
  }
  std::size_t g = 0;
  while (g < order.size()) {
    std::size_t end = g + 1;
    while (end < order.size() && jobs[order[end]].node == jobs[order[g]].node) {
      ++end;
    }
    NodePool& np = pool_for(jobs[order[g]].node);
    std::string why;
    Connection* c = pick(np, why);
    if (c == nullptr) {
      AtomicStats::inc(shared_->stats.fast_failures, end - g);
      for (std::size_t k = g; k < end; ++k) {
        op->set(order[k], Result{Errc::unavailable, {}, why});
      }
    } else {
      // Keep the connection alive across the enqueue/flush below.
      auto keep = c->shared_from_this();
      for (std::size_t k = g; k < end; ++k) {
        Job& j = jobs[order[k]];
        c->enqueue(std::move(j.cmd), op, order[k], j.asking);
      }
      c->flush();
    }
    g = end;
  }
}

Connection* ContextPools::pick(NodePool& np, std::string& why) {
  const auto now = Clock::now();
  Connection* best = nullptr;
  Connection* connecting = nullptr;
  for (auto& c : np.conns) {
    if (c->state() == Connection::State::Ready) {
      if (best == nullptr || c->load() < best->load()) {
        best = c.get();
      }
    } else if (c->state() == Connection::State::Connecting) {
      connecting = c.get();
    }
  }
  if (best != nullptr && best->load() == 0) {
    return best;
  }
  const bool in_backoff = np.failures > 0 && now < np.retry_at;
  if (np.conns.size() < shared_->opts.pool_size && connecting == nullptr && !in_backoff) {
    auto c =
        std::make_shared<Connection>(strand_, shared_, np.ep, np.ep.to_string(), weak_from_this());
    np.conns.push_back(c);
    c->start();
    if (best == nullptr) {
      return c.get();
    }
  }
  if (best != nullptr) {
    return best;
  }
  if (connecting != nullptr) {
    return connecting;
  }
  why = np.ep.to_string() + " unavailable (reconnect backoff after: " + np.last_error + ")";
  return nullptr;
}

void ContextPools::remove(NodePool& np, const Connection& c) {
  np.conns.erase(std::remove_if(np.conns.begin(), np.conns.end(),
                                [&](const auto& p) { return p.get() == &c; }),
                 np.conns.end());
}

void ContextPools::on_connected(const Connection& c) {
  AtomicStats::inc(shared_->stats.connects);
  shared_->stats.connections_open.fetch_add(1, std::memory_order_relaxed);
  auto it = nodes_.find(c.node_key());
  if (it == nodes_.end()) {
    return;
  }
  NodePool& np = it->second;
  if (np.failures > 0) {
    shared_->log->info("redis: connected to {} again after {} failed attempt(s)", c.node_key(),
                       np.failures);
  }
  np.failures = 0;
  np.retry_at = {};
}

void ContextPools::on_connect_failed(const Connection& c, const std::string& detail) {
  AtomicStats::inc(shared_->stats.connect_failures);
  auto it = nodes_.find(c.node_key());
  if (it == nodes_.end()) {
    return;
  }
  NodePool& np = it->second;
  remove(np, c);
  ++np.failures;
  np.last_error = detail;
  const auto delay = backoff_delay(shared_->opts, np.failures);
  np.retry_at = Clock::now() + delay;
  const auto delay_ms = std::chrono::duration_cast<std::chrono::milliseconds>(delay).count();
  if (np.failures == 1) {
    shared_->log->warn("redis: cannot connect to {}: {}; commands fail fast, retry in {} ms",
                       c.node_key(), detail, delay_ms);
  } else {
    shared_->log->debug("redis: still cannot connect to {} (attempt {}): {}; retry in {} ms",
                        c.node_key(), np.failures, detail, delay_ms);
  }
}

void ContextPools::on_closed(const Connection& c, bool was_ready) {
  if (was_ready) {
    AtomicStats::inc(shared_->stats.disconnects);
    shared_->stats.connections_open.fetch_sub(1, std::memory_order_relaxed);
  }
  auto it = nodes_.find(c.node_key());
  if (it != nodes_.end()) {
    remove(it->second, c);
  }
}

void ContextPools::shutdown(bool abandon) {
  closed_ = true;
  auto nodes = std::move(nodes_);
  nodes_.clear();
  for (auto& [key, np] : nodes) {
    for (auto& c : np.conns) {
      const bool was_ready = c->state() == Connection::State::Ready;
      if (abandon) {
        c->abandon();
        if (was_ready) {
          AtomicStats::inc(shared_->stats.disconnects);
          shared_->stats.connections_open.fetch_sub(1, std::memory_order_relaxed);
        }
      } else {
        c->close(Errc::closed, "the Redis client was destroyed");
      }
    }
  }
}

// ---- PoolService ----

asio::execution_context::id PoolService::id;

PoolService::PoolService(asio::execution_context& ctx) : service(ctx) {}

PoolService::~PoolService() = default;

std::shared_ptr<ContextPools> PoolService::get(const std::shared_ptr<Shared>& shared,
                                               const asio::any_io_executor& ex) {
  std::lock_guard lk(mu_);
  if (down_) {
    return nullptr;
  }
  auto& pools = clients_[shared->id];
  if (pools == nullptr) {
    // A strand of this context that does not count as work by itself: idle pools must not keep
    // io_context::run() going through the executor (their sockets still do, see pool.h).
    pools = std::make_shared<ContextPools>(
        asio::make_strand(asio::prefer(ex, asio::execution::outstanding_work.untracked)), shared);
    if (!shared->register_pools(pools)) {
      pools->shutdown(true);  // the Client is gone: nothing was queued yet
    }
  }
  return pools;
}

void PoolService::shutdown() {
  std::unordered_map<uint64_t, std::shared_ptr<ContextPools>> clients;
  {
    std::lock_guard lk(mu_);
    down_ = true;
    clients.swap(clients_);
  }
  // Nothing runs on this context any more: no strand needed.
  for (auto& [id, pools] : clients) {
    pools->shared()->unregister_pools(pools.get());
    pools->shutdown(true);
  }
}

// ---- Shared's registry of pools ----

bool Shared::register_pools(const std::shared_ptr<ContextPools>& p) {
  std::lock_guard lk(pools_mu_);
  if (pools_closed_) {
    return false;
  }
  std::erase_if(pools_, [](const auto& w) { return w.expired(); });
  pools_.push_back(p);
  return true;
}

void Shared::unregister_pools(const ContextPools* p) {
  std::lock_guard lk(pools_mu_);
  std::erase_if(pools_, [p](const auto& w) {
    auto s = w.lock();
    return s == nullptr || s.get() == p;
  });
}

void Shared::close_all_pools() {
  // Under the lock: a context shutting down unregisters first or waits, so the strand posted to
  // is never one of a destroyed context.
  std::lock_guard lk(pools_mu_);
  pools_closed_ = true;
  for (auto& w : pools_) {
    if (auto p = w.lock()) {
      asio::post(p->strand(), [p] { p->shutdown(false); });
    }
  }
  pools_.clear();
}

}  // namespace yg::redis
