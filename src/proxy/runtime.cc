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
  for (const auto& b : rt->config.buckets) {
    BucketRuntime br;
    br.cfg = &b;
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
      const authz::Authorizer* before = nullptr;
      if (previous != nullptr) {
        for (const auto& pb : previous->buckets) {
          if (pb.cfg->name == b.name && pb.authz) {
            before = pb.authz.get();
          }
        }
      }
      try {
        br.authz = authz::make_authorizer(*b.authorization, before);
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
