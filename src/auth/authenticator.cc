#include "auth/authenticator.h"

#include <strings.h>
#include <algorithm>
#include <stdexcept>

namespace yg::auth {
namespace {

// At most this many keys are tried for a token without a kid (DoS bound).
constexpr std::size_t kMaxKeysTried = 8;

Key load_key(Alg alg, const std::string& path, const std::string& kid, const std::string& where) {
  auto loaded = Key::from_pem_file(path, alg, kid);
  if (!loaded.key) {
    throw std::runtime_error(where + ": " + loaded.error);
  }
  return *loaded.key;
}

Alg alg_or_throw(const std::string& name, const std::string& where) {
  auto a = alg_from_string(name);
  if (!a) {
    throw std::runtime_error(where + ": unsupported algorithm '" + name + "'");
  }
  return *a;
}

}  // namespace

std::optional<Token> find_token(const std::vector<config::TokenSource>& sources,
                                const RequestView& req) {
  for (const auto& s : sources) {
    switch (s.type) {
      case config::TokenSourceType::Bearer: {
        std::string_view v = req.authorization;
        if (v.size() > 7 && strncasecmp(v.data(), "bearer ", 7) == 0) {
          v.remove_prefix(7);
          while (!v.empty() && v.front() == ' ') {
            v.remove_prefix(1);
          }
          if (!v.empty()) {
            return Token{v, s.type};
          }
        }
        break;
      }
      case config::TokenSourceType::Header: {
        std::string_view v = req.header ? req.header(s.name) : std::string_view{};
        if (!s.prefix.empty()) {
          if (v.size() <= s.prefix.size() ||
              strncasecmp(v.data(), s.prefix.data(), s.prefix.size()) != 0) {
            break;
          }
          v.remove_prefix(s.prefix.size());
        }
        if (!v.empty()) {
          return Token{v, s.type};
        }
        break;
      }
      case config::TokenSourceType::Query:
        if (req.query != nullptr) {
          for (const auto& [k, val] : *req.query) {
            if (k == s.name && !val.empty()) {
              return Token{val, s.type};
            }
          }
        }
        break;
    }
  }
  return std::nullopt;
}

Authenticator::Authenticator(const config::JwtConfig& cfg,
                             std::shared_ptr<const std::vector<Key>> jwks_seed)
    : sources_(cfg.token_sources),
      claims_(cfg.claims),
      admin_claims_(cfg.admin_claims),
      leeway_(cfg.leeway_secs),
      issuer_(cfg.issuer),
      audience_(cfg.audience) {
  if (sources_.empty()) {
    sources_.push_back(config::TokenSource{});  // bearer
  }
  if (!claims_.error().empty()) {
    throw std::runtime_error("jwt." + claims_.error());
  }
  if (!admin_claims_.error().empty()) {
    throw std::runtime_error("jwt.admin_" + admin_claims_.error());
  }
  const Alg alg = alg_or_throw(cfg.algorithm, "jwt.algorithm");
  allowed_.push_back(alg);
  if (!cfg.secret.empty()) {
    keys_.push_back(Key::hmac(cfg.secret, alg));
  }
  if (!cfg.rsa_public_key_path.empty()) {
    keys_.push_back(load_key(alg, cfg.rsa_public_key_path, "", "jwt.rsa_public_key_path"));
  }
  if (!cfg.ecdsa_public_key_path.empty()) {
    keys_.push_back(load_key(alg, cfg.ecdsa_public_key_path, "", "jwt.ecdsa_public_key_path"));
  }
  for (std::size_t i = 0; i < cfg.keys.size(); ++i) {
    const auto& k = cfg.keys[i];
    const std::string where = "jwt.keys[" + std::to_string(i) + "]";
    const Alg ka = k.algorithm.empty() ? alg : alg_or_throw(k.algorithm, where + ".algorithm");
    if (std::find(allowed_.begin(), allowed_.end(), ka) == allowed_.end()) {
      allowed_.push_back(ka);
    }
    if (!k.secret.empty()) {
      keys_.push_back(Key::hmac(k.secret, ka, k.id));
    } else {
      keys_.push_back(load_key(ka, k.path, k.id, where + ".path"));
    }
  }
  if (!cfg.jwks_url.empty()) {
    try {
      jwks_ = std::make_shared<JwksClient>(
          cfg.jwks_url, std::chrono::seconds(cfg.jwks_refresh_interval_secs),
          std::chrono::seconds(cfg.jwks_refetch_min_interval_secs), std::move(jwks_seed));
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string("jwt.jwks_url: ") + e.what());
    }
  }
}

AuthResult Authenticator::check(std::string_view token, int64_t now, bool admin) const {
  AuthResult r;
  r.outcome = Outcome::Invalid;
  auto d = decode(token);
  if (!d.token) {
    r.error = d.error;
    return r;
  }
  const DecodedToken& t = *d.token;
  if (std::find(allowed_.begin(), allowed_.end(), t.alg) == allowed_.end()) {
    r.error = JwtError::AlgNotAllowed;
    return r;
  }
  // Candidate keys: with a kid, the keys carrying that id; without, keys without an id (and
  // JWKS keys), bounded. Only keys whose type fits the token's algorithm.
  const auto jwks_keys = jwks_ ? jwks_->keys() : nullptr;
  bool any_candidate = false;
  bool verified = false;
  std::size_t tried = 0;
  auto try_keys = [&](const std::vector<Key>& keys, bool from_jwks) {
    for (const auto& k : keys) {
      if (verified || tried >= kMaxKeysTried) {
        return;
      }
      const bool id_ok = t.kid.empty() ? (from_jwks || k.kid().empty()) : k.kid() == t.kid;
      if (!id_ok || !k.allows(t.alg)) {
        continue;
      }
      any_candidate = true;
      ++tried;
      verified = k.verify(t);
    }
  };
  try_keys(keys_, false);
  if (jwks_keys) {
    try_keys(*jwks_keys, true);
  }
  if (!any_candidate && !t.kid.empty() && jwks_) {
    jwks_->unknown_kid();  // rotation: the set may have a new key (rate-limited)
  }
  if (!any_candidate && !t.kid.empty()) {
    // A kid no configured key carries: the configured default key (secret / PEM file, no id)
    // still applies, as issuers often set a kid the operator never configured.
    for (const auto& k : keys_) {
      if (verified || tried >= kMaxKeysTried) {
        break;
      }
      if (k.kid().empty() && k.allows(t.alg)) {
        any_candidate = true;
        ++tried;
        verified = k.verify(t);
      }
    }
  }
  if (!any_candidate) {
    r.error = JwtError::UnknownKid;
    return r;
  }
  if (!verified) {
    r.error = JwtError::BadSignature;
    return r;
  }
  RegisteredClaimPolicy p;
  p.now = now;
  p.leeway = leeway_;
  p.issuer = issuer_;
  p.audience = audience_;
  if (auto e = check_registered(t.claims, p)) {
    r.error = *e;
    return r;
  }
  auto claims = std::make_shared<const boost::json::object>(std::move(d.token->claims));
  // The admin API needs admin_claims: a configuration without them grants it to no token.
  if (admin ? (admin_claims_.empty() || !admin_claims_.match(*claims)) : !claims_.match(*claims)) {
    r.outcome = Outcome::Forbidden;
    return r;
  }
  r.outcome = Outcome::Allowed;
  if (auto it = claims->find("sub"); it != claims->end() && it->value().is_string()) {
    r.subject = std::string(it->value().as_string());
  }
  r.claims = std::move(claims);
  return r;
}

}  // namespace yg::auth
