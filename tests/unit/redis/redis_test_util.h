#pragma once
// Helpers for the redis tests: run a coroutine on a fresh io_context (as a worker would) and
// stop the context when it completes — a Client's idle pooled connections keep a read pending,
// so run() would not return by itself while the Client lives.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>

#include "redis/client.h"
#include "support/redis_server.h"

namespace yg::redis::test {

template <class T>
T run_io(boost::asio::awaitable<T> op, std::chrono::seconds limit = std::chrono::seconds(30)) {
  boost::asio::io_context io;
  std::optional<T> out;
  std::exception_ptr err;
  bool done = false;
  boost::asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T v) {
    err = e;
    if (!e) {
      out.emplace(std::move(v));
    }
    done = true;
    io.stop();
  });
  io.run_for(limit);
  if (!done) {
    throw std::runtime_error("coroutine did not finish in time");
  }
  if (err) {
    std::rethrow_exception(err);
  }
  return std::move(*out);
}

// One long-lived io_context driven from the test thread, like a worker: pools and reconnect
// backoff (per context and node) persist between calls.
class Worker {
 public:
  template <class T>
  T run(boost::asio::awaitable<T> op, std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::optional<T> out;
    std::exception_ptr err;
    bool done = false;
    io_.restart();  // it stops whenever it runs out of work (no connection open)
    boost::asio::co_spawn(io_, std::move(op), [&](std::exception_ptr e, T v) {
      err = e;
      if (!e) {
        out.emplace(std::move(v));
      }
      done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(std::chrono::milliseconds(100));
    }
    if (!done) {
      throw std::runtime_error("coroutine did not finish in time");
    }
    if (err) {
      std::rethrow_exception(err);
    }
    return std::move(*out);
  }
  Result exec(const std::shared_ptr<Client>& c, Command cmd) {
    return run(c->exec(std::move(cmd)));
  }
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
};

inline ClientOptions options_for(const yg::test::RedisServer& s) {
  ClientOptions o;
  o.nodes = {Endpoint{"127.0.0.1", s.port()}};
  return o;
}

inline Result exec(const std::shared_ptr<Client>& c, Command cmd) {
  return run_io(c->exec(std::move(cmd)));
}

}  // namespace yg::redis::test
