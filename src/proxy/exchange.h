#pragma once
// Per-request state (STYLE.md section 3): a plain struct with a field per concern, created in
// the session's frame and passed by reference to each step of the request path.

#include <boost/asio/ip/tcp.hpp>
#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "net/server/request_head.h"
#include "obs/metrics.h"
#include "obs/trace.h"
#include "proxy/runtime.h"

namespace yg::proxy {

enum class CacheStatus { Bypass, Miss, Hit, Stale, Revalidated };
std::string_view to_string(CacheStatus s) noexcept;  // X-Cache value: "HIT", ...
std::string_view log_name(CacheStatus s) noexcept;   // in access/audit lines: "hit", ...

struct Exchange {
  // request
  std::string request_id;
  const net::RequestHead* head = nullptr;
  boost::asio::ip::tcp::endpoint client;  // the TCP peer
  // The client's address: the peer, or the X-Forwarded-For hop behind trusted proxies (OPS-3).
  boost::asio::ip::address client_ip;
  SteadyClock::time_point start{};
  SteadyClock::time_point
      deadline{};  // start + server.request_timeout: bounds time to response head
  std::shared_ptr<const Runtime> runtime;  // the snapshot this request started with
  bool head_only = false;                  // HEAD request

  // route
  const BucketRuntime* bucket = nullptr;
  std::string key;                                         // decoded object key
  std::vector<std::pair<std::string, std::string>> query;  // decoded client query

  SysTime wall_start{};     // for logs
  obs::TraceContext trace;  // W3C trace context: the client's trace joined, or a new one

  // outcome
  unsigned status = 0;
  uint64_t bytes_sent = 0;  // body bytes written to the client
  CacheStatus cache_status = CacheStatus::Bypass;
  bool cache_step = false;  // reached the cache step (counted in yatagarasu_cache_requests_total)
  std::string upstream;     // replica name that served, if any
  std::optional<SteadyClock::time_point> first_byte;      // response head handed to the socket
  std::optional<SteadyClock::duration> upstream_latency;  // S3 request -> response head
  std::optional<obs::Endpoint> endpoint;    // /health, /metrics, ...: not bucket traffic
  std::optional<obs::Rejection> rejection;  // refused by a limit or rule
  std::string error;                        // our error's text, for error responses
  uint32_t retry_after_s = 0;               // Retry-After of a 429/503 answer (0: the default, 1 s)
  std::string_view allow;  // Allow of a 405 when not GET, HEAD, OPTIONS (a static string)
  std::string user;        // the verified token's "sub" (audit `user`)
  std::shared_ptr<const boost::json::object> claims;  // verified claims (OPA input, issue #5)
  std::optional<obs::AuthOutcome> auth;
  std::optional<obs::AuthzOutcome> authz;  // OPA / OpenFGA outcome (AUTHZ-*)
  authz::Result authz_result;              // cache hit/miss, engine time and errors, reason
  uint8_t auth_error = 0;                  // auth::JwtError when auth == Invalid
  bool aborted_by_client = false;          // client left mid-body
  bool aborted_by_upstream = false;        // S3 failed mid-body; the client connection was reset

  void mark_first_byte() {
    if (!first_byte) {
      first_byte = SteadyClock::now();
    }
  }
};

}  // namespace yg::proxy
