#include "net/client/upstream_pool.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <stdexcept>

#include "core/log.h"

namespace yg::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kDnsTtl = std::chrono::seconds(60);
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

Error unreachable() {
  return Error::of(errc::upstream_unreachable, Source::Upstream, true);
}
Error timed_out() {
  return Error::of(errc::upstream_timeout, Source::Upstream, true);
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// A pooled socket the server has closed (or that has unexpected bytes) is not reusable.
bool looks_alive(PlainStream& s) {
  auto& sock = s.socket();
  if (!sock.is_open()) {
    return false;
  }
  char byte;
  ssize_t n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) {
    return false;  // orderly close by the server
  }
  if (n > 0) {
    return false;  // bytes nobody asked for: the stream is out of sync
  }
  return errno == EAGAIN || errno == EWOULDBLOCK;
}
}  // namespace

std::string make_pool_key(const UpstreamTarget& t, std::string_view tls_settings) {
  std::string key =
      std::string(t.tls ? "https://" : "http://") + t.host + ":" + std::to_string(t.port);
  if (t.tls) {
    key += t.verify ? "#verify#" : "#noverify#";
    key += tls_settings;
  }
  return key;
}

std::shared_ptr<ssl::context> make_client_tls_context(const std::string& ca_file, bool verify) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx->set_default_verify_paths();
  if (!ca_file.empty()) {
    boost::system::error_code ec;
    ctx->load_verify_file(ca_file, ec);
    if (ec) {
      throw std::runtime_error("cannot load CA file '" + ca_file + "': " + ec.message());
    }
  }
  ctx->set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none);
  return ctx;
}

bool closed_while_idle(const boost::system::error_code& ec) noexcept {
  return ec == beast::http::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::eof || ec == ssl::error::stream_truncated;
}

PlainStream& UpstreamConnection::lowest() noexcept {
  if (auto* p = std::get_if<PlainStream>(&stream)) {
    return *p;
  }
  return beast::get_lowest_layer(std::get<TlsStream>(stream));
}

void UpstreamConnection::close() noexcept {
  boost::system::error_code ec;
  lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
  lowest().socket().close(ec);
}

UpstreamPool::UpstreamPool(asio::any_io_executor ex, std::chrono::seconds idle_ttl)
    : ex_(std::move(ex)), idle_ttl_(idle_ttl) {}

ConnectionPtr UpstreamPool::take(const UpstreamTarget& t) {
  auto it = idle_.find(t.pool_key);
  if (it == idle_.end()) {
    return nullptr;
  }
  auto& q = it->second;
  const auto now = SteadyClock::now();
  while (!q.empty()) {
    ConnectionPtr c = std::move(q.back());  // most recently used first: warmest socket
    q.pop_back();
    if (now - c->idle_since < idle_ttl_ && looks_alive(c->lowest())) {
      c->reused = true;
      return c;
    }
    c->close();
  }
  return nullptr;
}

void UpstreamPool::sweep(SteadyClock::time_point now) {
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& q = it->second;
    while (!q.empty() && now - q.front()->idle_since >= idle_ttl_) {
      q.front()->close();
      q.pop_front();
    }
    it = q.empty() ? idle_.erase(it) : std::next(it);
  }
}

void UpstreamPool::give_back(const UpstreamTarget& t, ConnectionPtr c, std::size_t max_idle) {
  const auto now = SteadyClock::now();
  if (now >= next_sweep_) {
    sweep(now);
    next_sweep_ = now + std::chrono::seconds(5);
  }
  if (!c || c->buffer.size() != 0 || max_idle == 0) {
    return;
  }
  auto& q = idle_[t.pool_key];
  if (q.size() >= max_idle) {
    q.front()->close();
    q.pop_front();
  }
  c->lowest().expires_never();
  c->idle_since = now;
  q.push_back(std::move(c));
}

std::size_t UpstreamPool::idle_count() const noexcept {
  std::size_t n = 0;
  for (const auto& [k, q] : idle_) {
    n += q.size();
  }
  return n;
}

asio::awaitable<Result<tcp::resolver::results_type>> UpstreamPool::resolve(
    const UpstreamTarget& t, SteadyClock::duration timeout) {
  const std::string key = t.host + ":" + std::to_string(t.port);
  const auto now = SteadyClock::now();
  if (auto it = dns_.find(key); it != dns_.end() && it->second.expires > now) {
    co_return it->second.results;
  }
  // getaddrinfo runs on Asio's internal resolver thread, never on this worker, and cannot be
  // cancelled once started: the lookup runs detached, owning its state, and this coroutine
  // waits only until `timeout` (a late answer is dropped). The timer doubles as the "done"
  // signal: the lookup's handler cancels it.
  struct Lookup {
    explicit Lookup(const asio::any_io_executor& ex) : resolver(ex), wake(ex) {}
    tcp::resolver resolver;
    asio::steady_timer wake;
    boost::system::error_code ec;
    tcp::resolver::results_type results;
    bool done = false;
  };
  auto lookup = std::make_shared<Lookup>(ex_);
  lookup->wake.expires_after(timeout);
  lookup->resolver.async_resolve(
      t.host, std::to_string(t.port),
      [lookup](boost::system::error_code ec, tcp::resolver::results_type results) {
        lookup->ec = ec;
        lookup->results = std::move(results);
        lookup->done = true;
        lookup->wake.cancel();
      });
  co_await lookup->wake.async_wait(use_tuple);
  if (!lookup->done) {
    co_return timed_out();
  }
  const auto& ec = lookup->ec;
  const auto& results = lookup->results;
  if (ec || results.empty()) {
    log::get("upstream")->warn("DNS lookup for {} failed: {}", t.host, ec.message());
    co_return unreachable();
  }
  dns_[key] = DnsEntry{results, now + kDnsTtl};
  co_return results;
}

asio::awaitable<Result<ConnectionPtr>> UpstreamPool::connect(const UpstreamTarget& t,
                                                             SteadyClock::duration timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  auto results = co_await resolve(t, timeout);
  if (!results) {
    co_return results.error();
  }
  PlainStream tcp_stream(ex_);
  tcp_stream.expires_at(deadline);
  auto [ec, ep] = co_await tcp_stream.async_connect(*results, use_tuple);
  if (ec) {
    if (ec == beast::error::timeout) {
      co_return timed_out();
    }
    dns_.erase(t.host + ":" + std::to_string(t.port));  // maybe the address moved
    co_return unreachable();
  }
  boost::system::error_code opt_ec;
  tcp_stream.socket().set_option(tcp::no_delay(true), opt_ec);
  if (!t.tls) {
    tcp_stream.expires_never();
    co_return std::make_unique<UpstreamConnection>(std::move(tcp_stream));
  }

  TlsStream tls(std::move(tcp_stream), *t.tls_ctx);
  if (!is_ip_literal(t.host)) {
    // SNI (RFC 6066); IP literals must not be sent as server names.
    if (!SSL_set_tlsext_host_name(tls.native_handle(), t.host.c_str())) {
      co_return unreachable();
    }
  }
  if (t.verify) {
    tls.set_verify_callback(ssl::host_name_verification(t.host));
  }
  beast::get_lowest_layer(tls).expires_at(deadline);
  auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, use_tuple);
  if (hec) {
    if (hec == beast::error::timeout) {
      co_return timed_out();
    }
    // OpenSSL's verify result tells an untrusted CA from a name mismatch; the handshake error
    // alone says only "certificate verify failed".
    const long verify = SSL_get_verify_result(tls.native_handle());
    log::get("upstream")
        ->error("TLS handshake with {}:{} failed: {}{}{}", t.host, t.port, hec.message(),
                verify == X509_V_OK ? "" : ": ",
                verify == X509_V_OK ? "" : X509_verify_cert_error_string(verify));
    co_return unreachable();
  }
  beast::get_lowest_layer(tls).expires_never();
  co_return std::make_unique<UpstreamConnection>(std::move(tls));
}

}  // namespace yg::net
