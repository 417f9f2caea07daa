#pragma once
// Waiting for socket readiness around non-blocking syscalls that Asio does not wrap (splice(2),
// sendfile(2)): wait until a socket is readable or writable, bounded by a timeout.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "core/clock.h"

namespace yg::net {

class ReadyWaiter {
 public:
  explicit ReadyWaiter(const boost::asio::any_io_executor& ex);
  ~ReadyWaiter();
  ReadyWaiter(const ReadyWaiter&) = delete;
  ReadyWaiter& operator=(const ReadyWaiter&) = delete;

  // True when `s` is ready for `what`; false when `timeout` passed first or the wait failed.
  // One wait at a time.
  boost::asio::awaitable<bool> wait(boost::asio::ip::tcp::socket& s,
                                    boost::asio::ip::tcp::socket::wait_type what,
                                    SteadyClock::duration timeout);

 private:
  // The timer's handler may run after the caller is done (when it fired just before the end),
  // so it reaches the socket through state the destructor disarms.
  struct Watch {
    boost::asio::ip::tcp::socket* waiting = nullptr;
    bool fired = false;
  };
  std::shared_ptr<Watch> watch_ = std::make_shared<Watch>();
  boost::asio::steady_timer timer_;
};

}  // namespace yg::net
