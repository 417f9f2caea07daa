#pragma once
// The authorization step (FEATURES.md AUTHZ-1..4): after authentication, a bucket may ask OPA
// (policy) or OpenFGA (relationships) whether this caller may read this object. One Authorizer
// per bucket with `authorization`, built with the runtime snapshot and shared by all workers;
// connections to the engine come from the calling worker's pool (keep-alive per worker).
//
// Decisions are Allow | Deny | Error (STYLE.md section 4). What Error becomes is the bucket's
// fail mode, applied by the proxy: closed -> 500 AuthorizationUnavailable, open -> allowed and
// counted. Errors are never cached; allow and deny are, with their own TTLs.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "authz/decision_cache.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/client/http_call.h"
#include "obs/metrics.h"

namespace yg::authz {

enum class Decision : uint8_t { Allow, Deny, Error };
std::string_view to_string(Decision d) noexcept;

// What the engine may be told about one request.
struct Input {
  const boost::json::object* claims = nullptr;  // verified JWT claims; nullptr: not authenticated
  std::string_view bucket;                      // the proxy's bucket name (config `name`)
  std::string_view path;                        // decoded request path, "/prefix/key"
  std::string_view key;                         // decoded object key
  std::string_view method;                      // "GET" | "HEAD"
  std::string_view client_ip;
  std::string_view request_id;
  // A request header by lower-case name, "" when absent (only allow-listed names are asked).
  std::function<std::string_view(std::string_view)> header;
  std::string traceparent;  // the proxy's span, so the engine's traces join the request's
  std::string tracestate;
};

struct Result {
  Decision decision = Decision::Error;
  // Deny: why (the engine's reason, or ours: "no user claim"). Error: what failed, for logs.
  std::string reason;
  bool cached = false;  // answered from the decision cache
  // Error only: the engine refused the request itself (4xx but 408/429): fail closed whatever
  // the fail mode.
  bool misconfigured = false;
  bool asked = false;  // the engine was asked (a cache miss with a usable input)
  std::array<uint8_t, obs::count_of<obs::AuthzError>()> errors{};  // failed attempts by kind
  SteadyClock::duration engine_time{};                             // when asked
};

class Authorizer {
 public:
  // `cache`: the decision cache to use (a reload passes the previous one when nothing that can
  // change an answer changed); nullptr when disabled in the config.
  Authorizer(const config::AuthorizationConfig& cfg, std::shared_ptr<DecisionCache> cache,
             net::ServiceUrl svc, SteadyClock::duration timeout);
  virtual ~Authorizer() = default;
  Authorizer(const Authorizer&) = delete;
  Authorizer& operator=(const Authorizer&) = delete;

  // The decision for `in`: from the cache, or by asking the engine (one retry on a transient
  // failure - refused, reset, 429, 5xx - inside the timeout budget, which is the configured
  // timeout bounded by `deadline`). Must run on the thread that owns `pool`.
  boost::asio::awaitable<Result> check(const Input& in, net::UpstreamPool& pool,
                                       SteadyClock::time_point deadline) const;

  virtual std::string_view engine() const noexcept = 0;  // "opa" | "openfga"
  const config::AuthorizationConfig& config() const noexcept { return cfg_; }
  const std::shared_ptr<DecisionCache>& cache() const noexcept { return cache_; }
  const std::string& endpoint_for_logs() const noexcept { return svc_.for_logs; }
  // Failures are logged at most once a second per bucket, with a count of those skipped (an
  // outage at thousands of requests per second must not flood the log).
  log::Throttle& failure_log() const noexcept { return failure_log_; }

 protected:
  struct Prepared {
    std::optional<Result> answer;  // needs no engine (OpenFGA without a user claim: deny)
    std::string key;  // when asked for: everything that can change the engine's answer, as one
                      // string (never the request id); the decision cache's key
  };
  // Runs once per request, cache hit or not: what each engine derives from `in` is derived
  // here once.
  virtual Prepared prepare(const Input& in, bool want_key) const = 0;
  // The POST body and request target for `in`.
  virtual std::string body(const Input& in) const = 0;
  virtual const std::string& target() const noexcept = 0;
  // Interprets a 200 response: Allow / Deny (+reason), or Error when it is not the expected
  // shape. Must not throw.
  virtual Result interpret(std::string_view body) const = 0;
  // Extra request header (OpenFGA's bearer token), or empty.
  virtual std::string authorization_header() const { return {}; }

  config::AuthorizationConfig cfg_;
  std::shared_ptr<DecisionCache> cache_;
  net::ServiceUrl svc_;
  SteadyClock::duration timeout_;
  mutable log::Throttle failure_log_;
};

// Builds the bucket's authorizer. `previous`: the same bucket's authorizer in the runtime being
// replaced (reload), or nullptr; its decision cache is kept when every setting that can change
// a decision is unchanged, else a new (empty) cache starts. Throws std::runtime_error when the
// engine URL cannot be used.
std::shared_ptr<const Authorizer> make_authorizer(const config::AuthorizationConfig& cfg,
                                                  const Authorizer* previous);

// Every setting that can change a decision, as one comparable string (secrets included: it is
// never logged or shown).
std::string decision_fingerprint(const config::AuthorizationConfig& cfg);

}  // namespace yg::authz
