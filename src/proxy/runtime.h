#pragma once
// The immutable runtime snapshot built from a validated Config (DESIGN.md section 2): routes,
// per-bucket upstream endpoints and signers. Published as shared_ptr<const Runtime>; requests
// keep the snapshot they started with.

#include <memory>
#include <vector>

#include "auth/authenticator.h"
#include "authz/authorizer.h"
#include "config/config.h"
#include "net/client/upstream_pool.h"
#include "resilience/address_set.h"
#include "resilience/circuit_breaker.h"
#include "resilience/rate_limiter.h"
#include "resilience/retry.h"
#include "router/router.h"
#include "s3/request.h"
#include "s3/sigv4.h"

namespace yg::proxy {

struct UpstreamReplica {
  const config::S3Replica* cfg = nullptr;  // points into Runtime::config
  s3::Endpoint endpoint;
  std::unique_ptr<s3::SigV4Signer> signer;
  net::UpstreamTarget target;
  SteadyClock::duration timeout{};  // connect / first byte / idle read
  uint16_t metrics_slot = 0;        // obs::WorkerMetrics::replicas index
  // OPS-1: fed by every attempt's outcome, shared by all workers; nullptr when the bucket has
  // one replica and no s3.circuit_breaker. Carried across reloads while the replica and the
  // settings stay the same.
  std::shared_ptr<resilience::CircuitBreaker> breaker;
};

struct BucketRuntime {
  const config::BucketConfig* cfg = nullptr;  // points into Runtime::config
  std::vector<UpstreamReplica> replicas;      // by priority (OPS-1: tried in this order)
  std::size_t pool_size = 0;
  uint16_t metrics_slot = 0;  // obs::WorkerMetrics::buckets index
  // auth.enabled: the bucket's own auth.jwt, or the global jwt (shared). nullptr: public.
  std::shared_ptr<const auth::Authenticator> auth;
  // `authorization` configured: OPA or OpenFGA, asked after authentication. nullptr: none.
  std::shared_ptr<const authz::Authorizer> authz;
  // s3.retry (OPS-2): nullptr = no retries. The budget is shared by every worker.
  std::shared_ptr<resilience::RetryBudget> retry_budget;
  // s3.rate_limit (OPS-3): nullptr = none.
  std::shared_ptr<resilience::TokenBucket> rate_limit;
  // ip_filter: empty sets = no filter.
  resilience::AddressSet allow, block;
};

struct Runtime {
  config::Config config;
  router::RouteTable routes;
  std::vector<BucketRuntime> buckets;  // same order as config.buckets and route indexes
  // The global jwt (when enabled): buckets without their own auth.jwt, and the admin API's
  // admin_claims check.
  std::shared_ptr<const auth::Authenticator> global_auth;
  // Every authenticator with a JWKS client, named "global" or by bucket (metrics, /ready).
  std::vector<std::pair<std::string, std::shared_ptr<const auth::Authenticator>>> jwks_users;
  // server.rate_limit (OPS-3), when enabled; nullptr = none. Carried across reloads while the
  // settings stay the same.
  std::shared_ptr<resilience::TokenBucket> global_limit;
  std::shared_ptr<resilience::KeyedLimiter> ip_limit;
  resilience::AddressSet trusted_proxies;  // server.trusted_proxies
  // server.tls: the main listener's TLS context (null: plain HTTP). Sessions hold it for their
  // connection's life, so a reload's new certificate serves new connections only (OPS-6).
  std::shared_ptr<boost::asio::ssl::context> server_tls;
};

// Throws std::runtime_error naming the bucket on failure (bad endpoint, unreadable CA file, bad
// key file). On reload, `previous` lends its JWKS key sets to the new clients for the same URL,
// so protected buckets keep their keys while the new clients fetch.
// server.tls: throws "server.tls: ..." naming the file (unreadable, not PEM, key not matching).
std::shared_ptr<const Runtime> build_runtime(config::Config cfg, const Runtime* previous = nullptr);

}  // namespace yg::proxy
