#pragma once
// The client side of one connection (OPS-6, docs/TLS.md): plain TCP, or TLS over TCP.
//
// A Beast AsyncReadStream / AsyncWriteStream, so HTTP reads and writes, asio::async_write and
// the proxy's own gather writes work the same on both. Every read and write is one branch on
// tls(); the plain path is the beast::tcp_stream it always was. Timeouts (expires_*) and
// socket() are the TCP layer's: a deadline bounds TLS records and handshakes alike, and
// socket-level work (options, cancel on drain, RST aborts) acts on the TCP connection.
//
// Owned by value by the session coroutine (STYLE.md section 5.4), used on its worker's thread
// only. Not movable: the TLS layer refers to the TCP layer. Completion handlers run as the
// underlying Asio/Beast operations complete them (never inline from the initiating call).

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "obs/metrics.h"

namespace yg::net {

class ClientStream {
 public:
  using Tcp = boost::beast::tcp_stream;
  // Asio's stream, not beast::ssl_stream: Beast's flat_stream layer (1.81) writes nothing for
  // a buffer sequence that starts with an empty buffer, which async_write then takes for the
  // end of the write; the cache's head+body gather write produces exactly that after the head.
  // Asio's own SSL write already coalesces small buffers into one record (up to 8 KiB).
  using Tls = boost::asio::ssl::stream<Tcp&>;
  using executor_type = Tcp::executor_type;

  // Plain TCP when `ctx` is null, else the TLS server side over `socket`: then call
  // handshake() before any I/O. `ctx` stays alive as long as this connection (a reload swaps
  // the runtime's context for new connections only).
  explicit ClientStream(boost::asio::ip::tcp::socket&& socket,
                        std::shared_ptr<boost::asio::ssl::context> ctx = nullptr)
      : tcp_(std::move(socket)), ctx_(std::move(ctx)) {
    if (ctx_) {
      tls_.emplace(tcp_, *ctx_);
    }
  }
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;

  bool tls() const noexcept { return tls_.has_value(); }
  executor_type get_executor() noexcept { return tcp_.get_executor(); }
  boost::asio::ip::tcp::socket& socket() noexcept { return tcp_.socket(); }
  // The TCP layer, for bytes that bypass TLS (the lingering drain after close_notify).
  Tcp& tcp() noexcept { return tcp_; }

  void expires_after(std::chrono::steady_clock::duration d) { tcp_.expires_after(d); }
  void expires_at(std::chrono::steady_clock::time_point t) { tcp_.expires_at(t); }
  void expires_never() { tcp_.expires_never(); }

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        ReadSome{this}, token, buffers);
  }
  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        WriteSome{this}, token, buffers);
  }

  // TLS: the server handshake, bounded by the deadline the caller set with expires_*.
  // Returns the error (none on plain TCP).
  boost::asio::awaitable<boost::system::error_code> handshake();
  // After a successful handshake: the negotiated version (TLS 1.2 or 1.3).
  obs::TlsVersion tls_version() noexcept;

  // Ends a TLS session cleanly: sends close_notify (so the client can tell a complete response
  // from a cut one) and waits at most `wait` for the client's. The TCP connection stays open
  // for the caller's lingering close. No-op on plain TCP or a socket already closed.
  boost::asio::awaitable<void> shutdown_tls(std::chrono::steady_clock::duration wait);
  // Resets the TCP connection (RST, SO_LINGER 0) without close_notify, so neither a
  // Content-Length body nor a close-delimited one can pass for complete.
  void abort() noexcept;
  void close() noexcept { tcp_.close(); }

 private:
  struct ReadSome {
    ClientStream* self;
    template <class Handler, class Buffers>
    void operator()(Handler&& h, const Buffers& b) const {
      if (self->tls_) {
        self->tls_->async_read_some(b, std::forward<Handler>(h));
      } else {
        self->tcp_.async_read_some(b, std::forward<Handler>(h));
      }
    }
  };
  struct WriteSome {
    ClientStream* self;
    template <class Handler, class Buffers>
    void operator()(Handler&& h, const Buffers& b) const {
      if (self->tls_) {
        self->tls_->async_write_some(b, std::forward<Handler>(h));
      } else {
        self->tcp_.async_write_some(b, std::forward<Handler>(h));
      }
    }
  };

  Tcp tcp_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;  // null on plain TCP
  std::optional<Tls> tls_;                          // destroyed before tcp_
};

// What a failed handshake's error means, for yatagarasu_tls_handshake_failures_total.
obs::TlsFailure classify_handshake_error(const boost::system::error_code& ec) noexcept;

}  // namespace yg::net
