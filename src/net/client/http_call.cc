#include "net/client/http_call.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <stdexcept>

namespace yg::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

enum class Outcome { Done, Stale };

SteadyClock::duration left(SteadyClock::time_point deadline) {
  return std::max<SteadyClock::duration>(deadline - SteadyClock::now(),
                                         SteadyClock::duration::zero());
}

Error io_error(const boost::system::error_code& ec) {
  return Error::of(
      ec == beast::error::timeout ? errc::upstream_timeout : errc::upstream_unreachable,
      Source::Upstream, true);
}

template <class Stream>
asio::awaitable<std::pair<Outcome, Result<HttpReply>>> exchange_on(
    Stream& s, UpstreamConnection& conn, http::request<http::string_body>& req,
    SteadyClock::time_point deadline, std::size_t body_limit, bool& reusable) {
  using R = std::pair<Outcome, Result<HttpReply>>;
  conn.lowest().expires_after(left(deadline));
  auto [wec, wn] = co_await http::async_write(s, req, use_tuple);
  if (wec) {
    if (conn.reused && wec != beast::error::timeout) {
      co_return R{Outcome::Stale, Error::of(errc::upstream_unreachable, Source::Upstream, true)};
    }
    co_return R{Outcome::Done, io_error(wec)};
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  conn.lowest().expires_after(left(deadline));
  auto [rec, rn] = co_await http::async_read(s, conn.buffer, parser, use_tuple);
  if (rec) {
    if (conn.reused && rn == 0 &&
        (rec == http::error::end_of_stream || rec == asio::error::connection_reset ||
         rec == asio::error::eof || rec == asio::ssl::error::stream_truncated)) {
      co_return R{Outcome::Stale, Error::of(errc::upstream_unreachable, Source::Upstream, true)};
    }
    if (rec != http::error::end_of_stream &&
        rec.category() == http::make_error_code(http::error::body_limit).category()) {
      // Over the body limit or not HTTP: the service answered, but nothing we can use.
      co_return R{Outcome::Done, Error::of(errc::upstream_bad_response, Source::Upstream)};
    }
    co_return R{Outcome::Done, io_error(rec)};
  }
  auto& res = parser.get();
  reusable = res.keep_alive() && parser.is_done();
  co_return R{Outcome::Done, HttpReply{res.result_int(), std::move(res.body())}};
}

}  // namespace

ServiceUrl parse_service_url(std::string_view url, std::string_view pool_tag,
                             const std::string& ca_file) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->host().empty()) {
    throw std::invalid_argument("not an absolute http(s) URL with a host");
  }
  ServiceUrl s;
  auto& t = s.target;
  t.tls = u->scheme() == "https";
  t.host = std::string(u->host_address());
  t.port = u->has_port() ? static_cast<uint16_t>(u->port_number()) : (t.tls ? 443 : 80);
  if (t.tls) {
    t.tls_ctx = make_client_tls_context(ca_file, true);
  }
  t.pool_key = make_pool_key(t, std::string(pool_tag) + "#" + ca_file);
  s.host_header = std::string(u->encoded_host_and_port());
  s.base_path = std::string(u->encoded_path());
  while (!s.base_path.empty() && s.base_path.back() == '/') {
    s.base_path.pop_back();
  }
  s.target_path = u->encoded_target().empty() ? "/" : std::string(u->encoded_target());
  s.for_logs = std::string(u->scheme()) + "://" + s.host_header + std::string(u->encoded_path());
  return s;
}

asio::awaitable<Result<HttpReply>> call(UpstreamPool& pool, const ServiceUrl& svc,
                                        http::request<http::string_body>& req,
                                        SteadyClock::time_point deadline, std::size_t max_idle,
                                        std::size_t body_limit) {
  req.set(http::field::host, svc.host_header);
  req.keep_alive(max_idle > 0);
  req.prepare_payload();
  for (int attempt = 0; attempt < 2; ++attempt) {
    ConnectionPtr conn = attempt == 0 ? pool.take(svc.target) : nullptr;
    if (!conn) {
      auto r = co_await pool.connect(svc.target, left(deadline));
      if (!r) {
        co_return r.error();
      }
      conn = std::move(*r);
    }
    bool reusable = false;
    std::pair<Outcome, Result<HttpReply>> out;
    if (auto* p = std::get_if<PlainStream>(&conn->stream)) {
      out = co_await exchange_on(*p, *conn, req, deadline, body_limit, reusable);
    } else {
      out = co_await exchange_on(std::get<TlsStream>(conn->stream), *conn, req, deadline,
                                 body_limit, reusable);
    }
    if (out.first == Outcome::Stale) {
      conn->close();
      continue;
    }
    if (out.second && reusable && max_idle > 0) {
      pool.give_back(svc.target, std::move(conn), max_idle);
    } else {
      conn->close();
    }
    co_return std::move(out.second);
  }
  co_return Error::of(errc::upstream_unreachable, Source::Upstream, true);
}

}  // namespace yg::net
