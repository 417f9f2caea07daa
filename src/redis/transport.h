#pragma once
// One byte stream to a Redis node: TCP, or TLS over TCP (peer verified against the CA, SNI and
// host name / IP SAN checked against the endpoint host). Used by a pooled Connection and by the
// Subscriber; the owner serialises every call (a strand), and bounds connect() with its own
// timer that calls close().
//
// Also the connect-time exchange: AUTH/SELECT pipelined and checked (roundtrip()).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "redis/client.h"
#include "redis/reply_reader.h"

namespace yg::redis {

class Transport {
 public:
  using Tls = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

  // `tls` null: plain TCP.
  Transport(boost::asio::any_io_executor ex, std::shared_ptr<boost::asio::ssl::context> tls);

  // Resolves, connects and (TLS) handshakes. Returns "" on success, else what failed.
  boost::asio::awaitable<std::string> connect(Endpoint ep);
  // Closes the socket: pending operations complete with operation_aborted. Idempotent.
  void close() noexcept;

  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      boost::asio::mutable_buffer b);

  template <class Buffers>
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write(
      const Buffers& bufs) {
    constexpr auto tok = boost::asio::as_tuple(boost::asio::use_awaitable);
    if (tls_) {
      co_return co_await boost::asio::async_write(*tls_, bufs, tok);
    }
    co_return co_await boost::asio::async_write(tcp_, bufs, tok);
  }

  // Writes all of `bufs` (which must stay valid until `h` runs).
  template <class Buffers, class Handler>
  void async_write(const Buffers& bufs, Handler&& h) {
    if (tls_) {
      boost::asio::async_write(*tls_, bufs, std::forward<Handler>(h));
    } else {
      boost::asio::async_write(tcp_, bufs, std::forward<Handler>(h));
    }
  }

 private:
  boost::asio::any_io_executor ex_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket tcp_;  // plain TCP
  std::optional<Tls> tls_;            // TLS (owns its own socket)
};

// The commands sent right after connecting: AUTH [user] pass when a password is set, SELECT db
// when `select_db` and db != 0.
std::vector<Command> handshake_commands(const ClientOptions& o, bool select_db);

// Writes `cmds` in one go and reads one reply per command into `out`, through `reader` and the
// scratch buffer `buf`. Returns "" on success, else what failed (I/O or protocol).
boost::asio::awaitable<std::string> roundtrip(Transport& t, ReplyReader& reader,
                                              std::vector<char>& buf,
                                              const std::vector<Command>& cmds,
                                              std::vector<Reply>& out);

// "" when the handshake replies are all fine, else "AUTH failed: <server message>" (or SELECT).
// Never includes the password: the server does not echo it.
std::string check_handshake(const std::vector<Command>& cmds, const std::vector<Reply>& replies);

}  // namespace yg::redis
