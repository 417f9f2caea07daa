#pragma once
// Small request/response exchanges with HTTP services that are not S3: the JWKS endpoint, OPA,
// OpenFGA. Bodies are strings with a size limit; connections come from (and go back to) the
// caller's UpstreamPool, so a worker keeps its keep-alive connections to each service.
//
// Thread: like UpstreamPool, used only on the thread that owns the pool.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"
#include "net/client/upstream_pool.h"

namespace yg::net {

// A service base URL ("http(s)://host[:port][/base]") as connection target and header values.
struct ServiceUrl {
  UpstreamTarget target;
  std::string host_header;  // host[:port] as written (IPv6 bracketed)
  std::string base_path;    // path without a trailing '/', may be empty
  std::string target_path;  // path and query as written, "/" when empty (for a GET of the URL)
  std::string for_logs;     // scheme://host[:port]/path: no user info, query or fragment
};
// Throws std::invalid_argument when `url` is not an absolute http(s) URL with a host. User info
// is ignored (never sent, never logged). `pool_tag` separates pools of services with different TLS
// settings. `ca_file` may be empty (system trust store).
ServiceUrl parse_service_url(std::string_view url, std::string_view pool_tag,
                             const std::string& ca_file = {});

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

struct CallOptions {
  bool fresh_connection = false;  // do not take a pooled connection (a retry after a 5xx)
  std::string* detail = nullptr;  // on failure: what failed, for logs ("read failed: ...")
};

// Sends `req` (Host, Content-Length and keep-alive are set here) on a pooled connection or a new
// one and reads the whole response, all before `deadline` (interim 1xx responses are skipped). A
// pooled connection found dead before any response byte is replaced by a new one once (not an
// error). The connection goes back to the pool (up to `max_idle` idle per target) only after a
// complete, reusable final response. Errors: upstream_unreachable (connect, reset, closed early;
// retryable unless cancelled), upstream_timeout (deadline, retryable), upstream_bad_response
// (unparseable, or body over `body_limit`).
boost::asio::awaitable<Result<HttpReply>> call(
    UpstreamPool& pool, const ServiceUrl& svc,
    boost::beast::http::request<boost::beast::http::string_body>& req,
    SteadyClock::time_point deadline, std::size_t max_idle, std::size_t body_limit,
    CallOptions opt = {});

}  // namespace yg::net
