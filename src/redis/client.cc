// Client: validation, the per-context pool lookup, standalone execution and cluster routing
// (slot map, MOVED/ASK, TRYAGAIN/CLUSTERDOWN retry, refresh on failures).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <stdexcept>

#include "redis/client.h"
#include "redis/pool.h"
#include "redis/shared.h"
#include "redis/slot.h"
#include "redis/topology.h"

namespace yg::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// ---- Shared ----

ClientStats AtomicStats::snapshot() const noexcept {
  ClientStats s;
  s.connects = connects.load(std::memory_order_relaxed);
  s.connect_failures = connect_failures.load(std::memory_order_relaxed);
  s.disconnects = disconnects.load(std::memory_order_relaxed);
  s.timeouts = timeouts.load(std::memory_order_relaxed);
  s.fast_failures = fast_failures.load(std::memory_order_relaxed);
  s.moved = moved.load(std::memory_order_relaxed);
  s.ask = ask.load(std::memory_order_relaxed);
  s.topology_refreshes = topology_refreshes.load(std::memory_order_relaxed);
  const int64_t open = connections_open.load(std::memory_order_relaxed);
  s.connections_open = open < 0 ? 0 : static_cast<uint64_t>(open);
  return s;
}

std::shared_ptr<asio::ssl::context> make_tls_context(const ClientOptions& o) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (o.tls_ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(o.tls_ca_file, ec);
  }
  if (ec) {
    throw std::invalid_argument(
        "redis: cannot load TLS CA " +
        (o.tls_ca_file.empty() ? std::string("(system store)") : o.tls_ca_file) + ": " +
        ec.message());
  }
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

namespace {
std::atomic<uint64_t> g_next_client_id{1};
}  // namespace

Shared::Shared(ClientOptions o)
    : opts(std::move(o)),
      id(g_next_client_id.fetch_add(1, std::memory_order_relaxed)),
      tls(opts.tls ? make_tls_context(opts) : nullptr),
      log(yg::log::get("redis")) {}

namespace {

constexpr int kMaxRedirects = 5;
constexpr std::chrono::milliseconds kRetryLaterWait{75};

using CmdPtr = std::shared_ptr<const Command>;

Result failure(Errc e, std::string detail) {
  return Result{e, {}, std::move(detail)};
}

std::shared_ptr<ContextPools> pools_for(const std::shared_ptr<Shared>& s,
                                        const asio::any_io_executor& ex) {
  asio::execution_context& ctx = asio::query(ex, asio::execution::context);
  return asio::use_service<PoolService>(ctx).get(s, ex);
}

Command cluster_slots_command() {
  Command c{"CLUSTER", "SLOTS"};
  c.key_index(-1);
  return c;
}

// Asks the known nodes (masters, replicas, then the seeds) for CLUSTER SLOTS; the first good
// answer replaces the map.
asio::awaitable<bool> refresh_topology(std::shared_ptr<Shared> s,
                                       std::shared_ptr<ContextPools> pools) {
  AtomicStats::inc(s->stats.topology_refreshes);
  std::vector<Endpoint> candidates;
  auto add = [&](const Endpoint& e) {
    if (std::find(candidates.begin(), candidates.end(), e) == candidates.end()) {
      candidates.push_back(e);
    }
  };
  if (auto t = s->topology.get()) {
    for (const auto& e : t->masters) {
      add(e);
    }
    for (const auto& e : t->replicas) {
      add(e);
    }
  }
  for (const auto& e : s->opts.nodes) {
    add(e);
  }
  const auto cmd = std::make_shared<const Command>(cluster_slots_command());
  for (const Endpoint& ep : candidates) {
    std::vector<Job> jobs;
    jobs.push_back(Job{ep, cmd, false});
    std::vector<Result> rs = co_await async_run_jobs(pools, std::move(jobs), asio::use_awaitable);
    if (rs[0].ok() && !rs[0].reply.is_error()) {
      if (auto t = parse_cluster_slots(rs[0].reply, ep.host)) {
        s->topology.set(std::move(t));
        co_return true;
      }
    }
  }
  s->log->debug("redis: no cluster node answered CLUSTER SLOTS ({} tried)", candidates.size());
  co_return false;
}

// The slot map to route with: fetched when there is none, refreshed (by one caller per 100 ms)
// when it is stale.
asio::awaitable<std::shared_ptr<const Topology>> current_topology(
    std::shared_ptr<Shared> s, std::shared_ptr<ContextPools> pools) {
  auto t = s->topology.get();
  if (t == nullptr || t->empty() || s->topology.claim_refresh(Clock::now())) {
    co_await refresh_topology(s, pools);
    t = s->topology.get();
  }
  co_return t;
}

asio::awaitable<std::vector<Result>> run_cluster(std::shared_ptr<Shared> s,
                                                 std::shared_ptr<ContextPools> pools,
                                                 std::vector<CmdPtr> cmds) {
  struct State {
    std::optional<Endpoint> node;
    bool asking = false;
    bool retried = false;
    int redirects = 0;
  };
  const std::size_t n = cmds.size();
  std::vector<Result> out(n);
  std::vector<State> st(n);
  std::vector<std::size_t> todo(n);
  for (std::size_t i = 0; i < n; ++i) {
    todo[i] = i;
  }
  const auto start = Clock::now();
  const auto ex = co_await asio::this_coro::executor;

  while (!todo.empty()) {
    const std::shared_ptr<const Topology> topo = co_await current_topology(s, pools);
    std::vector<Job> jobs;
    std::vector<std::size_t> idx;
    for (std::size_t i : todo) {
      if (!st[i].node) {
        const Endpoint* m = nullptr;
        const std::string_view key = cmds[i]->key();
        if (topo != nullptr && !topo->empty()) {
          m = key.empty() ? &topo->masters[0] : topo->master_for(key_slot(key));
        }
        if (m == nullptr) {
          s->topology.mark_stale();
          out[i] = failure(Errc::unavailable, key.empty() ? std::string("no cluster node known")
                                                          : "no cluster node known for slot " +
                                                                std::to_string(key_slot(key)));
          continue;
        }
        st[i].node = *m;
      }
      jobs.push_back(Job{*st[i].node, cmds[i], st[i].asking});
      idx.push_back(i);
    }
    if (jobs.empty()) {
      break;
    }
    std::vector<Result> rs = co_await async_run_jobs(pools, std::move(jobs), asio::use_awaitable);

    std::vector<std::size_t> next;
    bool wait = false;
    for (std::size_t k = 0; k < idx.size(); ++k) {
      const std::size_t i = idx[k];
      Result& r = rs[k];
      State& s_i = st[i];
      s_i.asking = false;
      if (!r.ok()) {
        // The node is down, hung or gone: the map may be out of date (failover).
        s->topology.mark_stale();
        out[i] = std::move(r);
        continue;
      }
      if (r.reply.is_error()) {
        const std::string_view msg = r.reply.str;
        if (auto rd = parse_redirect(msg, s_i.node->host)) {
          if (++s_i.redirects > kMaxRedirects) {
            out[i] = failure(Errc::redirects, "more than " + std::to_string(kMaxRedirects) +
                                                  " redirections; last: " + r.reply.str);
            continue;
          }
          if (rd->kind == Redirect::Kind::Moved) {
            AtomicStats::inc(s->stats.moved);
            s->topology.moved(rd->slot, rd->to);
          } else {
            AtomicStats::inc(s->stats.ask);
            s_i.asking = true;
          }
          s_i.node = rd->to;
          next.push_back(i);
          continue;
        }
        if (is_retry_later(msg) && !s_i.retried &&
            Clock::now() - start + kRetryLaterWait < s->opts.command_timeout) {
          s_i.retried = true;
          if (msg.starts_with("CLUSTERDOWN")) {
            s->topology.mark_stale();
            s_i.node.reset();
          }
          wait = true;
          next.push_back(i);
          continue;
        }
      }
      out[i] = std::move(r);
    }
    if (wait) {
      asio::steady_timer t(ex, kRetryLaterWait);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    todo = std::move(next);
  }
  co_return out;
}

asio::awaitable<std::vector<Result>> run_commands(std::shared_ptr<Shared> s,
                                                  std::vector<CmdPtr> cmds) {
  if (cmds.empty()) {
    co_return std::vector<Result>{};
  }
  const auto ex = co_await asio::this_coro::executor;
  auto pools = pools_for(s, ex);
  if (pools == nullptr) {
    co_return std::vector<Result>(
        cmds.size(),
        failure(Errc::unavailable,
                "the execution context is shutting down, or the client was destroyed"));
  }
  if (s->opts.cluster) {
    co_return co_await run_cluster(s, pools, std::move(cmds));
  }
  std::vector<Job> jobs;
  jobs.reserve(cmds.size());
  for (auto& c : cmds) {
    jobs.push_back(Job{s->opts.nodes[0], std::move(c), false});
  }
  co_return co_await async_run_jobs(pools, std::move(jobs), asio::use_awaitable);
}

asio::awaitable<Result> exec_one(std::shared_ptr<Shared> s, Command cmd) {
  std::vector<CmdPtr> cmds;
  cmds.push_back(std::make_shared<const Command>(std::move(cmd)));
  std::vector<Result> rs = co_await run_commands(std::move(s), std::move(cmds));
  co_return std::move(rs[0]);
}

asio::awaitable<std::vector<Result>> exec_many(std::shared_ptr<Shared> s,
                                               std::vector<Command> cmds) {
  std::vector<CmdPtr> ptrs;
  ptrs.reserve(cmds.size());
  for (auto& c : cmds) {
    ptrs.push_back(std::make_shared<const Command>(std::move(c)));
  }
  co_return co_await run_commands(std::move(s), std::move(ptrs));
}

asio::awaitable<Result> exec_on(std::shared_ptr<Shared> s, Endpoint node, Command cmd) {
  const auto ex = co_await asio::this_coro::executor;
  auto pools = pools_for(s, ex);
  if (pools == nullptr) {
    co_return failure(Errc::unavailable,
                      "the execution context is shutting down, or the client was destroyed");
  }
  std::vector<Job> jobs;
  jobs.push_back(Job{std::move(node), std::make_shared<const Command>(std::move(cmd)), false});
  std::vector<Result> rs = co_await async_run_jobs(pools, std::move(jobs), asio::use_awaitable);
  co_return std::move(rs[0]);
}

asio::awaitable<std::vector<Endpoint>> list_masters(std::shared_ptr<Shared> s) {
  if (!s->opts.cluster) {
    co_return s->opts.nodes;
  }
  const auto ex = co_await asio::this_coro::executor;
  auto pools = pools_for(s, ex);
  if (pools == nullptr) {
    co_return std::vector<Endpoint>{};
  }
  auto t = co_await current_topology(s, pools);
  if (t == nullptr) {
    co_return std::vector<Endpoint>{};
  }
  co_return t->masters;
}

// The coroutines above are free functions taking everything by value: they keep the shared
// state alive themselves, so a Client destroyed while a command runs is harmless.
class ClientImpl final : public Client {
 public:
  explicit ClientImpl(ClientOptions o) : shared_(std::make_shared<Shared>(std::move(o))) {}
  ~ClientImpl() override { shared_->close_all_pools(); }

  asio::awaitable<Result> exec(Command cmd) override { return exec_one(shared_, std::move(cmd)); }
  asio::awaitable<std::vector<Result>> exec_batch(std::vector<Command> cmds) override {
    return exec_many(shared_, std::move(cmds));
  }
  asio::awaitable<std::vector<Endpoint>> masters() override { return list_masters(shared_); }
  asio::awaitable<Result> exec_at(Endpoint node, Command cmd) override {
    return exec_on(shared_, std::move(node), std::move(cmd));
  }
  ClientStats stats() const override { return shared_->stats.snapshot(); }
  const ClientOptions& options() const noexcept override { return shared_->opts; }

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace

std::shared_ptr<Client> Client::create(ClientOptions o) {
  if (o.nodes.empty()) {
    throw std::invalid_argument("redis: no node given");
  }
  if (!o.cluster && o.nodes.size() != 1) {
    throw std::invalid_argument("redis: standalone mode takes exactly one node (got " +
                                std::to_string(o.nodes.size()) + ")");
  }
  for (const auto& n : o.nodes) {
    if (n.host.empty() || n.port == 0) {
      throw std::invalid_argument("redis: bad node address '" + n.to_string() + "'");
    }
  }
  if (o.cluster && o.db != 0) {
    throw std::invalid_argument(
        "redis: a cluster has database 0 only (db: " + std::to_string(o.db) + ")");
  }
  if (o.pool_size == 0) {
    throw std::invalid_argument("redis: pool_size must be at least 1");
  }
  if (o.connect_timeout.count() <= 0 || o.command_timeout.count() <= 0) {
    throw std::invalid_argument("redis: connect_timeout and command_timeout must be positive");
  }
  if (o.backoff_initial.count() <= 0 || o.backoff_max < o.backoff_initial) {
    throw std::invalid_argument("redis: backoff_initial must be positive and <= backoff_max");
  }
  if (o.max_reply_bytes == 0) {
    throw std::invalid_argument("redis: max_reply_bytes must be positive");
  }
  return std::make_shared<ClientImpl>(std::move(o));
}

}  // namespace yg::redis
