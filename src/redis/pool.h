#pragma once
// Per-execution-context connection pools.
//
// PoolService is an Asio service of the caller's execution context (an io_context, a
// thread_pool): it holds one ContextPools per Client that ran commands there, so connections
// live exactly as long as that context. ContextPools keeps, per Redis node, up to pool_size
// Connections plus the node's reconnect backoff; its state is touched only on its strand (a
// strand of that context). Jobs arrive from any thread through submit() and complete through a
// BatchOp on the caller's executor.
//
// Lifetime: ContextPools holds the Client's Shared state by shared_ptr, never the Client, so a
// Client may be destroyed first: its destructor posts a close to its pools in every context
// (commands still in flight complete with `closed`), after which a context with nothing else to
// do returns from run(). While a Client lives, its idle connections keep a read pending on each
// context that used it: stop() such a context (or destroy the Client) to end its run().
// At context shutdown, pending commands are dropped, not completed (their coroutines are being
// destroyed with the context).

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "redis/client.h"
#include "redis/shared.h"

namespace yg::redis {

class Connection;

// One command for one node; `asking` sends ASKING first on the same connection (cluster ASK).
struct Job {
  Endpoint node;
  std::shared_ptr<const Command> cmd;
  bool asking = false;
};

// The results of one submit(), filled on the pools' strand; when the last one is set, the
// handler is posted to its own executor (never run inline: the strand's caller may be in the
// middle of a read loop). Holds outstanding work on that executor until then.
class BatchOp {
 public:
  using Handler = boost::asio::any_completion_handler<void(std::vector<Result>)>;
  BatchOp(Handler h, std::size_t n, const boost::asio::any_io_executor& handler_ex);
  void set(std::size_t i, Result r);
  std::size_t size() const noexcept { return results_.size(); }

 private:
  void finish();
  Handler handler_;
  boost::asio::any_io_executor work_;
  std::vector<Result> results_;
  std::size_t remaining_;
};

class ContextPools : public std::enable_shared_from_this<ContextPools> {
 public:
  ContextPools(boost::asio::any_io_executor strand, std::shared_ptr<Shared> shared);
  ~ContextPools();

  const std::shared_ptr<Shared>& shared() const noexcept { return shared_; }
  const boost::asio::any_io_executor& strand() const noexcept { return strand_; }
  // Any thread: runs `jobs` on the strand (grouped by node: each group goes out on one
  // connection in one write).
  void submit(std::vector<Job> jobs, std::shared_ptr<BatchOp> op);
  // Strand (or context shutdown, when nothing runs): closes every connection. `abandon` drops
  // pending commands without completing them (context shutdown); otherwise they get `closed`.
  void shutdown(bool abandon);

  // Connection callbacks (strand).
  void on_connected(const Connection& c);
  void on_connect_failed(const Connection& c, const std::string& detail);
  void on_closed(const Connection& c, bool was_ready);

 private:
  struct NodePool {
    Endpoint ep;
    std::vector<std::shared_ptr<Connection>> conns;
    unsigned failures = 0;  // consecutive failed connects
    std::chrono::steady_clock::time_point retry_at{};
    std::string last_error;
  };
  void run(std::vector<Job> jobs, std::shared_ptr<BatchOp> op);
  NodePool& pool_for(const Endpoint& ep);
  // The connection to use, or null inside the backoff window (`why` says so).
  Connection* pick(NodePool& np, std::string& why);
  void remove(NodePool& np, const Connection& c);

  boost::asio::any_io_executor strand_;
  std::shared_ptr<Shared> shared_;
  std::unordered_map<std::string, NodePool> nodes_;
  bool closed_ = false;
};

class PoolService final : public boost::asio::execution_context::service {
 public:
  static boost::asio::execution_context::id id;
  explicit PoolService(boost::asio::execution_context& ctx);
  ~PoolService() override;

  // The pools of the Client `shared` in this context, created on first use with a strand made
  // from `ex`. Null once the context is shutting down or the Client is destroyed.
  std::shared_ptr<ContextPools> get(const std::shared_ptr<Shared>& shared,
                                    const boost::asio::any_io_executor& ex);

 private:
  void shutdown() override;
  std::mutex mu_;
  bool down_ = false;
  std::unordered_map<uint64_t, std::shared_ptr<ContextPools>> clients_;
};

// Submits `jobs` to `pools` and completes with one Result per job, in order, on the caller's
// executor.
struct RunJobsInitiation {
  template <class Handler>
  void operator()(Handler&& h, std::shared_ptr<ContextPools> pools, std::vector<Job> jobs) const {
    auto ex = boost::asio::get_associated_executor(h, pools->strand());
    auto op = std::make_shared<BatchOp>(BatchOp::Handler(std::forward<Handler>(h)), jobs.size(),
                                        boost::asio::any_io_executor(ex));
    pools->submit(std::move(jobs), std::move(op));
  }
};
template <class Token>
auto async_run_jobs(std::shared_ptr<ContextPools> pools, std::vector<Job> jobs, Token&& token) {
  return boost::asio::async_initiate<Token, void(std::vector<Result>)>(
      RunJobsInitiation{}, token, std::move(pools), std::move(jobs));
}

}  // namespace yg::redis
