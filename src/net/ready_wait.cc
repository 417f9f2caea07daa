#include "net/ready_wait.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace yg::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

ReadyWaiter::ReadyWaiter(const asio::any_io_executor& ex) : timer_(ex) {}

ReadyWaiter::~ReadyWaiter() {
  watch_->waiting = nullptr;
}

asio::awaitable<bool> ReadyWaiter::wait(tcp::socket& s, tcp::socket::wait_type what,
                                        SteadyClock::duration timeout) {
  watch_->waiting = &s;
  watch_->fired = false;
  timer_.expires_after(timeout);
  timer_.async_wait([w = watch_](boost::system::error_code e) {
    if (!e && w->waiting != nullptr) {
      w->fired = true;
      boost::system::error_code ignored;
      w->waiting->cancel(ignored);
    }
  });
  auto [ec] = co_await s.async_wait(what, asio::as_tuple(asio::use_awaitable));
  timer_.cancel();
  watch_->waiting = nullptr;
  co_return !ec && !watch_->fired;
}

}  // namespace yg::net
