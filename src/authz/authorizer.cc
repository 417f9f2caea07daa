#include "authz/authorizer.h"

#include <boost/beast/http/string_body.hpp>
#include <stdexcept>

#include "authz/opa.h"
#include "authz/openfga.h"

#ifndef YG_VERSION
#define YG_VERSION "0.0.0"
#endif

namespace yg::authz {
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
// Idle keep-alive connections each worker keeps to one engine; more concurrent checks open
// more connections, and those beyond this are closed after use.
constexpr std::size_t kMaxIdlePerWorker = 32;
constexpr std::size_t kMaxResponseBytes = 64 * 1024;
constexpr std::size_t kMaxDetailBytes = 200;  // of an engine's error body, in logs

bool transient_status(unsigned status) {
  return status == 408 || status == 429 || status >= 500;
}

std::string clip(std::string_view s) {
  std::string out(s.substr(0, kMaxDetailBytes));
  for (char& c : out) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  return out;
}
}  // namespace

std::string_view to_string(Decision d) noexcept {
  switch (d) {
    case Decision::Allow:
      return "allow";
    case Decision::Deny:
      return "deny";
    case Decision::Error:
      return "error";
  }
  return "?";
}

Authorizer::Authorizer(const config::AuthorizationConfig& cfg, std::shared_ptr<DecisionCache> cache,
                       net::ServiceUrl svc, SteadyClock::duration timeout)
    : cfg_(cfg), cache_(std::move(cache)), svc_(std::move(svc)), timeout_(timeout) {}

asio::awaitable<Result> Authorizer::check(const Input& in, net::UpstreamPool& pool,
                                          SteadyClock::time_point deadline) const {
  Prepared prep = prepare(in, cache_ != nullptr);
  if (prep.answer) {
    co_return std::move(*prep.answer);
  }
  const auto start = SteadyClock::now();
  const std::string key = std::move(prep.key);
  if (cache_) {
    if (auto hit = cache_->get(key, start)) {
      Result r;
      r.decision = hit->allow ? Decision::Allow : Decision::Deny;
      r.reason = std::move(hit->reason);
      r.cached = true;
      co_return r;
    }
  }

  Result r;
  r.asked = true;
  const auto budget_end = std::min(start + timeout_, deadline);
  const std::string payload = body(in);
  const std::string auth = authorization_header();
  for (int attempt = 0; attempt < 2; ++attempt) {
    http::request<http::string_body> req{http::verb::post, target(), 11};
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json");
    req.set(http::field::user_agent, "yatagarasu/" YG_VERSION);
    if (!in.traceparent.empty()) {
      req.set("traceparent", in.traceparent);
      if (!in.tracestate.empty()) {
        req.set("tracestate", in.tracestate);
      }
    }
    if (!auth.empty()) {
      req.set(http::field::authorization, auth);
    }
    req.body() = payload;
    std::string detail;
    // A retry goes out on a new connection: the one that failed (or answered 5xx) may lead to
    // the same sick instance behind a load balancer.
    auto reply =
        co_await net::call(pool, svc_, req, budget_end, kMaxIdlePerWorker, kMaxResponseBytes,
                           {.fresh_connection = attempt > 0, .detail = &detail});
    bool retry = false;
    if (!reply) {
      const Error& e = reply.error();
      const auto kind = e.is(errc::upstream_timeout)        ? obs::AuthzError::Timeout
                        : e.is(errc::upstream_bad_response) ? obs::AuthzError::BadResponse
                                                            : obs::AuthzError::Connect;
      ++r.errors[static_cast<std::size_t>(kind)];
      r.reason = std::string(engine()) + " " + svc_.for_logs + ": " + detail;
      retry = kind == obs::AuthzError::Connect && e.retryable;
    } else if (reply->status != 200) {
      ++r.errors[static_cast<std::size_t>(obs::AuthzError::Status)];
      r.reason = std::string(engine()) + " " + svc_.for_logs + ": HTTP " +
                 std::to_string(reply->status) + ": " + clip(reply->body);
      retry = transient_status(reply->status);
      // 4xx other than 408/429: the engine refused *our* request (wrong store, model, token or
      // policy input). That is a configuration fault, not an outage: it fails closed even in
      // fail_mode open, so a misconfiguration never opens a bucket.
      r.misconfigured = reply->status >= 400 && reply->status < 500 && reply->status != 408 &&
                        reply->status != 429;
    } else {
      Result answer = interpret(reply->body);
      for (std::size_t k = 0; k < r.errors.size(); ++k) {
        answer.errors[k] += r.errors[k];
      }
      answer.asked = true;
      answer.engine_time = SteadyClock::now() - start;
      if (answer.decision == Decision::Error) {
        answer.reason = std::string(engine()) + " " + svc_.for_logs + ": " + answer.reason;
      } else if (cache_) {
        cache_->put(key, CachedDecision{answer.decision == Decision::Allow, answer.reason},
                    SteadyClock::now());
      }
      co_return answer;
    }
    if (!retry || SteadyClock::now() >= budget_end) {
      break;
    }
  }
  r.decision = Decision::Error;
  r.engine_time = SteadyClock::now() - start;
  co_return r;
}

std::string decision_fingerprint(const config::AuthorizationConfig& c) {
  std::string f = std::string(config::to_string(c.type));
  auto add = [&f](std::string_view v) {
    f += '\x1f';
    f += v;
  };
  if (c.type == config::AuthorizationType::Opa) {
    add(c.opa_url);
    add(c.opa_policy_path);
    for (const auto& h : c.opa_input_headers) {
      add(h);
    }
  } else {
    add(c.openfga_endpoint);
    add(c.openfga_store_id);
    add(c.openfga_authorization_model_id);
    add(c.openfga_api_token.reveal());
    add(c.openfga_user_claim);
    add(c.openfga_parent_tuples ? "parents" : "no-parents");
  }
  add(std::to_string(c.cache_ttl_seconds));
  add(std::to_string(c.deny_cache_ttl_seconds));
  add(std::to_string(c.cache_max_entries));
  return f;
}

std::shared_ptr<const Authorizer> make_authorizer(const config::AuthorizationConfig& cfg,
                                                  const Authorizer* previous) {
  std::shared_ptr<DecisionCache> cache;
  if (cfg.cache_enabled) {
    if (previous != nullptr && previous->cache() &&
        decision_fingerprint(previous->config()) == decision_fingerprint(cfg)) {
      cache = previous->cache();
    } else {
      cache = std::make_shared<DecisionCache>(cfg.cache_max_entries,
                                              std::chrono::seconds(cfg.cache_ttl_seconds),
                                              std::chrono::seconds(cfg.deny_cache_ttl_seconds));
    }
  }
  try {
    if (cfg.type == config::AuthorizationType::Opa) {
      return std::make_shared<OpaAuthorizer>(cfg, std::move(cache));
    }
    return std::make_shared<OpenFgaAuthorizer>(cfg, std::move(cache));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(
        std::string(cfg.type == config::AuthorizationType::Opa ? "opa_url" : "openfga_endpoint") +
        " cannot be used: " + e.what());
  }
}

}  // namespace yg::authz
