// The schema walk for buckets[]: s3 (legacy single backend or replicas[]), auth (+ auth.jwt,
// nested opa/openfga blocks), authorization, cache overrides and ip_filter; plus the jwt
// section shared with the top level.

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include "config/sections.h"
#include "config/validate.h"

namespace yg::config::detail {

void parse_rate_limit_rule(MapReader& m, RateLimitRule& r) {
  m.require("requests_per_second");
  m.get_uint("requests_per_second", r.requests_per_second, 1);
  m.get_uint("burst", r.burst);
}

namespace {

bool get_nonempty(MapReader& m, std::string_view key, std::string& out) {
  if (!m.get_string(key, out)) {
    return false;
  }
  if (out.empty()) {
    m.error_at(key, "must not be empty");
    return false;
  }
  return true;
}

bool is_bucket_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// ---------------------------------------------------------------------------------------------
// s3

void parse_endpoint(MapReader& m, std::string& out) {
  if (m.get_string("endpoint", out)) {
    if (auto err = check_http_url(out)) {
      m.error_at("endpoint", *err);
    }
  }
}

// Keys a replica and the legacy single-backend form share.
void parse_backend_keys(MapReader& m, S3Replica& r) {
  m.require("bucket");
  get_nonempty(m, "bucket", r.bucket);
  get_nonempty(m, "region", r.region);
  parse_endpoint(m, r.endpoint);
  m.require("access_key");
  get_nonempty(m, "access_key", r.access_key);
  m.require("secret_key");
  m.describe("secret_key", "secret", "null");  // read as a string, to refuse an empty one
  std::string secret;
  if (get_nonempty(m, "secret_key", secret)) {
    r.secret_key = Secret(std::move(secret));
  }
  m.get_secret("session_token", r.session_token);
}

constexpr std::array<std::string_view, 6> kLegacyS3Keys = {
    "bucket", "region", "endpoint", "access_key", "secret_key", "session_token"};

void parse_s3(MapReader& m, S3Config& s3, size_t bucket_index) {
  m.get_uint("timeout", s3.timeout_secs, 1);
  m.get_uint("connection_pool_size", s3.connection_pool_size);
  m.get_bool("tls_verify", s3.tls_verify);
  m.get_string("ca_file", s3.ca_file);
  with_section(m, "circuit_breaker", [&](MapReader& cb) {
    CircuitBreakerConfig c;
    cb.get_uint("failure_threshold", c.failure_threshold, 1);
    cb.get_uint("success_threshold", c.success_threshold, 1);
    cb.get_uint("timeout_seconds", c.timeout_seconds, 1, 86400);
    cb.get_uint("half_open_max_requests", c.half_open_max_requests, 1);
    s3.circuit_breaker = c;
  });
  with_section(m, "retry", [&](MapReader& r) {
    RetryConfig c;
    r.get_uint("max_attempts", c.max_attempts, 1, 10);
    r.get_uint("initial_backoff_ms", c.initial_backoff_ms, 1, 600000);
    r.get_uint("max_backoff_ms", c.max_backoff_ms, 1, 600000);
    r.get_uint("budget_percent", c.budget_percent, 0, 100);
    r.get_uint("budget_min_per_second", c.budget_min_per_second, 0, 100000);
    s3.retry = c;
  });
  with_section(m, "rate_limit", [&](MapReader& r) {
    s3.rate_limit.emplace();
    parse_rate_limit_rule(r, *s3.rate_limit);
  });

  std::string legacy_keys;
  for (auto k : kLegacyS3Keys) {
    if (m.contains(k)) {
      legacy_keys += legacy_keys.empty() ? "" : ", ";
      legacy_keys += k;
    }
  }
  if (m.contains("replicas") && !legacy_keys.empty()) {
    // Mark everything known so the one real problem is not buried under "unknown key".
    m.get("replicas");
    for (auto k : kLegacyS3Keys) {
      m.get(k);
    }
    m.error_at("replicas", "cannot be combined with the single-backend keys (" + legacy_keys +
                               ") in one s3 section; use one form");
    return;
  }
  if (m.contains("replicas")) {
    for_each_item(m, "replicas", [&](MapReader& r, size_t) {
      S3Replica rep;
      rep.timeout_secs = s3.timeout_secs;
      if (r.ok()) {
        r.require("name");
        get_nonempty(r, "name", rep.name);
        parse_backend_keys(r, rep);
        r.require("priority");
        r.get_uint("priority", rep.priority, 1, 1000);
        r.get_uint("timeout", rep.timeout_secs, 1);
      }
      s3.replicas.push_back(std::move(rep));
    });
    auto n = m.get("replicas");
    if (!m.ctx().is_broken(m.child_path("replicas")) &&
        (!n || (n->IsSequence() && n->size() == 0))) {
      m.ctx().error(m.key_pos("replicas"), m.child_path("replicas"),
                    "must list at least one replica");
    }
    return;
  }
  if (!legacy_keys.empty()) {
    m.ctx().legacy_s3_buckets.insert(bucket_index);
    S3Replica rep;
    rep.name = "primary";
    rep.priority = 1;
    parse_backend_keys(m, rep);
    rep.timeout_secs = s3.timeout_secs;
    s3.replicas.push_back(std::move(rep));
    return;
  }
  m.ctx().error(m.pos(), m.path(),
                "no S3 backend: set bucket, region, access_key and secret_key, or list replicas");
}

// ---------------------------------------------------------------------------------------------
// jwt

std::optional<ClaimValue> read_claim_scalar(ParseContext& ctx, const YAML::Node& n,
                                            const std::string& path) {
  auto s = read_string(ctx, n, path);
  if (!s) {
    return std::nullopt;
  }
  ClaimValue v;
  v.text = *s;
  v.kind = ClaimValue::Kind::String;
  // A quoted scalar ("5", "true") is always a string; a plain one may be a number or bool.
  if (n.Tag() == "!") {
    return v;
  }
  if (*s == "true" || *s == "false") {
    v.kind = ClaimValue::Kind::Bool;
    v.boolean = *s == "true";
    return v;
  }
  if (!s->empty()) {
    char* end = nullptr;
    const double d = std::strtod(s->c_str(), &end);
    if (end == s->c_str() + s->size() && std::isfinite(d)) {
      v.kind = ClaimValue::Kind::Number;
      v.number = d;
    }
  }
  return v;
}

std::optional<ClaimValue> read_claim_value(ParseContext& ctx, const YAML::Node& n,
                                           const std::string& path) {
  if (n.IsSequence()) {
    ClaimValue list;
    list.kind = ClaimValue::Kind::List;
    size_t i = 0;
    bool ok = true;
    for (auto it = n.begin(); it != n.end(); ++it, ++i) {
      const std::string ip = path + "[" + std::to_string(i) + "]";
      ctx.remember(ip, pos_of(*it));
      if (!it->IsScalar()) {
        ctx.error(pos_of(*it), ip,
                  "expected a single value in the list, got " + std::string(kind_name(*it)));
        ok = false;
        continue;
      }
      if (auto item = read_claim_scalar(ctx, *it, ip)) {
        list.items.push_back(std::move(*item));
      } else {
        ok = false;
      }
    }
    return ok ? std::optional<ClaimValue>(std::move(list)) : std::nullopt;
  }
  if (n.IsScalar()) {
    return read_claim_scalar(ctx, n, path);
  }
  ctx.error(pos_of(n), path,
            "expected a value or a list of values, got " + std::string(kind_name(n)));
  return std::nullopt;
}

void parse_claim(MapReader& r, ClaimRule& rule) {
  // The reference's code reads `claim`; its docs write `name`. Either, not both.
  const bool has_claim = r.contains("claim");
  const bool has_name = r.contains("name");
  if (has_claim && has_name) {
    r.get("name");
    r.error_at("name", "'name' and 'claim' are the same key; give it once");
  }
  const std::string_view key = has_name && !has_claim ? "name" : "claim";
  r.require(key);
  get_nonempty(r, key, rule.claim);
  r.require("operator");
  const bool op_ok = r.get_enum("operator", rule.op,
                                {{"equals", ClaimOperator::Equals},
                                 {"not_equals", ClaimOperator::NotEquals},
                                 {"in", ClaimOperator::In},
                                 {"contains", ClaimOperator::Contains},
                                 {"gt", ClaimOperator::Gt},
                                 {"gte", ClaimOperator::Gte},
                                 {"lt", ClaimOperator::Lt},
                                 {"lte", ClaimOperator::Lte},
                                 {"regex", ClaimOperator::Regex},
                                 {"exists", ClaimOperator::Exists}});
  std::optional<ClaimValue> value;
  if (auto n = r.get("value", "value")) {
    value = read_claim_value(r.ctx(), *n, r.child_path("value"));
    if (value) {
      rule.value = *value;
    }
  }
  if (!op_ok || r.ctx().is_broken(r.child_path("value"))) {
    return;
  }
  const std::string op(to_string(rule.op));
  if (rule.op == ClaimOperator::Exists) {
    if (value) {
      r.error_at("value", "'exists' takes no value");
    }
    return;
  }
  if (!value) {
    r.require("value");
    return;
  }
  using Kind = ClaimValue::Kind;
  switch (rule.op) {
    case ClaimOperator::In:
      if (value->kind != Kind::List) {
        r.error_at("value", "'in' needs a list of values");
      }
      break;
    case ClaimOperator::Gt:
    case ClaimOperator::Gte:
    case ClaimOperator::Lt:
    case ClaimOperator::Lte:
      if (value->kind != Kind::Number) {
        r.error_at("value", "'" + op + "' needs a number");
      }
      break;
    case ClaimOperator::Regex:
      if (value->kind == Kind::List) {
        r.error_at("value", "'regex' needs one pattern");
      } else if (auto err = check_regex(value->text)) {
        r.error_at("value", *err);
      }
      break;
    default:
      if (value->kind == Kind::List) {
        r.error_at("value", "'" + op + "' needs a single value (use 'in' for a list)");
      }
      break;
  }
}

void parse_claims(MapReader& m, std::string_view key, std::vector<ClaimRule>& out) {
  for_each_item(m, key, [&](MapReader& r, size_t) {
    ClaimRule rule;
    if (r.ok()) {
      parse_claim(r, rule);
    }
    out.push_back(std::move(rule));
  });
}

}  // namespace

void parse_jwt(MapReader& m, JwtConfig& j) {
  m.get_bool("enabled", j.enabled);
  if (m.get_string("algorithm", j.algorithm)) {
    if (auto err = check_jwt_algorithm(j.algorithm)) {
      m.error_at("algorithm", *err);
    }
  }
  m.get_secret("secret", j.secret);
  m.get_string("rsa_public_key_path", j.rsa_public_key_path);
  m.get_string("ecdsa_public_key_path", j.ecdsa_public_key_path);
  if (m.get_string("jwks_url", j.jwks_url)) {
    if (auto err = check_http_url(j.jwks_url)) {
      m.error_at("jwks_url", *err);
    }
  }
  m.get_uint("jwks_refresh_interval_secs", j.jwks_refresh_interval_secs, 1);
  m.get_uint("jwks_refetch_min_interval_secs", j.jwks_refetch_min_interval_secs, 1, 86400);
  m.get_uint("leeway_seconds", j.leeway_secs, 0, 86400);
  m.get_string("issuer", j.issuer);
  m.get_string("audience", j.audience);

  if (m.contains("token_sources")) {
    for_each_item(m, "token_sources", [&](MapReader& t, size_t) {
      TokenSource ts;
      if (t.ok()) {
        t.require("type");
        const bool type_ok = t.get_enum("type", ts.type,
                                        {{"bearer", TokenSourceType::Bearer},
                                         {"header", TokenSourceType::Header},
                                         {"query", TokenSourceType::Query}});
        t.get_string("name", ts.name);
        t.get_string("prefix", ts.prefix);
        if (type_ok) {
          if (ts.type != TokenSourceType::Bearer && ts.name.empty() &&
              !t.ctx().is_broken(t.child_path("name"))) {
            t.ctx().error(t.contains("name") ? t.key_pos("name") : t.pos(), t.child_path("name"),
                          "required for a " + std::string(to_string(ts.type)) + " token source");
          }
          if (ts.type == TokenSourceType::Bearer && t.contains("name")) {
            t.error_at("name",
                       "a bearer source always reads the Authorization header; use "
                       "type: header to read another one");
          }
          if (ts.type != TokenSourceType::Header && t.contains("prefix")) {
            t.error_at("prefix", "only used by header token sources");
          }
        }
      }
      j.token_sources.push_back(std::move(ts));
    });
    auto n = m.get("token_sources");
    if (n && n->IsSequence() && n->size() == 0) {
      m.error_at("token_sources",
                 "must list at least one source (or leave the key out for "
                 "the default, bearer)");
    }
  } else {
    j.token_sources.push_back(TokenSource{TokenSourceType::Bearer, "", ""});
  }

  // claims_verification is the spelling of the reference's example config.
  if (m.contains("claims") && m.contains("claims_verification")) {
    m.get("claims_verification");
    m.error_at("claims_verification",
               "'claims' and 'claims_verification' are the same key; "
               "give it once");
  } else if (m.contains("claims_verification")) {
    parse_claims(m, "claims_verification", j.claims);
  }
  parse_claims(m, "claims", j.claims);
  parse_claims(m, "admin_claims", j.admin_claims);

  for_each_item(m, "keys", [&](MapReader& k, size_t) {
    JwtKey key;
    if (k.ok()) {
      k.require("id");
      get_nonempty(k, "id", key.id);
      k.require("algorithm");
      bool alg_ok = false;
      if (k.get_string("algorithm", key.algorithm)) {
        if (auto err = check_jwt_algorithm(key.algorithm)) {
          k.error_at("algorithm", *err);
        } else {
          alg_ok = true;
        }
      }
      k.get_secret("secret", key.secret);
      k.get_string("path", key.path);
      if (alg_ok) {
        if (is_hmac_algorithm(key.algorithm)) {
          if (key.secret.empty()) {
            k.ctx().error(k.pos(), k.child_path("secret"),
                          "required for " + key.algorithm + " keys");
          }
          if (k.contains("path")) {
            k.error_at("path", "HMAC keys use secret, not a key file");
          }
        } else {
          if (key.path.empty()) {
            k.ctx().error(k.pos(), k.child_path("path"),
                          "required for " + key.algorithm + " keys (PEM public key file)");
          }
          if (k.contains("secret")) {
            k.error_at("secret", "only HMAC (HS*) keys use a secret");
          }
        }
      }
    }
    j.keys.push_back(std::move(key));
  });
}

namespace {

// ---------------------------------------------------------------------------------------------
// authorization

// Authorization may be written flat (`authorization: {type, opa_url, ...}`, the reference's
// code), as nested blocks (`authorization.opa: {url, ...}` or `auth.opa: {...}`, its docs), or
// both within one section. All forms fill one draft, resolved once per bucket.
struct AuthzDraft {
  AuthorizationConfig cfg;
  std::optional<AuthorizationType> type;
  std::string type_path;
  std::vector<std::string> opa_keys;  // paths of OPA-only keys given
  std::vector<std::string> fga_keys;  // paths of OpenFGA-only keys given
  bool deny_ttl_given = false;
  std::string deny_ttl_path;
  std::string ttl_path;
};

// Bounds that keep time arithmetic far from overflow (and values sane).
constexpr uint64_t kMaxAuthzTimeoutMs = 600'000;    // 10 minutes
constexpr uint64_t kMaxAuthzTtlSecs = 30 * 86'400;  // 30 days
constexpr std::string_view kUlidChars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

// These values are pasted into request targets: nothing that could end a request line.
bool only_chars(std::string_view s, std::string_view allowed) {
  return s.find_first_not_of(allowed) == std::string_view::npos;
}

FailMode parse_fail_mode(MapReader& m, std::string_view key, FailMode current, bool& given) {
  FailMode f = current;
  given = m.get_enum(key, f, {{"closed", FailMode::Closed}, {"open", FailMode::Open}});
  return f;
}

void parse_opa_keys(MapReader& m, AuthzDraft& d, const std::string& prefix) {
  auto& c = d.cfg;
  auto note = [&](std::string_view key) {
    if (m.contains(key)) {
      d.opa_keys.push_back(m.child_path(key));
    }
  };
  const std::string url = prefix + "url";
  if (m.get_string(url, c.opa_url)) {
    if (auto err = check_http_url(c.opa_url)) {
      m.error_at(url, *err);
    }
  }
  note(url);
  const std::string policy = prefix + "policy_path";
  if (get_nonempty(m, policy, c.opa_policy_path) &&
      !only_chars(c.opa_policy_path,
                  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789_./-")) {
    m.error_at(policy, "may only contain letters, digits, '_', '.', '/' and '-'");
  }
  note(policy);
  const std::string timeout = prefix + "timeout_ms";
  m.get_uint(timeout, c.opa_timeout_ms, 1, kMaxAuthzTimeoutMs);
  note(timeout);
  const std::string headers = prefix + "input_headers";
  if (m.get_string_list(headers, c.opa_input_headers)) {
    for (auto& h : c.opa_input_headers) {
      std::transform(h.begin(), h.end(), h.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (h.empty() || h.find_first_of(" \t:\r\n") != std::string::npos) {
        m.error_at(headers, "'" + h + "' is not a header name");
        break;
      }
      if (h == "authorization" || h == "proxy-authorization" || h == "cookie") {
        m.error_at(headers, "'" + h + "' carries credentials and is never sent to OPA");
        break;
      }
    }
  }
  note(headers);
  const std::string ttl = prefix + "cache_ttl_seconds";
  if (m.get_uint(ttl, c.cache_ttl_seconds, 1, kMaxAuthzTtlSecs)) {
    d.ttl_path = m.child_path(ttl);
  }
  note(ttl);
  const std::string fail = prefix + "fail_mode";
  bool given = false;
  c.fail_mode = parse_fail_mode(m, fail, c.fail_mode, given);
  note(fail);
}

void parse_openfga_keys(MapReader& m, AuthzDraft& d, const std::string& prefix) {
  auto& c = d.cfg;
  auto note = [&](std::string_view key) {
    if (m.contains(key)) {
      d.fga_keys.push_back(m.child_path(key));
    }
  };
  const std::string endpoint = prefix + "endpoint";
  if (m.get_string(endpoint, c.openfga_endpoint)) {
    if (auto err = check_http_url(c.openfga_endpoint)) {
      m.error_at(endpoint, *err);
    }
  }
  note(endpoint);
  const std::string store = prefix + "store_id";
  if (get_nonempty(m, store, c.openfga_store_id) && !only_chars(c.openfga_store_id, kUlidChars)) {
    m.error_at(store, "is not an OpenFGA id (letters and digits, like 01ARZ3NDEKTSV4RRFFQ69G5FAV)");
  }
  note(store);
  const std::string model = prefix + "authorization_model_id";
  if (m.get_string(model, c.openfga_authorization_model_id) &&
      !only_chars(c.openfga_authorization_model_id, kUlidChars)) {
    m.error_at(model, "is not an OpenFGA id (letters and digits)");
  }
  note(model);
  const std::string token = prefix + "api_token";
  m.get_secret(token, c.openfga_api_token);
  note(token);
  const std::string timeout = prefix + "timeout_ms";
  m.get_uint(timeout, c.openfga_timeout_ms, 1, kMaxAuthzTimeoutMs);
  note(timeout);
  const std::string ttl = prefix + "cache_ttl_seconds";
  if (m.get_uint(ttl, c.cache_ttl_seconds, 1, kMaxAuthzTtlSecs)) {
    d.ttl_path = m.child_path(ttl);
  }
  note(ttl);
  const std::string fail = prefix + "fail_mode";
  bool given = false;
  c.fail_mode = parse_fail_mode(m, fail, c.fail_mode, given);
  note(fail);
  const std::string claim = prefix + "user_claim";
  get_nonempty(m, claim, c.openfga_user_claim);
  note(claim);
  const std::string parents = prefix + "parent_tuples";
  m.get_bool(parents, c.openfga_parent_tuples);
  note(parents);
}

// Decision cache settings (AUTHZ-3): `cache:` inside authorization or a nested block.
void parse_authz_cache(MapReader& c, AuthzDraft& d) {
  c.get_bool("enabled", d.cfg.cache_enabled);
  if (c.get_uint("ttl_seconds", d.cfg.cache_ttl_seconds, 1, kMaxAuthzTtlSecs)) {
    d.ttl_path = c.child_path("ttl_seconds");
  }
  if (c.get_uint("negative_ttl_seconds", d.cfg.deny_cache_ttl_seconds, 1, kMaxAuthzTtlSecs)) {
    d.deny_ttl_given = true;
    d.deny_ttl_path = c.child_path("negative_ttl_seconds");
  }
  c.get_uint("max_entries", d.cfg.cache_max_entries, 1, 10'000'000);
}

void parse_nested_blocks(MapReader& m, AuthzDraft& d) {
  with_section(m, "opa", [&](MapReader& o) {
    parse_opa_keys(o, d, "");
    with_section(o, "cache", [&](MapReader& c) { parse_authz_cache(c, d); });
  });
  with_section(m, "openfga", [&](MapReader& o) {
    parse_openfga_keys(o, d, "");
    with_section(o, "cache", [&](MapReader& c) { parse_authz_cache(c, d); });
  });
}

std::optional<AuthorizationConfig> resolve_authz(ParseContext& ctx, AuthzDraft& d,
                                                 const std::string& where, Pos where_pos) {
  if (!d.type) {
    if (!d.opa_keys.empty() && d.fga_keys.empty()) {
      d.type = AuthorizationType::Opa;
    } else if (d.opa_keys.empty() && !d.fga_keys.empty()) {
      d.type = AuthorizationType::OpenFga;
    } else {
      if (!ctx.is_broken(where + ".type")) {
        ctx.error(where_pos, where + ".type", "missing required key (opa or openfga)");
      }
      return std::nullopt;
    }
  }
  const bool opa = *d.type == AuthorizationType::Opa;
  for (const auto& p : opa ? d.fga_keys : d.opa_keys) {
    ctx.error(ctx.position_of(p), p,
              std::string("only used when type is ") + (opa ? "openfga" : "opa") +
                  " (this bucket's type is " + (opa ? "opa" : "openfga") + ")");
  }
  auto need = [&](const std::string& value, std::string_view key) {
    if (value.empty()) {
      const std::string p = where + "." + std::string(key);
      if (!ctx.is_broken(p)) {
        ctx.error(where_pos, p,
                  std::string("missing required key (type is ") + (opa ? "opa" : "openfga") + ")");
      }
    }
  };
  if (opa) {
    need(d.cfg.opa_url, "opa_url");
    need(d.cfg.opa_policy_path, "opa_policy_path");
  } else {
    need(d.cfg.openfga_endpoint, "openfga_endpoint");
    need(d.cfg.openfga_store_id, "openfga_store_id");
  }
  if (d.deny_ttl_given) {
    if (d.cfg.deny_cache_ttl_seconds > d.cfg.cache_ttl_seconds) {
      ctx.error(ctx.position_of(d.deny_ttl_path), d.deny_ttl_path,
                "must not be longer than the allow TTL (" +
                    std::to_string(d.cfg.cache_ttl_seconds) + " s): a deny is cached shorter");
    }
  } else {
    d.cfg.deny_cache_ttl_seconds = std::min<uint64_t>(30, d.cfg.cache_ttl_seconds);
  }
  d.cfg.type = *d.type;
  return d.cfg;
}

// ---------------------------------------------------------------------------------------------
// bucket

void parse_bucket(MapReader& m, BucketConfig& b, size_t index) {
  if (!m.ok()) {
    return;
  }
  ParseContext& ctx = m.ctx();
  m.require("name");
  if (get_nonempty(m, "name", b.name)) {
    for (char ch : b.name) {
      if (!is_bucket_name_char(ch)) {
        m.error_at("name",
                   "may only contain letters, digits, '.', '_' and '-' (it appears in "
                   "metrics, cache keys and admin URLs)");
        break;
      }
    }
  }
  m.require("path_prefix");
  if (m.get_string("path_prefix", b.path_prefix)) {
    if (auto err = check_path_prefix(b.path_prefix)) {
      m.error_at("path_prefix", *err);
    }
  }
  if (m.require("s3")) {
    with_section(m, "s3", [&](MapReader& s) { parse_s3(s, b.s3, index); });
  }

  AuthzDraft draft;
  std::vector<std::string> authz_sources;
  Pos authz_pos;
  with_section(m, "authorization", [&](MapReader& a) {
    authz_sources.push_back(a.path());
    authz_pos = a.pos();
    AuthorizationType t{};
    a.describe("type", "enum", "null");  // inferred from the keys given
    if (a.get_enum("type", t,
                   {{"opa", AuthorizationType::Opa}, {"openfga", AuthorizationType::OpenFga}})) {
      draft.type = t;
      draft.type_path = a.child_path("type");
    }
    parse_opa_keys(a, draft, "opa_");
    parse_openfga_keys(a, draft, "openfga_");
    parse_nested_blocks(a, draft);
    with_section(a, "cache", [&](MapReader& c) { parse_authz_cache(c, draft); });
  });

  std::optional<std::string> provider;
  with_section(m, "auth", [&](MapReader& a) {
    // A present auth section means "protect this bucket" unless it says enabled: false.
    b.auth_enabled = true;
    a.get_bool("enabled", b.auth_enabled);
    with_section(a, "jwt", [&](MapReader& j) {
      b.jwt.emplace();
      parse_jwt(j, *b.jwt);
    });
    std::string p;
    if (a.get_string("provider", p)) {
      if (p != "jwt" && p != "opa" && p != "openfga") {
        a.error_at("provider", "'" + p + "' is not one of: jwt, opa, openfga");
      } else {
        provider = p;
      }
    }
    if (a.contains("opa") || a.contains("openfga")) {
      if (!authz_sources.empty()) {
        for (std::string_view block : {"opa", "openfga"}) {
          if (a.contains(block)) {
            a.get(block);
            ctx.error(a.key_pos(block), a.child_path(block),
                      "authorization is already configured in " + authz_sources.front() +
                          "; configure it once");
          }
        }
      } else {
        const std::string_view block = a.contains("opa") ? "opa" : "openfga";
        authz_sources.push_back(a.child_path(block));
        authz_pos = a.key_pos(block);
        parse_nested_blocks(a, draft);
      }
    }
    if (provider && *provider != "jwt") {
      const auto t = *provider == "opa" ? AuthorizationType::Opa : AuthorizationType::OpenFga;
      if (draft.type && *draft.type != t) {
        a.error_at("provider", "says " + *provider + " but " + draft.type_path + " says " +
                                   std::string(to_string(*draft.type)));
      } else {
        draft.type = t;
        draft.type_path = a.child_path("provider");
        if (authz_sources.empty()) {
          authz_sources.push_back(a.child_path("provider"));
          authz_pos = a.key_pos("provider");
        }
      }
    }
    if (provider && *provider == "jwt" && !authz_sources.empty()) {
      a.error_at("provider",
                 "is jwt, but " + authz_sources.front() + " configures an authorization service");
    }
  });
  if (!authz_sources.empty()) {
    ctx.bucket_authz_paths[index] = authz_sources.front();
    b.authorization = resolve_authz(ctx, draft, authz_sources.front(), authz_pos);
  }

  with_section(m, "cache", [&](MapReader& c) {
    BucketCacheConfig bc;
    // Unset: the global cache settings apply.
    c.describe("enabled", "bool", "null");
    c.describe("ttl_seconds", "uint", "null");
    c.describe("max_item_size_mb", "uint", "null");
    bool enabled = false;
    if (c.get_bool("enabled", enabled)) {
      bc.enabled = enabled;
    }
    uint64_t v = 0;
    if (c.get_uint("ttl_seconds", v, 1)) {
      bc.ttl_seconds = v;
    }
    if (c.get_uint("max_item_size_mb", v, 1)) {
      bc.max_item_size_mb = v;
    }
    b.cache = bc;
  });

  with_section(m, "ip_filter", [&](MapReader& f) {
    for (auto [key, list] : {std::pair{"allowlist", &b.ip_filter.allowlist},
                             std::pair{"blocklist", &b.ip_filter.blocklist}}) {
      std::vector<std::string> entries;
      if (f.get_string_list(key, entries)) {
        bool ok = true;
        for (size_t i = 0; i < entries.size(); ++i) {
          if (auto err = check_ip_or_cidr(entries[i])) {
            const std::string p = f.child_path(key) + "[" + std::to_string(i) + "]";
            ctx.error(ctx.position_of(p), p, *err);
            ok = false;
          }
        }
        if (ok) {
          *list = std::move(entries);
        }
      }
    }
  });

  m.refuse("path", "unknown key (the route prefix is path_prefix)");
  m.refuse("jwt", "per-bucket JWT settings go under auth.jwt");
  m.refuse("watermark", "image watermarking is not supported by this proxy");
}

}  // namespace

void parse_buckets(MapReader& root, Config& c) {
  if (!root.require("buckets")) {
    return;
  }
  for_each_item(root, "buckets", [&](MapReader& m, size_t i) {
    BucketConfig b;
    parse_bucket(m, b, i);
    c.buckets.push_back(std::move(b));
  });
}

}  // namespace yg::config::detail
