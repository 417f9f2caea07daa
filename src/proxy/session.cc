#include "proxy/session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/log.h"
#include "obs/request_id.h"
#include "proxy/cache_phase.h"
#include "proxy/dashboard.h"
#include "proxy/error_response.h"
#include "proxy/http_util.h"
#include "proxy/observe.h"
#include "proxy/reload.h"
#include "proxy/respond.h"
#include "proxy/upstream.h"
#include "router/path.h"

#ifndef YG_VERSION
#define YG_VERSION "0.0.0"
#endif

namespace yg::proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;
// How long a closing TLS connection waits for the client's close_notify (most clients just
// close): short, and shorter while draining so SIGTERM is not held up by idle clients.
constexpr auto kTlsCloseWait = std::chrono::seconds(1);
constexpr auto kTlsCloseWaitDraining = std::chrono::milliseconds(200);

// Errors that are refusals of the request itself, for yatagarasu_rejected_requests_total.
constexpr std::pair<errc, obs::Rejection> kRejections[] = {
    {errc::bad_request, obs::Rejection::BadRequest},
    {errc::headers_too_large, obs::Rejection::HeadersTooLarge},
    {errc::uri_too_long, obs::Rejection::UriTooLong},
    {errc::body_too_large, obs::Rejection::BodyTooLarge},
    {errc::bad_path, obs::Rejection::BadPath},
    {errc::blocked_pattern, obs::Rejection::SqlInjection},
    {errc::method_not_allowed, obs::Rejection::MethodNotAllowed},
    {errc::overloaded, obs::Rejection::Overloaded},
    {errc::ip_denied, obs::Rejection::IpFilter},
};

std::optional<obs::Rejection> rejection_of(const Error& e) {
  for (const auto& [code, rejection] : kRejections) {
    if (e.is(code)) {
      return rejection;
    }
  }
  return std::nullopt;
}

asio::awaitable<bool> write_error(net::ClientStream& stream, Exchange& ex, const Error& e,
                                  unsigned version, bool keep_alive, std::string_view reason = {}) {
  auto res = make_error_response(e, ex.request_id, version, keep_alive, ex.head_only, reason,
                                 ex.retry_after_s);
  if (!ex.allow.empty()) {
    res.set(http::field::allow, ex.allow);  // a 405 of an endpoint with other methods
  }
  ex.error = e.message();
  if (!reason.empty()) {
    ex.error.append(": ").append(reason);
  }
  if (!ex.rejection) {
    ex.rejection = rejection_of(e);  // a limit already said which one refused
  }
  co_return co_await write_response(stream, ex, res) && keep_alive;
}

// Watches one request for max_concurrent_requests (FEATURES.md OPS-3): the count covers whole
// requests, streams included.
class InflightGuard {
 public:
  explicit InflightGuard(std::atomic<uint64_t>& n) : n_(n) { n_.fetch_add(1); }
  ~InflightGuard() { n_.fetch_sub(1); }
  InflightGuard(const InflightGuard&) = delete;
  InflightGuard& operator=(const InflightGuard&) = delete;

 private:
  std::atomic<uint64_t>& n_;
};

asio::awaitable<bool> serve_health(net::ClientStream& stream, Exchange& ex, Worker& w,
                                   bool keep_alive) {
  const auto up =
      std::chrono::duration_cast<std::chrono::seconds>(SteadyClock::now() - w.shared.started);
  boost::json::object o;
  o["status"] = "ok";
  o["version"] = YG_VERSION;
  o["uptime_seconds"] = up.count();
  co_return co_await serve_json(stream, ex, http::status::ok, o, keep_alive);
}

asio::awaitable<bool> serve_ready(net::ClientStream& stream, Exchange& ex, Worker& w,
                                  bool keep_alive) {
  const bool draining = w.shared.draining.load();
  const auto now = SteadyClock::now();
  bool all_usable = true;
  boost::json::object buckets;
  for (const auto& b : ex.runtime->buckets) {
    // OPS-1: a bucket is usable while one replica's breaker is not open (closed, or half-open:
    // it lets probes through). A protected bucket whose JWKS was never fetched refuses every
    // token until it is: reported, but not a reason to take the instance out of rotation.
    boost::json::object replicas;
    bool usable = false;
    for (const auto& r : b.replicas) {
      const auto st = r.breaker ? r.breaker->state(now) : resilience::BreakerState::Closed;
      usable = usable || st != resilience::BreakerState::Open;
      replicas[r.cfg->name] = resilience::to_string(st);
    }
    const auto* jwks = b.auth ? b.auth->jwks() : nullptr;
    boost::json::object bo;
    bo["status"] = !usable                                   ? "unavailable"
                   : jwks != nullptr && !jwks->stats().ready ? "jwks unavailable"
                                                             : "ok";
    bo["replicas"] = std::move(replicas);
    buckets[b.cfg->name] = std::move(bo);
    all_usable = all_usable && usable;
  }
  boost::json::object o;
  o["status"] = draining ? "draining" : all_usable ? "ready" : "degraded";
  o["buckets"] = std::move(buckets);
  co_return co_await serve_json(
      stream, ex, draining || !all_usable ? http::status::service_unavailable : http::status::ok, o,
      keep_alive);
}

// CORS pre-flight (FEATURES.md HTTP-1): objects are readable cross-origin with GET/HEAD.
asio::awaitable<bool> serve_options(net::ClientStream& stream, Exchange& ex, bool keep_alive) {
  http::response<http::empty_body> res{http::status::no_content, ex.head->version};
  set_common_headers(res, ex.request_id);
  res.set(http::field::allow, "GET, HEAD, OPTIONS");
  if (!field_value(ex.head->fields, http::field::origin).empty()) {
    res.set(http::field::access_control_allow_origin, "*");
    res.set(http::field::access_control_allow_methods, "GET, HEAD, OPTIONS");
    auto req_headers = field_value(ex.head->fields, http::field::access_control_request_headers);
    res.set(http::field::access_control_allow_headers,
            req_headers.empty() ? std::string_view("Authorization, Range, If-Match, "
                                                   "If-None-Match, If-Modified-Since, "
                                                   "If-Unmodified-Since")
                                : req_headers);
    res.set(http::field::access_control_max_age, "86400");
  }
  res.keep_alive(keep_alive);
  co_return co_await write_response(stream, ex, res) && keep_alive;
}

// AUTH-1..6: the token from the configured sources, verified, its claims checked. Records the
// outcome on `ex`; returns the error to answer with, or nullopt when the request may proceed.
std::optional<Error> authenticate(Exchange& ex, const auth::Authenticator& a, bool admin) {
  const net::RequestHead& h = *ex.head;
  auth::RequestView view;
  view.authorization = field_value(h.fields, http::field::authorization);
  view.header = [&h](std::string_view name) {
    auto it = h.fields.find(name);
    return it == h.fields.end() ? std::string_view{} : std::string_view(it->value());
  };
  view.query = &ex.query;
  auto token = auth::find_token(a.sources(), view);
  if (!token) {
    ex.auth = obs::AuthOutcome::Missing;
    return Error::of(errc::token_missing, Source::Downstream);
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(SysClock::now().time_since_epoch()).count();
  auto r = a.check(token->value, now, admin);
  switch (r.outcome) {
    case auth::Outcome::Allowed:
      ex.auth = obs::AuthOutcome::Allowed;
      ex.user = std::move(r.subject);
      ex.claims = std::move(r.claims);
      return std::nullopt;
    case auth::Outcome::Forbidden:
      ex.auth = obs::AuthOutcome::Forbidden;
      return Error::of(errc::forbidden, Source::Downstream);
    default:
      ex.auth = obs::AuthOutcome::Invalid;
      ex.auth_error = static_cast<uint8_t>(r.error);
      return Error::of(errc::token_invalid, Source::Downstream);
  }
}

// AUTHZ-1..4: after authentication, the bucket's OPA or OpenFGA (or its decision cache) decides.
// Records the outcome on `ex`; returns the error to answer with (403 deny, 500 when the engine
// could not answer and the fail mode is closed), or nullopt when the request may proceed.
asio::awaitable<std::optional<Error>> authorize(Exchange& ex, const authz::Authorizer& a, Worker& w,
                                                std::string_view path) {
  const net::RequestHead& h = *ex.head;
  const std::string client_ip = ex.client_ip.to_string();
  authz::Input in;
  in.claims = ex.claims.get();
  in.bucket = ex.bucket->cfg->name;
  in.path = path;
  in.key = ex.key;
  in.method = h.method_string;
  in.client_ip = client_ip;
  in.request_id = ex.request_id;
  in.header = [&h](std::string_view name) {
    auto it = h.fields.find(name);
    return it == h.fields.end() ? std::string_view{} : std::string_view(it->value());
  };
  in.traceparent = obs::traceparent_header(ex.trace);
  in.tracestate = ex.trace.tracestate;
  ex.authz_result = co_await a.check(in, w.pool, ex.deadline);
  const auto& r = ex.authz_result;
  switch (r.decision) {
    case authz::Decision::Allow:
      ex.authz = obs::AuthzOutcome::Allowed;
      co_return std::nullopt;
    case authz::Decision::Deny:
      ex.authz = obs::AuthzOutcome::Denied;
      co_return Error::of(errc::authz_denied, Source::Downstream);
    case authz::Decision::Error:
      break;
  }
  static const auto log = log::get("authz");
  uint64_t skipped = 0;
  const bool say = a.failure_log().allow(skipped);
  if (r.misconfigured) {
    ex.authz = obs::AuthzOutcome::FailedClosed;
    if (say) {
      log->error(
          "request_id={} bucket={} authorization refused by the engine ({}): check the "
          "bucket's authorization settings; 500 whatever the fail mode ({} similar "
          "failures not logged since the last line)",
          ex.request_id, ex.bucket->cfg->name, r.reason, skipped);
    }
    co_return Error::of(errc::authz_unavailable, Source::Internal);
  }
  const bool open = a.config().fail_mode == config::FailMode::Open;
  ex.authz = open ? obs::AuthzOutcome::FailedOpen : obs::AuthzOutcome::FailedClosed;
  if (say) {
    log->warn(
        "request_id={} bucket={} authorization unavailable ({}); fail_mode {}: {} ({} similar "
        "failures not logged since the last line)",
        ex.request_id, ex.bucket->cfg->name, r.reason, open ? "open" : "closed",
        open ? "request allowed" : "500", skipped);
  }
  if (open) {
    ex.error = "authorization unavailable; allowed by fail_mode open";
    co_return std::nullopt;
  }
  co_return Error::of(errc::authz_unavailable, Source::Internal);
}

// Whole seconds for Retry-After, rounded up.
uint32_t retry_seconds(SteadyClock::duration d) {
  const auto s = std::chrono::ceil<std::chrono::seconds>(d).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(s, 1, 86400));
}

std::optional<Error> limited(Exchange& ex, const resilience::RateDecision& d, obs::Rejection why) {
  ex.retry_after_s = retry_seconds(d.retry_after);
  ex.rejection = why;
  return Error::of(errc::rate_limited, Source::Downstream);
}

// server.rate_limit (OPS-3): the global bucket, then the client address's own.
std::optional<Error> rate_limit_client(Exchange& ex, const Runtime& rt) {
  const auto now = SteadyClock::now();
  if (rt.ip_limit) {
    // Per IP first: one noisy client must not use up the global budget it is refused from.
    const auto d = rt.ip_limit->take(resilience::to_addr16(ex.client_ip), now);
    if (!d.allowed) {
      return limited(ex, d, obs::Rejection::RateLimitIp);
    }
  }
  if (rt.global_limit) {
    const auto d = rt.global_limit->take(now);
    if (!d.allowed) {
      return limited(ex, d, obs::Rejection::RateLimitGlobal);
    }
  }
  return std::nullopt;
}

// The bucket's ip_filter (blocklist wins, then a non-empty allowlist must match) and its
// s3.rate_limit.
std::optional<Error> admit_to_bucket(Exchange& ex, const BucketRuntime& b) {
  if ((!b.block.empty() && b.block.contains(ex.client_ip)) ||
      (!b.allow.empty() && !b.allow.contains(ex.client_ip))) {
    return Error::of(errc::ip_denied, Source::Downstream);
  }
  if (b.rate_limit) {
    const auto d = b.rate_limit->take(SteadyClock::now());
    if (!d.allowed) {
      return limited(ex, d, obs::Rejection::RateLimitBucket);
    }
  }
  return std::nullopt;
}

// The proxy's own endpoints. Returns nullopt when `path` is not one of them.
std::optional<obs::Endpoint> endpoint_of(std::string_view path, Listener on, bool metrics_on) {
  if (path == "/health") {
    return obs::Endpoint::Health;
  }
  if (path == "/ready") {
    return obs::Endpoint::Ready;
  }
  if (path == "/metrics" && metrics_on) {
    return obs::Endpoint::Metrics;
  }
  if (on == Listener::Main && (path == "/admin" || path.starts_with("/admin/"))) {
    return obs::Endpoint::Admin;
  }
  return std::nullopt;
}

// The admin API (OBS-5): the dashboard page and its stats. With a global jwt, every /admin path
// needs a valid token that satisfies jwt.admin_claims (AUTH-5; none configured: refused); the
// one check here guards whatever admin endpoint is added later.
asio::awaitable<bool> serve_admin(net::ClientStream& stream, Exchange& ex, Worker& w,
                                  std::string_view path, bool keep_alive) {
  // A query token source and /admin/cache/info need the decoded query (bucket requests decode
  // it while routing).
  if (auto q = router::decode_query(router::split_target(ex.head->target).query)) {
    ex.query = std::move(*q);
  }
  if (const auto& admin = ex.runtime->global_auth) {
    if (auto err = authenticate(ex, *admin, /*admin=*/true)) {
      co_return co_await write_error(stream, ex, *err, ex.head->version, keep_alive);
    }
  }
  if (path == "/admin") {
    http::response<http::empty_body> res{http::status::moved_permanently, ex.head->version};
    set_common_headers(res, ex.request_id);
    res.set(http::field::location, "/admin/");
    res.keep_alive(keep_alive);
    co_return co_await write_response(stream, ex, res) && keep_alive;
  }
  if (path == "/admin/") {
    co_return co_await serve_text(stream, ex, http::status::ok, "text/html; charset=utf-8",
                                  std::string(dashboard_html()), keep_alive);
  }
  if (path == "/admin/reload") {
    // OPS-4: POST only; the reload runs on the reload thread, never on this worker.
    if (ex.head->method != http::verb::post || w.shared.reloader == nullptr) {
      ex.allow = "POST";
      co_return co_await write_error(stream, ex, Error::of(errc::method_not_allowed),
                                     ex.head->version, keep_alive);
    }
    const auto out = co_await w.shared.reloader->async_reload(
        "POST /admin/reload, request_id " + ex.request_id + " from " + ex.client_ip.to_string());
    const auto status = out.ok              ? http::status::ok
                        : out.shutting_down ? http::status::service_unavailable
                                            : http::status::unprocessable_entity;
    co_return co_await serve_json(stream, ex, status, to_json(out), keep_alive);
  }
  if (path.starts_with("/admin/cache/")) {
    if (auto done = co_await serve_cache_admin(stream, ex, w, path, keep_alive)) {
      co_return *done;
    }
  } else if (ex.head->method == http::verb::post) {
    co_return co_await write_error(stream, ex, Error::of(errc::method_not_allowed),
                                   ex.head->version, keep_alive);
  }
  if (path == "/admin/stats") {
    co_return co_await serve_json(stream, ex, http::status::ok, stats_json(w.shared), keep_alive);
  }
  co_return co_await write_error(stream, ex, Error::of(errc::no_route, Source::Downstream),
                                 ex.head->version, keep_alive);
}

// The request path for one parsed head (DESIGN.md section 1). Returns whether the connection
// may serve another request.
asio::awaitable<bool> handle(net::ClientStream& stream, Exchange& ex, Worker& w, Listener on,
                             bool keep_alive) {
  const net::RequestHead& h = *ex.head;
  const auto& cfg = ex.runtime->config;
  auto [raw_path, raw_query] = router::split_target(h.target);

  // Special endpoints come before routing; they answer GET and HEAD.
  if (auto ep = endpoint_of(raw_path, on, cfg.metrics_enabled)) {
    ex.endpoint = ep;
    // POST: the admin API's actions (cache purge); everything else reads.
    const bool post_ok = *ep == obs::Endpoint::Admin && h.method == http::verb::post;
    if (h.method != http::verb::get && h.method != http::verb::head && !post_ok) {
      co_return co_await write_error(stream, ex, Error::of(errc::method_not_allowed), h.version,
                                     keep_alive);
    }
    switch (*ep) {
      case obs::Endpoint::Health:
        co_return co_await serve_health(stream, ex, w, keep_alive);
      case obs::Endpoint::Ready:
        co_return co_await serve_ready(stream, ex, w, keep_alive);
      case obs::Endpoint::Metrics:
        co_return co_await serve_text(stream, ex, http::status::ok,
                                      "text/plain; version=0.0.4; charset=utf-8",
                                      render_metrics(w.shared), keep_alive);
      default:
        co_return co_await serve_admin(stream, ex, w, raw_path, keep_alive);
    }
  }
  if (on == Listener::Metrics) {
    // The metrics listener serves nothing else.
    co_return co_await write_error(stream, ex, Error::of(errc::no_route, Source::Downstream),
                                   h.version, keep_alive);
  }

  // Health probes are exempt: a busy proxy is still alive and ready.
  InflightGuard guard(w.shared.inflight);
  if (w.shared.inflight.load() > cfg.server.max_concurrent_requests) {
    co_return co_await write_error(stream, ex, Error::of(errc::overloaded, Source::Internal),
                                   h.version, keep_alive);
  }
  // OPS-3: the global and per-client limits come before any work is done for the request.
  if (auto refused = rate_limit_client(ex, *ex.runtime)) {
    co_return co_await write_error(stream, ex, *refused, h.version, keep_alive);
  }

  if (h.method != http::verb::get && h.method != http::verb::head &&
      h.method != http::verb::options) {
    // Writes never reach S3 (HTTP-1). The body, if any, is not read: close after answering.
    co_return co_await write_error(
        stream, ex, Error::of(errc::method_not_allowed, Source::Downstream), h.version, keep_alive);
  }

  auto path = router::decode_path(raw_path);
  if (!path) {
    co_return co_await write_error(stream, ex, path.error(), h.version, keep_alive);
  }
  auto query = router::decode_query(raw_query);
  if (!query) {
    co_return co_await write_error(stream, ex, query.error(), h.version, keep_alive);
  }
  if (cfg.server.security_limits.block_sql_injection) {
    bool blocked = router::looks_like_sql_injection(*path);
    for (const auto& [k, v] : *query) {
      blocked =
          blocked || router::looks_like_sql_injection(k) || router::looks_like_sql_injection(v);
    }
    if (blocked) {
      log::get("security")->warn("request_id={} refused: SQL-injection pattern", ex.request_id);
      co_return co_await write_error(
          stream, ex, Error::of(errc::blocked_pattern, Source::Downstream), h.version, keep_alive);
    }
  }
  auto match = ex.runtime->routes.match(*path);
  if (!match) {
    co_return co_await write_error(stream, ex, Error::of(errc::no_route, Source::Downstream),
                                   h.version, keep_alive);
  }
  ex.bucket = &ex.runtime->buckets[match->bucket_index];
  ex.key = std::move(match->key);
  ex.query = std::move(*query);
  if (ex.key.empty()) {
    // "/prefix" or "/prefix/" alone: never an S3 listing (ROUTE-1).
    co_return co_await write_error(stream, ex, Error::of(errc::empty_key, Source::Downstream),
                                   h.version, keep_alive);
  }
  if (auto refused = admit_to_bucket(ex, *ex.bucket)) {
    co_return co_await write_error(stream, ex, *refused, h.version, keep_alive);
  }
  if (h.method == http::verb::options) {
    // CORS pre-flights carry no credentials (browsers never send them): not authenticated.
    co_return co_await serve_options(stream, ex, keep_alive);
  }
  if (ex.bucket->auth) {
    if (auto err = authenticate(ex, *ex.bucket->auth, /*admin=*/false)) {
      co_return co_await write_error(stream, ex, *err, h.version, keep_alive);
    }
  }
  // Authentication, then authorization, then (issue #6) the cache: a cached object is never
  // served to a caller the policy denies.
  if (ex.bucket->authz) {
    if (auto err = co_await authorize(ex, *ex.bucket->authz, w, *path)) {
      const std::string_view reason =
          err->is(errc::authz_denied) ? std::string_view(ex.authz_result.reason) : "";
      co_return co_await write_error(stream, ex, *err, h.version, keep_alive, reason);
    }
  }
  co_return co_await serve_via_cache(stream, ex, w, keep_alive);
}

// Reads bytes until `buf` holds a complete request head. Returns the head's length, 0 when the
// connection should just close (peer gone, timeout, drain), or an error to answer.
struct HeadRead {
  std::size_t length = 0;
  std::optional<Error> error;
};

asio::awaitable<HeadRead> read_head(net::ClientStream& stream, beast::flat_buffer& buf, Worker& w,
                                    const config::ServerConfig& sc, bool first) {
  const auto& lim = sc.security_limits;
  std::size_t scanned = 0;  // bytes already searched for the end of the head
  // header_read_timeout bounds the whole head from its first byte, so a client trickling one
  // byte at a time cannot hold a connection for longer than that.
  std::optional<SteadyClock::time_point> head_deadline;
  for (;;) {
    std::string_view data(static_cast<const char*>(buf.data().data()), buf.size());
    auto end = net::find_head_end(data, scanned);
    if (end.bare_lf) {
      co_return HeadRead{0, Error::of(errc::bad_request, Source::Downstream)};
    }
    if (end.end != std::string_view::npos) {
      co_return HeadRead{end.end, std::nullopt};
    }
    scanned = data.size();
    if (data.size() >= lim.max_header_size) {
      // Without a complete request line, the URI is what overflowed.
      const bool line_done = data.find("\r\n") != std::string_view::npos;
      co_return HeadRead{0, Error::of(line_done ? errc::headers_too_large : errc::uri_too_long,
                                      Source::Downstream)};
    }
    const bool idle = data.empty();
    // Draining: a keep-alive connection closes between requests, unless the next request is
    // already on its way (serve it, then close). A new connection gets its first request read.
    boost::system::error_code aec;
    if (idle && !first && w.shared.draining.load() && stream.socket().available(aec) == 0) {
      co_return HeadRead{};
    }
    if (idle) {
      stream.expires_after(
          std::chrono::seconds(first ? sc.header_read_timeout_secs : sc.keepalive_timeout_secs));
    } else {
      if (!head_deadline) {
        head_deadline = SteadyClock::now() + std::chrono::seconds(sc.header_read_timeout_secs);
      }
      stream.expires_at(*head_deadline);
    }
    const std::size_t room =
        std::min<std::size_t>(kReadChunk, lim.max_header_size + 1 - data.size());
    if (idle) {
      w.idle.insert(&stream);
    }
    auto [ec, n] = co_await stream.async_read_some(buf.prepare(room), use_tuple);
    if (idle) {
      w.idle.erase(&stream);
    }
    if (ec) {
      if (idle && w.shared.draining.load() && stream.socket().available(aec) > 0) {
        continue;  // cancelled by the drain as a request arrived: serve it (then close)
      }
      co_return HeadRead{};  // closed, reset, timed out or cancelled by drain: nothing to answer
    }
    if (idle) {
      head_deadline = SteadyClock::now() + std::chrono::seconds(sc.header_read_timeout_secs);
    }
    buf.commit(n);
  }
}

// OPS-6: the TLS handshake, in the session (not the accept loop), bounded by
// header_read_timeout; drain cancels it like an idle keep-alive wait. Counts the outcome;
// failures (scanners, plain HTTP on the TLS port, old clients) are logged at debug, plus one
// info line per 10 s with the number not shown.
asio::awaitable<bool> tls_handshake(net::ClientStream& stream, Worker& w,
                                    const tcp::endpoint& remote) {
  const auto& sc = w.shared.runtime.load()->config.server;
  stream.expires_after(std::chrono::seconds(sc.header_read_timeout_secs));
  w.idle.insert(&stream);
  const auto ec = co_await stream.handshake();
  w.idle.erase(&stream);
  if (!ec) {
    w.metrics.tls_handshakes[static_cast<std::size_t>(stream.tls_version())].add();
    co_return true;
  }
  const auto reason = net::classify_handshake_error(ec);
  w.metrics.tls_failures[static_cast<std::size_t>(reason)].add();
  static const auto log = log::get("tls");
  static log::Throttle throttle(std::chrono::seconds(10));
  log->debug("TLS handshake from {} failed ({}): {}", remote.address().to_string(),
             obs::to_string(reason), ec.message());
  uint64_t suppressed = 0;
  if (reason != obs::TlsFailure::Closed && throttle.allow(suppressed)) {
    log->info(
        "TLS handshake from {} failed ({}): {} ({} similar failures not logged since the last "
        "line; all counted in yatagarasu_tls_handshake_failures_total)",
        remote.address().to_string(), obs::to_string(reason), ec.message(), suppressed);
  }
  co_return false;
}

}  // namespace

namespace {
// X-Cache values (DESIGN.md section 4) and their lower-case spelling in access/audit lines.
struct CacheStatusNames {
  std::string_view header, log;
};
constexpr CacheStatusNames kCacheStatusNames[] = {{"BYPASS", "bypass"},
                                                  {"MISS", "miss"},
                                                  {"HIT", "hit"},
                                                  {"STALE", "stale"},
                                                  {"REVALIDATED", "revalidated"}};
}  // namespace

std::string_view to_string(CacheStatus s) noexcept {
  return kCacheStatusNames[static_cast<std::size_t>(s)].header;
}

std::string_view log_name(CacheStatus s) noexcept {
  return kCacheStatusNames[static_cast<std::size_t>(s)].log;
}

asio::awaitable<void> run_session(tcp::socket socket, Worker& w, Listener on) {
  ++w.shared.sessions;
  const bool main_listener = on == Listener::Main;
  if (main_listener) {
    ++w.shared.main_sessions;
  }
  // Holds Shared, not Worker: a frame still suspended at exit is destroyed with the worker's
  // io_context, when the other Worker members are already gone.
  struct SessionCount {
    Shared& s;
    bool main;
    ~SessionCount() {
      --s.sessions;
      if (main) {
        --s.main_sessions;
      }
    }
  } count{w.shared, main_listener};
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  const auto remote = socket.remote_endpoint(ec);
  // OPS-6: the main listener speaks TLS when the snapshot at accept has a context; the
  // connection keeps that context (a reload's new certificate serves new connections).
  auto tls_ctx = on == Listener::Main ? w.shared.runtime.load()->server_tls : nullptr;
  net::ClientStream stream(std::move(socket), std::move(tls_ctx));
  if (stream.tls() && (w.shared.draining.load() || !co_await tls_handshake(stream, w, remote))) {
    stream.close();  // a FIN after OpenSSL's alert, so the client can read why
    co_return;
  }
  beast::flat_buffer buf;
  bool first = true;
  try {
    for (;;) {
      auto runtime = w.shared.runtime.load();
      const config::ServerConfig* scp = &runtime->config.server;
      HeadRead hr = co_await read_head(stream, buf, w, *scp, first);
      first = false;
      // The wait for this head may have spanned a reload: the request runs on the snapshot
      // current when it arrived.
      runtime = w.shared.runtime.load();
      const auto& sc = runtime->config.server;
      Exchange ex;
      ex.runtime = runtime;
      ex.client = remote;
      ex.client_ip = remote.address();
      ex.start = SteadyClock::now();
      ex.wall_start = SysClock::now();
      ex.deadline = ex.start + std::chrono::seconds(sc.request_timeout_secs);
      if (hr.error) {
        ex.request_id = obs::new_request_id();
        ex.trace = obs::start_span({}, {});
        net::RequestHead dummy;
        ex.head = &dummy;
        co_await write_error(stream, ex, *hr.error, 11, false);
        finish_exchange(ex, w);
        break;
      }
      if (hr.length == 0) {
        break;
      }
      w.metrics.bytes_received.add(hr.length);
      auto head = net::parse_request_head(
          std::string_view(static_cast<const char*>(buf.data().data()), hr.length),
          net::HeadLimits{sc.security_limits.max_header_size, sc.security_limits.max_uri_length});
      buf.consume(hr.length);
      if (!head) {
        ex.request_id = obs::new_request_id();
        ex.trace = obs::start_span({}, {});
        net::RequestHead dummy;
        ex.head = &dummy;
        co_await write_error(stream, ex, head.error(), 11, false);
        finish_exchange(ex, w);
        break;
      }
      ex.head = &*head;
      ex.head_only = head->method == http::verb::head;
      if (!runtime->trusted_proxies.empty()) {
        std::string xff;
        auto [first, last] = head->fields.equal_range("X-Forwarded-For");
        for (auto it = first; it != last; ++it) {
          xff.append(xff.empty() ? "" : ",").append(it->value());
        }
        ex.client_ip = resilience::client_address(remote.address(), xff, runtime->trusted_proxies);
      }
      {
        auto it = head->fields.find("X-Request-ID");
        ex.request_id = obs::request_id_for(
            it == head->fields.end() ? std::string_view{} : std::string_view(it->value()));
        // More than one traceparent is invalid (W3C Trace Context 3.2): start a new trace.
        auto tp = head->fields.find("traceparent");
        auto ts = head->fields.find("tracestate");
        const bool one = head->fields.count("traceparent") == 1;
        ex.trace = obs::start_span(
            one ? std::string_view(tp->value()) : std::string_view{},
            one && ts != head->fields.end() ? std::string_view(ts->value()) : std::string_view{});
      }
      // A request body is never read (GET/HEAD carry none worth reading): answer, then close,
      // so unread body bytes are never taken for the next request.
      bool keep_alive = head->keep_alive && !head->has_body() && !w.shared.draining.load();
      if (head->content_length && *head->content_length > sc.security_limits.max_body_size) {
        co_await write_error(stream, ex, Error::of(errc::body_too_large, Source::Downstream),
                             head->version, false);
        finish_exchange(ex, w);
        break;
      }
      bool again = co_await handle(stream, ex, w, on, keep_alive);
      finish_exchange(ex, w);
      if (!again) {
        break;
      }
    }
  } catch (const std::exception& e) {
    // Firewall: a bug must not take the worker down (STYLE.md section 4).
    log::get("server")->error("session aborted by exception: {}", e.what());
  }
  // TLS: close_notify first, so the client can tell our last response was complete.
  co_await stream.shutdown_tls(w.shared.draining.load() ? kTlsCloseWaitDraining : kTlsCloseWait);
  // Lingering close (as nginx does): after our last response, drain what the client still
  // sends for a short while, so an unread request body does not turn our close into a reset
  // that destroys the response before the client reads it. (On TLS these are raw bytes.)
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (!w.shared.draining.load() && stream.socket().is_open()) {
    stream.expires_after(std::chrono::seconds(2));
    std::size_t drained = 0;
    while (drained < 1024 * 1024) {
      auto [rec, n] = co_await stream.tcp().async_read_some(buf.prepare(kReadChunk), use_tuple);
      if (rec) {
        break;
      }
      drained += n;
    }
  }
  stream.close();
}

}  // namespace yg::proxy
