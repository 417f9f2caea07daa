#include "net/splice.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <memory>

#include "net/ready_wait.h"

namespace yg::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr int kPipeSize = 1 << 20;

class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) {
      fds_[0] = fds_[1] = -1;
      return;
    }
    // A bigger pipe means fewer wake-ups; the kernel may refuse (pipe-max-size), which is fine.
    const int got = ::fcntl(fds_[1], F_SETPIPE_SZ, kPipeSize);
    capacity_ = got > 0 ? static_cast<std::size_t>(got) : 64 * 1024;
  }
  ~Pipe() {
    if (fds_[0] >= 0) {
      ::close(fds_[0]);
      ::close(fds_[1]);
    }
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  bool ok() const noexcept { return fds_[0] >= 0; }
  int rd() const noexcept { return fds_[0]; }
  int wr() const noexcept { return fds_[1]; }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  int fds_[2] = {-1, -1};
  std::size_t capacity_ = 0;
};

}  // namespace

asio::awaitable<SpliceOutcome> splice_relay(tcp::socket& from, tcp::socket& to, uint64_t n,
                                            SteadyClock::duration read_idle,
                                            SteadyClock::duration write_idle, uint64_t& moved) {
  Pipe pipe;
  if (!pipe.ok()) {
    co_return SpliceOutcome::Unsupported;
  }
  boost::system::error_code ec;
  from.native_non_blocking(true, ec);
  to.native_non_blocking(true, ec);
  const int in = from.native_handle();
  const int out = to.native_handle();
  ReadyWaiter waiter(co_await asio::this_coro::executor);
  auto wait = [&](tcp::socket& s, tcp::socket::wait_type what, SteadyClock::duration idle) {
    return waiter.wait(s, what, idle);
  };

  uint64_t remaining = n;   // still to read from `from`
  std::size_t in_pipe = 0;  // read but not yet written
  bool any = false;
  while (remaining > 0 || in_pipe > 0) {
    bool progress = false;
    if (remaining > 0 && in_pipe < pipe.capacity()) {
      const auto want =
          static_cast<std::size_t>(std::min<uint64_t>(remaining, pipe.capacity() - in_pipe));
      const ssize_t r =
          ::splice(in, nullptr, pipe.wr(), nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (r > 0) {
        remaining -= static_cast<uint64_t>(r);
        in_pipe += static_cast<std::size_t>(r);
        progress = any = true;
      } else if (r == 0) {
        co_return SpliceOutcome::ReadFailed;  // the source closed before n bytes
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        co_return !any && (errno == EINVAL || errno == ENOSYS) ? SpliceOutcome::Unsupported
                                                               : SpliceOutcome::ReadFailed;
      }
    }
    if (in_pipe > 0) {
      const ssize_t w =
          ::splice(pipe.rd(), nullptr, out, nullptr, in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (w > 0) {
        in_pipe -= static_cast<std::size_t>(w);
        moved += static_cast<uint64_t>(w);
        progress = true;
      } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        co_return SpliceOutcome::WriteFailed;
      }
    }
    if (progress) {
      continue;
    }
    // Nothing moved: wait for the side that blocks. With bytes in the pipe the destination is
    // the bottleneck; otherwise the source.
    if (in_pipe > 0) {
      if (!co_await wait(to, tcp::socket::wait_write, write_idle)) {
        co_return SpliceOutcome::WriteFailed;
      }
    } else if (!co_await wait(from, tcp::socket::wait_read, read_idle)) {
      co_return SpliceOutcome::ReadFailed;
    }
  }
  co_return SpliceOutcome::Done;
}

}  // namespace yg::net
