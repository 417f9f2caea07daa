#pragma once
// Runs one coroutine to completion on a private io_context, as a worker would, and returns its
// result (rethrowing what it threw). For tests of code that exposes awaitables.
//
// run_coro runs the context until it has no work left, so whatever the coroutine started on
// other threads (a disk layer's pool posting back) has finished before the context goes away.
// run_coro_until_done stops the context as soon as the coroutine completes: for code that
// leaves work on the context on purpose (a Redis client's pooled connections waiting for
// replies), which would keep run() going forever. It must not be used with code that posts
// back to the context from other threads after completing.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <exception>
#include <future>
#include <type_traits>
#include <utility>

namespace yg::test {

template <class T>
T run_coro(boost::asio::awaitable<T> op) {
  boost::asio::io_context io;
  auto done = boost::asio::co_spawn(io, std::move(op), boost::asio::use_future);
  io.run();
  return done.get();
}

template <class T>
T run_coro_until_done(boost::asio::awaitable<T> op) {
  boost::asio::io_context io;
  std::promise<T> result;
  auto done = result.get_future();
  std::atomic<bool> finished{false};
  if constexpr (std::is_void_v<T>) {
    boost::asio::co_spawn(io, std::move(op), [&](std::exception_ptr e) {
      e ? result.set_exception(e) : result.set_value();
      finished = true;
      io.stop();
    });
  } else {
    boost::asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T v) {
      e ? result.set_exception(e) : result.set_value(std::move(v));
      finished = true;
      io.stop();
    });
  }
  while (!finished) {
    io.restart();
    io.run_for(std::chrono::milliseconds(20));
  }
  return done.get();
}

}  // namespace yg::test
