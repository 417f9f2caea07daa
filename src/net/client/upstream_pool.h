#pragma once
// Upstream connections: connect (DNS cached, timeouts, TLS with SNI and verification) and a
// per-worker keep-alive pool (FEATURES.md S3-2).
//
// Thread: an UpstreamPool belongs to one worker and is used only on that worker's thread; it
// needs no lock. Connections are exclusively owned (unique_ptr) by the request using them and
// are given back only after a response was read completely.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>

#include "core/clock.h"
#include "core/result.h"

namespace yg::net {

using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

struct UpstreamTarget {
  bool tls = false;
  std::string host;  // DNS name or IP literal (IPv6 without brackets)
  uint16_t port = 80;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx;  // required when tls
  bool verify = true;
  std::string pool_key;  // identifies interchangeable connections; see make_pool_key()
};
// Connections are interchangeable when scheme, host, port and TLS settings match. The key is
// built from settings, not from the TLS context's address, so a reload that rebuilds an equal
// context keeps using (and eventually expiring) the same idle connections.
std::string make_pool_key(const UpstreamTarget& t, std::string_view tls_settings);

// Builds a client TLS context: TLS 1.2+, system trust store plus `ca_file` when given, peer
// verification on unless `verify` is false. Throws on a bad CA file (startup wiring).
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(const std::string& ca_file,
                                                                   bool verify);

class UpstreamConnection {
 public:
  // Beast sizes each socket read by the buffer's spare capacity (read_size_hint), so a buffer
  // left at the few hundred bytes of a response head would turn a body into ~500-byte reads.
  static constexpr std::size_t kReadBuffer = 64 * 1024;
  explicit UpstreamConnection(PlainStream s) : stream(std::move(s)) { buffer.reserve(kReadBuffer); }
  explicit UpstreamConnection(TlsStream s) : stream(std::move(s)) { buffer.reserve(kReadBuffer); }
  std::variant<PlainStream, TlsStream> stream;
  boost::beast::flat_buffer
      buffer;  // bytes read past a response stay here (must be empty when pooled)
  SteadyClock::time_point idle_since{};
  bool reused = false;  // came from the pool: a failure before any response byte may be stale

  PlainStream& lowest() noexcept;
  void close() noexcept;  // abortive close; the connection is not reusable afterwards
};
using ConnectionPtr = std::unique_ptr<UpstreamConnection>;

// A read error meaning "the server had closed this pooled connection while it sat idle": a
// close, reset or TLS truncation before any byte of the response. Such a request is sent again
// on a new connection (GET/HEAD and authorization queries are idempotent).
bool closed_while_idle(const boost::system::error_code& ec) noexcept;

class UpstreamPool {
 public:
  explicit UpstreamPool(boost::asio::any_io_executor ex,
                        std::chrono::seconds idle_ttl = std::chrono::seconds(30));

  // An idle pooled connection that still looks alive, or nullptr.
  ConnectionPtr take(const UpstreamTarget& t);
  // Keeps `c` for reuse unless `max_idle` connections to that target are already idle.
  void give_back(const UpstreamTarget& t, ConnectionPtr c, std::size_t max_idle);
  // A new connection (resolve with a per-worker DNS cache, TCP connect, TLS handshake), all
  // within `timeout`. Errors: upstream_unreachable (DNS, refused, reset, TLS failure) or
  // upstream_timeout, both retryable.
  boost::asio::awaitable<Result<ConnectionPtr>> connect(const UpstreamTarget& t,
                                                        SteadyClock::duration timeout);
  std::size_t idle_count() const noexcept;
  // Closes idle connections older than the idle TTL under every key (also keys no longer in
  // use after a reload). Called from give_back at most every few seconds.
  void sweep(SteadyClock::time_point now);

 private:
  boost::asio::awaitable<Result<boost::asio::ip::tcp::resolver::results_type>> resolve(
      const UpstreamTarget& t, SteadyClock::duration timeout);

  struct DnsEntry {
    boost::asio::ip::tcp::resolver::results_type results;
    SteadyClock::time_point expires;
  };
  boost::asio::any_io_executor ex_;
  std::chrono::seconds idle_ttl_;
  std::unordered_map<std::string, std::deque<ConnectionPtr>> idle_;
  std::unordered_map<std::string, DnsEntry> dns_;
  SteadyClock::time_point next_sweep_{};
};

}  // namespace yg::net
