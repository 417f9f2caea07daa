#pragma once
// One pipelined connection to a Redis node, owned by its node's pool (ContextPools) and by its
// own coroutines while they run (shared_from_this). Strand-confined: every member runs on the
// pools' strand.
//
// Lifecycle: Connecting (resolve, TCP, TLS, AUTH/SELECT, all within connect_timeout; commands
// queue meanwhile) -> Ready -> Closed. Commands are written in FIFO order; those queued while a
// write is in progress go out together in the next write (small ones copied into one staging
// buffer, large bodies referenced in place). Replies are matched FIFO. If the oldest command
// waits longer than command_timeout, every command on the connection fails with timeout and
// the connection closes: a pipelined connection cannot skip a reply.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "redis/client.h"
#include "redis/pool.h"
#include "redis/reply_reader.h"
#include "redis/shared.h"
#include "redis/transport.h"

namespace yg::redis {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State : uint8_t { Connecting, Ready, Closed };

  Connection(boost::asio::any_io_executor strand, std::shared_ptr<Shared> shared, Endpoint node,
             std::string node_key, std::weak_ptr<ContextPools> pools);

  void start();
  // Queues a command (sent by the next flush()).
  void enqueue(std::shared_ptr<const Command> cmd, std::shared_ptr<BatchOp> op, std::size_t index,
               bool asking);
  // Starts a write of everything queued, unless one is in progress or not Ready yet.
  void flush();
  // Fails every queued and in-flight command with `e` and closes; tells the pool.
  void close(Errc e, const std::string& detail);
  // Context shutdown: closes and drops every command without completing it.
  void abandon() noexcept;

  State state() const noexcept { return state_; }
  std::size_t load() const noexcept { return queued_.size() + inflight_.size(); }
  const std::string& node_key() const noexcept { return node_key_; }
  const Endpoint& node() const noexcept { return node_; }

 private:
  struct Pending {
    std::shared_ptr<const Command> cmd;
    std::shared_ptr<BatchOp> op;
    std::size_t index = 0;
    bool asking = false;
    int skip = 0;  // replies to drop before this command's own (ASKING's +OK)
    std::chrono::steady_clock::time_point deadline;
  };

  boost::asio::awaitable<void> run(std::shared_ptr<Connection> self);
  boost::asio::awaitable<void> connect_and_read();
  void on_written(const boost::system::error_code& ec);
  void on_reply(Reply&& r);
  void arm_timer();
  void on_timer(const boost::system::error_code& ec);
  void fail_all(Errc e, const std::string& detail);

  boost::asio::any_io_executor ex_;
  std::shared_ptr<Shared> shared_;
  Endpoint node_;
  std::string node_key_;
  std::weak_ptr<ContextPools> pools_;
  Transport transport_;
  ReplyReader reader_;
  boost::asio::steady_timer timer_;
  std::vector<char> rbuf_;
  State state_ = State::Connecting;
  bool timer_armed_ = false;
  bool connect_timed_out_ = false;
  bool writing_ = false;
  std::deque<Pending> queued_;    // not written yet
  std::deque<Pending> inflight_;  // written (or being written), awaiting replies
  // The write in progress: staging_ holds small commands back to back; bufs_ points into it
  // and into the large bodies that writing_cmds_ keeps alive.
  std::string staging_;
  std::vector<boost::asio::const_buffer> bufs_;
  std::vector<std::shared_ptr<const Command>> writing_cmds_;
};

}  // namespace yg::redis
