#include "net/client/http_call.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <optional>
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

struct Failure {
  Error error;
  std::string detail;
};

Failure io_failure(const boost::system::error_code& ec, std::string_view what) {
  if (ec == beast::error::timeout) {
    return {Error::of(errc::upstream_timeout, Source::Upstream, true), "timed out"};
  }
  // Cancelled (session or shutdown): not worth another attempt.
  const bool retryable = ec != asio::error::operation_aborted;
  return {Error::of(errc::upstream_unreachable, Source::Upstream, retryable),
          std::string(what) + ": " + ec.message()};
}

bool is_http_error(const boost::system::error_code& ec) {
  // Beast's parse errors (not HTTP, over a limit); a close mid-message is a transport failure.
  return ec.category() == http::make_error_code(http::error::body_limit).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

struct Exchanged {
  Outcome outcome = Outcome::Done;
  std::optional<HttpReply> reply;
  Failure failure;
  bool reusable = false;
};

template <class Stream>
asio::awaitable<Exchanged> exchange_on(Stream& s, UpstreamConnection& conn,
                                       http::request<http::string_body>& req,
                                       SteadyClock::time_point deadline, std::size_t body_limit) {
  Exchanged out;
  conn.lowest().expires_after(left(deadline));
  auto [wec, wn] = co_await http::async_write(s, req, use_tuple);
  if (wec) {
    if (conn.reused && wec != beast::error::timeout && wec != asio::error::operation_aborted) {
      out.outcome = Outcome::Stale;
      co_return out;
    }
    out.failure = io_failure(wec, "send failed");
    co_return out;
  }
  // Interim responses (100, 103) come before the final one: read past them.
  for (bool first = true;; first = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    conn.lowest().expires_after(left(deadline));
    auto [rec, rn] = co_await http::async_read(s, conn.buffer, parser, use_tuple);
    if (rec) {
      if (first && conn.reused && rn == 0 && closed_while_idle(rec)) {
        out.outcome = Outcome::Stale;  // the pooled connection died while idle
        co_return out;
      }
      if (is_http_error(rec)) {
        out.failure = {Error::of(errc::upstream_bad_response, Source::Upstream),
                       "unusable response: " + rec.message()};
        co_return out;
      }
      out.failure = io_failure(rec, "read failed");
      co_return out;
    }
    auto& res = parser.get();
    const unsigned status = res.result_int();
    if (status >= 100 && status < 200 && status != 101) {
      continue;
    }
    out.reusable = status >= 200 && res.keep_alive() && parser.is_done();
    out.reply = HttpReply{status, std::move(res.body())};
    co_return out;
  }
}

}  // namespace

ServiceUrl parse_service_url(std::string_view url, std::string_view pool_tag,
                             const std::string& ca_file) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u ||
      (u->scheme_id() != boost::urls::scheme::http &&
       u->scheme_id() != boost::urls::scheme::https) ||
      u->host().empty()) {
    throw std::invalid_argument("not an absolute http(s) URL with a host");
  }
  ServiceUrl s;
  auto& t = s.target;
  t.tls = u->scheme_id() == boost::urls::scheme::https;
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
  s.for_logs = std::string(t.tls ? "https" : "http") + "://" + s.host_header +
               std::string(u->encoded_path());
  return s;
}

asio::awaitable<Result<HttpReply>> call(UpstreamPool& pool, const ServiceUrl& svc,
                                        http::request<http::string_body>& req,
                                        SteadyClock::time_point deadline, std::size_t max_idle,
                                        std::size_t body_limit, CallOptions opt) {
  req.set(http::field::host, svc.host_header);
  req.keep_alive(max_idle > 0);
  req.prepare_payload();
  for (int attempt = 0; attempt < 2; ++attempt) {
    ConnectionPtr conn = attempt == 0 && !opt.fresh_connection ? pool.take(svc.target) : nullptr;
    if (!conn) {
      auto r = co_await pool.connect(svc.target, left(deadline));
      if (!r) {
        if (opt.detail != nullptr) {
          *opt.detail =
              r.error().is(errc::upstream_timeout) ? "connect timed out" : "could not connect";
        }
        co_return r.error();
      }
      conn = std::move(*r);
    }
    Exchanged out;
    if (auto* p = std::get_if<PlainStream>(&conn->stream)) {
      out = co_await exchange_on(*p, *conn, req, deadline, body_limit);
    } else {
      out =
          co_await exchange_on(std::get<TlsStream>(conn->stream), *conn, req, deadline, body_limit);
    }
    if (out.outcome == Outcome::Stale) {
      conn->close();
      continue;
    }
    if (out.reply && out.reusable && max_idle > 0) {
      pool.give_back(svc.target, std::move(conn), max_idle);
    } else {
      conn->close();
    }
    if (out.reply) {
      co_return std::move(*out.reply);
    }
    if (opt.detail != nullptr) {
      *opt.detail = std::move(out.failure.detail);
    }
    co_return out.failure.error;
  }
  if (opt.detail != nullptr) {
    *opt.detail = "connection closed before the response";
  }
  co_return Error::of(errc::upstream_unreachable, Source::Upstream, true);
}

}  // namespace yg::net
