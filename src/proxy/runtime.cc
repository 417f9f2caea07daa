#include "proxy/runtime.h"

#include <stdexcept>

#include "net/server/tls_context.h"
#include "obs/metrics.h"

namespace yg::proxy {
namespace {
std::vector<std::string> prefixes_of(const config::Config& c) {
  std::vector<std::string> out;
  out.reserve(c.buckets.size());
  for (const auto& b : c.buckets) {
    out.push_back(b.path_prefix);
  }
  return out;
}
}  // namespace

namespace {
std::shared_ptr<const std::vector<auth::Key>> jwks_seed(const Runtime* previous,
                                                        const config::JwtConfig& j) {
  if (previous == nullptr || j.jwks_url.empty()) {
    return nullptr;
  }
  for (const auto& [name, a] : previous->jwks_users) {
    if (a->jwks() != nullptr && a->jwks()->url() == j.jwks_url) {
      return a->jwks()->keys();
    }
  }
  return nullptr;
}

resilience::RateSettings rate_settings(const config::RateLimitRule& r) {
  return {static_cast<double>(r.requests_per_second),
          r.burst != 0 ? r.burst : std::max<uint32_t>(r.requests_per_second, 1)};
}

resilience::AddressSet address_set(const std::vector<std::string>& entries, const char* what) {
  auto s = resilience::AddressSet::parse(entries);
  if (!s) {
    throw std::runtime_error(std::string(what) + ": an entry is not an IP address or CIDR range");
  }
  return std::move(*s);
}

// The same limiter as before a reload when its settings did not change, so a reload neither
// hands every client a fresh burst nor forgets who was limited.
template <class Limiter>
std::shared_ptr<Limiter> keep_or_make(const std::shared_ptr<Limiter>& before,
                                      resilience::RateSettings s, auto&&... extra) {
  if (before && before->settings() == s) {
    return before;
  }
  return std::make_shared<Limiter>(s, extra...);
}

const BucketRuntime* previous_bucket(const Runtime* previous, const std::string& name) {
  if (previous == nullptr) {
    return nullptr;
  }
  for (const auto& pb : previous->buckets) {
    if (pb.cfg->name == name) {
      return &pb;
    }
  }
  return nullptr;
}

// A replica keeps its breaker across a reload when it still points at the same place with the
// same settings (its health did not change with the file).
std::shared_ptr<resilience::CircuitBreaker> breaker_for(const BucketRuntime* before,
                                                        const config::S3Replica& r,
                                                        const resilience::BreakerSettings& s) {
  if (before != nullptr) {
    for (const auto& pr : before->replicas) {
      if (pr.breaker && pr.cfg->name == r.name && pr.cfg->endpoint == r.endpoint &&
          pr.cfg->bucket == r.bucket && pr.cfg->region == r.region && pr.breaker->settings() == s) {
        return pr.breaker;
      }
    }
  }
  return std::make_shared<resilience::CircuitBreaker>(s);
}

}  // namespace

std::shared_ptr<const Runtime> build_runtime(config::Config cfg, const Runtime* previous) {
  auto rt = std::make_shared<Runtime>(Runtime{std::move(cfg), router::RouteTable({}), {}, {}, {}});
  rt->routes = router::RouteTable(prefixes_of(rt->config));
  if (rt->config.server.tls) {
    try {
      rt->server_tls = net::make_server_tls_context(*rt->config.server.tls);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("server.tls: ") + e.what());
    }
  }
  bool any_auth = false;
  if (rt->config.jwt && rt->config.jwt->enabled) {
    try {
      rt->global_auth = std::make_shared<const auth::Authenticator>(
          *rt->config.jwt, jwks_seed(previous, *rt->config.jwt));
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("jwt: ") + e.what());
    }
    any_auth = true;
    if (rt->global_auth->jwks() != nullptr) {
      rt->jwks_users.emplace_back("global", rt->global_auth);
    }
  }
  if (const auto& rl = rt->config.server.rate_limit; rl && rl->enabled) {
    if (rl->global) {
      rt->global_limit = keep_or_make(previous != nullptr ? previous->global_limit : nullptr,
                                      rate_settings(*rl->global));
    }
    if (rl->per_ip) {
      const auto s = rate_settings(*rl->per_ip);
      const auto* before = previous != nullptr ? previous->ip_limit.get() : nullptr;
      if (before != nullptr && before->settings() == s &&
          before->max_keys() == std::max<std::size_t>(rl->max_tracked_ips, 64)) {
        rt->ip_limit = previous->ip_limit;
      } else {
        rt->ip_limit = std::make_shared<resilience::KeyedLimiter>(
            s, static_cast<std::size_t>(rl->max_tracked_ips));
      }
    }
  }
  rt->trusted_proxies = address_set(rt->config.server.trusted_proxies, "server.trusted_proxies");
  for (const auto& b : rt->config.buckets) {
    BucketRuntime br;
    br.cfg = &b;
    const BucketRuntime* before = previous_bucket(previous, b.name);
    if (b.s3.retry && b.s3.retry->max_attempts > 1) {
      const resilience::BudgetSettings bs{b.s3.retry->budget_percent,
                                          b.s3.retry->budget_min_per_second};
      br.retry_budget =
          before != nullptr && before->retry_budget && before->retry_budget->settings() == bs
              ? before->retry_budget
              : std::make_shared<resilience::RetryBudget>(bs);
    }
    if (b.s3.rate_limit) {
      br.rate_limit = keep_or_make(before != nullptr ? before->rate_limit : nullptr,
                                   rate_settings(*b.s3.rate_limit));
    }
    br.allow = address_set(b.ip_filter.allowlist, "ip_filter.allowlist");
    br.block = address_set(b.ip_filter.blocklist, "ip_filter.blocklist");
    // OPS-1: breakers when configured, and always when there is a replica to fail over to.
    std::optional<resilience::BreakerSettings> breaker;
    if (b.s3.circuit_breaker || b.s3.replicas.size() > 1) {
      const config::CircuitBreakerConfig c =
          b.s3.circuit_breaker.value_or(config::CircuitBreakerConfig{});
      breaker = resilience::BreakerSettings{c.failure_threshold, c.success_threshold,
                                            std::chrono::seconds(c.timeout_seconds),
                                            c.half_open_max_requests};
    }
    br.pool_size = b.s3.connection_pool_size;
    br.metrics_slot = obs::metrics().bucket_slot(b.name);
    if (b.auth_enabled) {
      any_auth = true;
      if (b.jwt && b.jwt->enabled) {
        try {
          br.auth =
              std::make_shared<const auth::Authenticator>(*b.jwt, jwks_seed(previous, *b.jwt));
        } catch (const std::exception& e) {
          throw std::runtime_error("bucket '" + b.name + "': auth.jwt: " + e.what());
        }
        if (br.auth->jwks() != nullptr) {
          rt->jwks_users.emplace_back(b.name, br.auth);
        }
      } else {
        br.auth = rt->global_auth;  // validation guarantees one applies
      }
    }
    if (b.authorization) {
      try {
        br.authz = authz::make_authorizer(
            *b.authorization, before != nullptr && before->authz ? before->authz.get() : nullptr);
      } catch (const std::exception& e) {
        throw std::runtime_error("bucket '" + b.name + "': authorization: " + e.what());
      }
    }
    std::shared_ptr<boost::asio::ssl::context> tls_ctx;
    for (const auto& r : b.s3.replicas) {
      UpstreamReplica ur;
      ur.cfg = &r;
      std::string reason;
      auto ep = s3::resolve_endpoint(r, &reason);
      if (!ep) {
        throw std::runtime_error("bucket '" + b.name + "': invalid S3 endpoint '" + r.endpoint +
                                 "': " + reason);
      }
      ur.endpoint = *ep;
      ur.signer = std::make_unique<s3::SigV4Signer>(
          s3::Credentials{r.access_key, r.secret_key, r.session_token}, r.region);
      ur.target.tls = ur.endpoint.tls;
      ur.target.host = ur.endpoint.host;
      ur.target.port = ur.endpoint.port;
      ur.target.verify = b.s3.tls_verify;
      if (ur.target.tls) {
        if (!tls_ctx) {
          tls_ctx = net::make_client_tls_context(b.s3.ca_file, b.s3.tls_verify);
        }
        ur.target.tls_ctx = tls_ctx;
      }
      ur.target.pool_key = net::make_pool_key(ur.target, b.s3.ca_file);
      ur.timeout = std::chrono::seconds(r.timeout_secs);
      ur.metrics_slot = obs::metrics().replica_slot(b.name, r.name);
      if (breaker) {
        ur.breaker = breaker_for(before, r, *breaker);
      }
      br.replicas.push_back(std::move(ur));
    }
    rt->buckets.push_back(std::move(br));
  }
  if (any_auth) {
    std::vector<std::string> reasons;
    for (int e = 0; e <= static_cast<int>(auth::JwtError::BadAudience); ++e) {
      reasons.emplace_back(auth::to_string(static_cast<auth::JwtError>(e)));
    }
    obs::metrics().set_auth_reasons(std::move(reasons));
  }
  return rt;
}

}  // namespace yg::proxy
