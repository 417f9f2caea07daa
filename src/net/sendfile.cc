#include "net/sendfile.h"

#include <sys/sendfile.h>

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <memory>

#include "net/ready_wait.h"

namespace yg::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
// Bounds one call: with a cold page cache sendfile reads the file synchronously.
constexpr uint64_t kChunk = 4 << 20;

}  // namespace

asio::awaitable<SendfileOutcome> sendfile_to(tcp::socket& sock, int fd, uint64_t offset,
                                             uint64_t len, SteadyClock::duration write_timeout,
                                             uint64_t& moved) {
  boost::system::error_code ec;
  sock.native_non_blocking(true, ec);
  if (ec) {
    co_return SendfileOutcome::WriteFailed;
  }
  ReadyWaiter waiter(co_await asio::this_coro::executor);
  auto wait_writable = [&] { return waiter.wait(sock, tcp::socket::wait_write, write_timeout); };

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
