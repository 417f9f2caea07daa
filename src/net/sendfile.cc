#include "net/sendfile.h"

#include <sys/sendfile.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <memory>

namespace yg::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Bounds one call: with a cold page cache sendfile reads the file synchronously.
constexpr uint64_t kChunk = 4 << 20;

// As in splice.cc: the watchdog's handler may run after sendfile_to returned (when it fired
// just before the end), so it reaches the socket through state the function disarms on exit.
struct Watch {
  tcp::socket* waiting = nullptr;
  bool fired = false;
};

}  // namespace

asio::awaitable<SendfileOutcome> sendfile_to(tcp::socket& sock, int fd, uint64_t offset,
                                             uint64_t len, SteadyClock::duration write_timeout,
                                             uint64_t& moved) {
  boost::system::error_code ec;
  sock.native_non_blocking(true, ec);
  if (ec) {
    co_return SendfileOutcome::WriteFailed;
  }
  auto watch = std::make_shared<Watch>();
  asio::steady_timer watchdog(co_await asio::this_coro::executor);
  struct Disarm {
    std::shared_ptr<Watch>& w;
    ~Disarm() { w->waiting = nullptr; }
  } disarm{watch};

  // Waits until the socket is writable, or write_timeout passes (then false).
  auto wait_writable = [&]() -> asio::awaitable<bool> {
    watch->waiting = &sock;
    watch->fired = false;
    watchdog.expires_after(write_timeout);
    watchdog.async_wait([w = watch](boost::system::error_code e) {
      if (!e && w->waiting != nullptr) {
        w->fired = true;
        boost::system::error_code ignored;
        w->waiting->cancel(ignored);
      }
    });
    auto [wec] = co_await sock.async_wait(tcp::socket::wait_write, use_tuple);
    watchdog.cancel();
    watch->waiting = nullptr;
    co_return !wec && !watch->fired;
  };

  const int out = sock.native_handle();
  auto off = static_cast<off_t>(offset);
  uint64_t remaining = len;
  while (remaining > 0) {
    const auto want = static_cast<std::size_t>(std::min(remaining, kChunk));
    const ssize_t n = ::sendfile(out, fd, &off, want);
    if (n > 0) {
      remaining -= static_cast<uint64_t>(n);
      moved += static_cast<uint64_t>(n);
    } else if (n == 0) {
      co_return SendfileOutcome::ReadFailed;  // the file is shorter than offset + len
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!co_await wait_writable()) {
        co_return SendfileOutcome::WriteFailed;
      }
    } else {
      co_return errno == EIO ? SendfileOutcome::ReadFailed : SendfileOutcome::WriteFailed;
    }
  }
  co_return SendfileOutcome::Done;
}

}  // namespace yg::net
