// sendfile_to over a loopback TCP pair: exact bytes from an offset (large enough to fill the
// socket buffer and wait), a file shorter than asked, and a peer that stops reading.
#include "net/sendfile.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdlib>
#include <string>

namespace yg::net {
namespace {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct Pair {
  asio::io_context io;
  tcp::socket a{io}, b{io};
  Pair() {
    tcp::acceptor acc(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    a.connect(acc.local_endpoint());
    acc.accept(b);
  }
};

// An unlinked temp file holding `content`.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/yg-sendfile-XXXXXX";
    fd_ = ::mkstemp(name);
    ::unlink(name);
    if (!content.empty()) {
      EXPECT_EQ(::write(fd_, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    }
  }
  ~TempFile() { ::close(fd_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// 8 MiB from offset 1000 arrive exactly, while the reader drains slower than the writer.
TEST(Sendfile, SendsExactRangeFromOffset) {
  const std::string content = pattern(8 * 1024 * 1024 + 5000);
  TempFile f(content);
  Pair p;
  const uint64_t off = 1000, len = 8 * 1024 * 1024;
  std::string got(len, '\0');
  SendfileOutcome out = SendfileOutcome::WriteFailed;
  uint64_t moved = 0;
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        out = co_await sendfile_to(p.a, f.fd(), off, len, 5s, moved);
      },
      asio::detached);
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        co_await asio::async_read(p.b, asio::buffer(got), asio::use_awaitable);
      },
      asio::detached);
  p.io.run();
  EXPECT_EQ(out, SendfileOutcome::Done);
  EXPECT_EQ(moved, len);
  EXPECT_TRUE(got == content.substr(off, len));
  // The file's own offset is untouched.
  EXPECT_EQ(::lseek(f.fd(), 0, SEEK_CUR), static_cast<off_t>(content.size()));
}

// Asking for more than the file holds sends what there is, then ReadFailed.
TEST(Sendfile, ShortFileIsReadFailed) {
  const std::string content = pattern(3000);
  TempFile f(content);
  Pair p;
  uint64_t moved = 0;
  SendfileOutcome out = SendfileOutcome::Done;
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        out = co_await sendfile_to(p.a, f.fd(), 1000, 5000, 5s, moved);
      },
      asio::detached);
  p.io.run();
  EXPECT_EQ(out, SendfileOutcome::ReadFailed);
  EXPECT_EQ(moved, 2000u);
  std::string got(2000, '\0');
  asio::read(p.b, asio::buffer(got));
  EXPECT_EQ(got, content.substr(1000));
}

// A peer that never reads: the wait for writability times out and the send fails.
TEST(Sendfile, StalledPeerTimesOut) {
  TempFile f("");
  ASSERT_EQ(::ftruncate(f.fd(), 256 * 1024 * 1024), 0);  // sparse: reads as zeros
  Pair p;
  uint64_t moved = 0;
  SendfileOutcome out = SendfileOutcome::Done;
  const auto start = SteadyClock::now();
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        out = co_await sendfile_to(p.a, f.fd(), 0, 256 * 1024 * 1024, 200ms, moved);
      },
      asio::detached);
  p.io.run();
  EXPECT_EQ(out, SendfileOutcome::WriteFailed);
  EXPECT_GT(moved, 0u);
  EXPECT_LT(moved, 256u * 1024 * 1024);
  EXPECT_GE(SteadyClock::now() - start, 200ms);
}

// A closed peer is a write failure (EPIPE/ECONNRESET; SIGPIPE ignored as main.cc does).
TEST(Sendfile, ClosedPeerIsWriteFailed) {
  std::signal(SIGPIPE, SIG_IGN);
  TempFile f("");
  ASSERT_EQ(::ftruncate(f.fd(), 64 * 1024 * 1024), 0);
  Pair p;
  p.b.close();
  uint64_t moved = 0;
  SendfileOutcome out = SendfileOutcome::Done;
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        out = co_await sendfile_to(p.a, f.fd(), 0, 64 * 1024 * 1024, 5s, moved);
      },
      asio::detached);
  p.io.run();
  EXPECT_EQ(out, SendfileOutcome::WriteFailed);
}

}  // namespace
}  // namespace yg::net
