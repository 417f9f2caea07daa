#pragma once
// The authentication step (FEATURES.md AUTH-1..6): find the token, verify it with the keys the
// configuration allows, check the registered claims and the claim rules. One Authenticator per
// effective JWT configuration (a bucket's own auth.jwt, or the global jwt), built with the
// runtime snapshot: key files are read and the JWKS client started there, never per request.

#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/claims.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "config/config.h"

namespace yg::auth {

// Request accessors the token sources need (the proxy's head and decoded query).
struct RequestView {
  std::string_view authorization;                                           // Authorization header
  std::function<std::string_view(std::string_view)> header;                 // any header by name
  const std::vector<std::pair<std::string, std::string>>* query = nullptr;  // decoded
};

struct Token {
  std::string_view value;
  config::TokenSourceType source;
};
// AUTH-1: the sources in order; the first token found is the one judged. `bearer` takes
// "Authorization: Bearer <t>" (scheme case-insensitive); `header` the named header, minus its
// prefix when one is configured (a value without the prefix is no token); `query` the named
// parameter.
std::optional<Token> find_token(const std::vector<config::TokenSource>& sources,
                                const RequestView& req);

enum class Outcome : uint8_t {
  Allowed,
  Missing,    // no token: 401, WWW-Authenticate: Bearer
  Invalid,    // 401, WWW-Authenticate: Bearer error="invalid_token"
  Forbidden,  // a claim rule failed: 403
};

struct AuthResult {
  Outcome outcome = Outcome::Missing;
  JwtError error = JwtError::Malformed;               // for Invalid
  std::shared_ptr<const boost::json::object> claims;  // for Allowed (OPA input, audit user)
  std::string subject;                                // "sub" when a string
};

class Authenticator {
 public:
  // Throws std::runtime_error naming what failed (unreadable key file, wrong key type, bad
  // regex in a rule) for build_runtime to report.
  // `jwks_seed`: keys of the previous snapshot's client for the same jwks_url (reload).
  explicit Authenticator(const config::JwtConfig& cfg,
                         std::shared_ptr<const std::vector<Key>> jwks_seed = nullptr);

  // Verifies `token` and checks time claims, issuer/audience and `claims` (or `admin_claims`
  // when `admin`). `now` in Unix seconds.
  AuthResult check(std::string_view token, int64_t now, bool admin = false) const;

  const std::vector<config::TokenSource>& sources() const noexcept { return sources_; }
  // nullptr without jwks_url.
  const JwksClient* jwks() const noexcept { return jwks_.get(); }

 private:
  std::vector<config::TokenSource> sources_;
  std::vector<Alg> allowed_;
  std::vector<Key> keys_;  // static: secret, PEM files, keys[]
  std::shared_ptr<JwksClient> jwks_;
  ClaimRules claims_, admin_claims_;
  uint64_t leeway_;
  std::string issuer_, audience_;
};

}  // namespace yg::auth
