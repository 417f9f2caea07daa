#pragma once
// Runs one coroutine to completion on a private io_context, as a worker would, and returns its
// result (rethrowing what it threw). For tests of code that exposes awaitables.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <utility>

namespace yg::test {

template <class T>
T run_coro(boost::asio::awaitable<T> op) {
  boost::asio::io_context io;
  auto done = boost::asio::co_spawn(io, std::move(op), boost::asio::use_future);
  io.run();
  return done.get();
}

}  // namespace yg::test
