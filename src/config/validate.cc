// Configuration rules (checks of one value, rules between values) and the feature gate.

#include "config/validate.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <map>
#include <regex>
#include <set>

namespace yg::config::detail {
namespace {

bool parse_port(std::string_view s, uint16_t& port) {
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v == 0 || v > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(v);
  return true;
}

bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

bool is_hostname(std::string_view h) {
  if (h.empty() || h.size() > 253) {
    return false;
  }
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

std::optional<std::string> check_url(std::string_view url,
                                     std::initializer_list<std::string_view> schemes,
                                     bool allow_userinfo) {
  std::string list;
  for (auto s : schemes) {
    list += list.empty() ? "" : " or ";
    list += std::string(s) + "://";
  }
  auto r = boost::urls::parse_absolute_uri(url);
  if (!r) {
    return "'" + std::string(url) + "' is not a valid URL (expected " + list + "host[:port])";
  }
  const auto& u = *r;
  std::string scheme(u.scheme());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
    return "'" + std::string(url) + "' must start with " + list;
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return "'" + std::string(url) + "' has no host";
  }
  if (u.has_userinfo() && !allow_userinfo) {
    return "'" + std::string(u.encoded_host()) + "' URL must not contain user:password@";
  }
  if (u.has_port()) {
    uint16_t p = 0;
    if (!parse_port(u.port(), p)) {
      return "'" + std::string(url) + "' has an invalid port";
    }
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 13> kJwtAlgorithms = {
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256",
    "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"};

std::string normalized_prefix(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') {
    p.remove_suffix(1);
  }
  return std::string(p);
}

std::string index_path(std::string_view base, size_t i) {
  return std::string(base) + "[" + std::to_string(i) + "]";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Checks of one value

std::optional<std::string> check_http_url(std::string_view url) {
  return check_url(url, {"http", "https"}, false);
}

std::optional<std::string> check_redis_url(std::string_view url) {
  return check_url(url, {"redis", "rediss"}, true);
}

std::optional<std::string> check_path_prefix(std::string_view p) {
  if (p.empty()) {
    return "must not be empty";
  }
  if (p.front() != '/') {
    return "'" + std::string(p) + "' must start with '/'";
  }
  for (char c : p) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '?' || c == '#' || c == '%' || c == '\\') {
      return "'" + std::string(p) +
             "' may not contain spaces, control characters, '?', '#', '%' or '\\'";
    }
  }
  if (p.find("//") != std::string_view::npos) {
    return "'" + std::string(p) + "' must not contain '//'";
  }
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) {
      end = p.size();
    }
    const std::string_view seg = p.substr(start, end - start);
    if (seg == "." || seg == "..") {
      return "'" + std::string(p) + "' must not contain '.' or '..' segments";
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> check_log_level(std::string_view level) {
  for (std::string_view l : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    if (level == l) {
      return std::nullopt;
    }
  }
  return "'" + std::string(level) +
         "' is not one of: trace, debug, info, warn, error, critical, off";
}

std::optional<std::string> check_jwt_algorithm(std::string_view alg) {
  if (std::find(kJwtAlgorithms.begin(), kJwtAlgorithms.end(), alg) != kJwtAlgorithms.end()) {
    return std::nullopt;
  }
  std::string lowered(alg);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lowered == "none") {
    return "'none' (unsigned tokens) is never accepted";
  }
  std::string list;
  for (auto a : kJwtAlgorithms) {
    list += list.empty() ? "" : ", ";
    list += a;
  }
  return "'" + std::string(alg) + "' is not a supported algorithm (one of: " + list + ")";
}

std::optional<std::string> check_regex(std::string_view pattern) {
  // libstdc++'s regex compiler recurses per nesting level; bound the input it sees.
  if (pattern.size() > 1024) {
    return "regular expression is longer than 1024 characters";
  }
  try {
    std::regex re(pattern.begin(), pattern.end(), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return "invalid regular expression '" + std::string(pattern) + "': " + e.what();
  }
  return std::nullopt;
}

std::optional<std::string> check_ip_or_cidr(std::string_view entry) {
  const size_t slash = entry.find('/');
  const std::string addr(entry.substr(0, slash));
  int max_bits = 0;
  if (is_ipv4(addr)) {
    max_bits = 32;
  } else if (is_ipv6(addr)) {
    max_bits = 128;
  } else {
    return "'" + std::string(entry) + "' is not an IP address or CIDR range";
  }
  if (slash != std::string_view::npos) {
    const std::string_view bits = entry.substr(slash + 1);
    int v = -1;
    const auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), v);
    if (bits.empty() || ec != std::errc{} || end != bits.data() + bits.size() || v < 0 ||
        v > max_bits) {
      return "'" + std::string(entry) + "' has an invalid prefix length (0.." +
             std::to_string(max_bits) + ")";
    }
  }
  return std::nullopt;
}

std::optional<std::string> split_listen_address(std::string_view address, std::string& host,
                                                std::optional<uint16_t>& port) {
  port.reset();
  if (address.empty()) {
    return "must not be empty";
  }
  std::string_view port_text;
  bool has_port = false;
  if (address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos) {
      return "'" + std::string(address) + "': missing ']' after the IPv6 address";
    }
    host = std::string(address.substr(1, close - 1));
    if (!is_ipv6(host)) {
      return "'" + host + "' is not an IPv6 address";
    }
    const std::string_view rest = address.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return "'" + std::string(address) + "': expected ':port' after ']'";
      }
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = address.find(':');
    if (colon != std::string_view::npos && address.find(':', colon + 1) != std::string_view::npos) {
      host = std::string(address);
      if (!is_ipv6(host)) {
        return "'" + host + "' is not a valid address";
      }
      return std::nullopt;  // a bare IPv6 address; a port needs the [..]:port form
    }
    host = std::string(address.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = address.substr(colon + 1);
      has_port = true;
    }
    if (!is_ipv4(host) && !is_hostname(host)) {
      return "'" + host + "' is not a valid host name or address";
    }
  }
  if (has_port) {
    uint16_t p = 0;
    if (!parse_port(port_text, p)) {
      return "'" + std::string(port_text) + "' is not a port (1..65535)";
    }
    port = p;
  }
  return std::nullopt;
}

std::optional<std::string> check_host_port(std::string_view host_port) {
  std::string host;
  std::optional<uint16_t> port;
  if (auto err = split_listen_address(host_port, host, port)) {
    return err;
  }
  if (!port) {
    return "'" + std::string(host_port) + "' needs a port (host:port)";
  }
  return std::nullopt;
}

std::optional<TlsVersion> parse_tls_version(std::string_view v) {
  if (v == "1.2" || v == "TLSv1.2") {
    return TlsVersion::V1_2;
  }
  if (v == "1.3" || v == "TLSv1.3") {
    return TlsVersion::V1_3;
  }
  return std::nullopt;
}

std::optional<std::string> check_tls_min_version(std::string_view v) {
  if (parse_tls_version(v)) {
    return std::nullopt;
  }
  if (v == "1.0" || v == "1.1" || v == "1" || v == "TLSv1" || v == "TLSv1.0" || v == "TLSv1.1" ||
      v.starts_with("SSL") || v.starts_with("ssl")) {
    return "'" + std::string(v) +
           "' is refused: TLS 1.0 and 1.1 are deprecated (RFC 8996); use \"1.2\" or \"1.3\"";
  }
  return "'" + std::string(v) + "' is not one of: 1.2, 1.3";
}

namespace {
// OpenSSL cipher strings: names, separators and the operators ! + - @ = (e.g. @SECLEVEL=2).
std::optional<std::string> check_cipher_string(std::string_view list, std::string_view extra,
                                               std::string_view example) {
  if (list.empty()) {
    return "must not be empty (omit the key for the default)";
  }
  for (const char ch : list) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) == 0 && c != '-' && c != '_' && c != ':' &&
        extra.find(ch) == std::string_view::npos) {
      return "'" + std::string(list) + "' is not an OpenSSL cipher list (unexpected '" +
             std::string(1, ch) + "'; expected names separated by ':', e.g. " +
             std::string(example) + ")";
    }
  }
  return std::nullopt;
}
}  // namespace

std::optional<std::string> check_tls_cipher_list(std::string_view list) {
  return check_cipher_string(list, "!+@=., ", "ECDHE-RSA-AES128-GCM-SHA256:!aNULL");
}

std::optional<std::string> check_tls_ciphersuites(std::string_view list) {
  return check_cipher_string(list, "", "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384");
}

bool is_hmac_algorithm(std::string_view alg) {
  return alg.substr(0, 2) == "HS";
}

// ---------------------------------------------------------------------------------------------
// Rules between values

namespace {

void validate_jwt(const JwtConfig& j, const std::string& path, ParseContext& ctx) {
  if (!j.enabled) {
    return;  // a disabled section may be incomplete; its values were still type-checked
  }
  const std::string alg_path = path + ".algorithm";
  if (j.algorithm.empty()) {
    ctx.rule_error(alg_path, "missing required key");
  } else if (!ctx.is_broken(alg_path)) {
    const std::string_view fam = std::string_view(j.algorithm).substr(0, 2);
    const bool has_keys = !j.keys.empty();
    const bool has_jwks = !j.jwks_url.empty();
    if (fam == "HS") {
      if (j.secret.empty() && !has_keys) {
        ctx.rule_error(path + ".secret", "required for " + j.algorithm + " (or list keys)");
      }
    } else if (fam == "RS" || fam == "PS") {
      if (j.rsa_public_key_path.empty() && !has_keys && !has_jwks) {
        ctx.rule_error(path + ".rsa_public_key_path",
                       "required for " + j.algorithm + " (or set jwks_url or keys)");
      }
    } else if (fam == "ES") {
      if (j.ecdsa_public_key_path.empty() && !has_keys && !has_jwks) {
        ctx.rule_error(path + ".ecdsa_public_key_path",
                       "required for " + j.algorithm + " (or set jwks_url or keys)");
      }
    } else if (!has_keys && !has_jwks) {
      ctx.rule_error(path + ".jwks_url", "EdDSA needs jwks_url or keys");
    }
    if (!j.secret.empty() && fam != "HS") {
      ctx.rule_error(path + ".secret",
                     "only used with HS256/HS384/HS512 (algorithm is " + j.algorithm + ")");
    }
    if (!j.rsa_public_key_path.empty() && fam != "RS" && fam != "PS") {
      ctx.rule_error(path + ".rsa_public_key_path",
                     "only used with RS*/PS* algorithms (algorithm is " + j.algorithm + ")");
    }
    if (!j.ecdsa_public_key_path.empty() && fam != "ES") {
      ctx.rule_error(path + ".ecdsa_public_key_path",
                     "only used with ES* algorithms (algorithm is " + j.algorithm + ")");
    }
  }
  std::map<std::string, size_t> ids;
  for (size_t i = 0; i < j.keys.size(); ++i) {
    if (j.keys[i].id.empty()) {
      continue;
    }
    if (auto [it, inserted] = ids.emplace(j.keys[i].id, i); !inserted) {
      ctx.rule_error(index_path(path + ".keys", i) + ".id",
                     "duplicate key id '" + j.keys[i].id + "' (also " +
                         index_path(path + ".keys", it->second) + ")");
    }
  }
}

void validate_bucket(const Config& c, size_t i, ParseContext& ctx) {
  const BucketConfig& b = c.buckets[i];
  const std::string base = index_path("buckets", i);
  const bool legacy = ctx.legacy_s3_buckets.count(i) != 0;
  if (!legacy) {
    std::map<std::string, size_t> names;
    std::map<unsigned, size_t> priorities;
    for (size_t r = 0; r < b.s3.replicas.size(); ++r) {
      const S3Replica& rep = b.s3.replicas[r];
      const std::string rp = index_path(base + ".s3.replicas", r);
      if (!rep.name.empty()) {
        if (auto [it, ins] = names.emplace(rep.name, r); !ins) {
          ctx.rule_error(rp + ".name", "duplicate replica name '" + rep.name + "' (also " +
                                           index_path(base + ".s3.replicas", it->second) + ")");
        }
      }
      if (auto [it, ins] = priorities.emplace(rep.priority, r); !ins) {
        ctx.rule_error(rp + ".priority", "duplicate priority " + std::to_string(rep.priority) +
                                             " (also " +
                                             index_path(base + ".s3.replicas", it->second) + ")");
      }
    }
  }
  if (b.s3.retry && b.s3.retry->initial_backoff_ms > b.s3.retry->max_backoff_ms) {
    ctx.rule_error(base + ".s3.retry.initial_backoff_ms",
                   "must not be larger than max_backoff_ms (" +
                       std::to_string(b.s3.retry->max_backoff_ms) + ")");
  }
  const bool bucket_jwt = b.jwt && b.jwt->enabled;
  const bool global_jwt = c.jwt && c.jwt->enabled;
  if (b.auth_enabled && !bucket_jwt && !global_jwt) {
    ctx.rule_error(base + ".auth.enabled",
                   "auth is enabled but no JWT configuration applies (add a top-level jwt "
                   "section or auth.jwt); a protected bucket is never served publicly");
  }
  if (b.authorization && b.authorization->type == AuthorizationType::OpenFga && !b.auth_enabled) {
    const auto it = ctx.bucket_authz_paths.find(i);
    ctx.rule_error(it != ctx.bucket_authz_paths.end() ? it->second : base + ".authorization",
                   "OpenFGA needs the caller's identity from a JWT: set auth.enabled: true");
  }
  if (b.authorization && b.auth_enabled && (bucket_jwt || global_jwt)) {
    // The token's own header is a credential too: OPA never sees it.
    const auto& jwt = bucket_jwt ? *b.jwt : *c.jwt;
    // Where the list was written: flat, in an `opa:` block, or as `auth.opa`.
    const auto it = ctx.bucket_authz_paths.find(i);
    const std::string at =
        it != ctx.bucket_authz_paths.end() ? it->second : base + ".authorization";
    std::string where = at + ".opa_input_headers";
    for (const std::string& p : {at + ".opa.input_headers", at + ".input_headers"}) {
      if (ctx.has_position(p)) {
        where = p;
      }
    }
    for (const auto& h : b.authorization->opa_input_headers) {
      for (const auto& src : jwt.token_sources) {
        if (src.type == TokenSourceType::Header && boost::algorithm::iequals(src.name, h)) {
          ctx.rule_error(where, "'" + h + "' carries this bucket's token and is never sent to OPA");
        }
      }
    }
  }
  if (b.jwt) {
    validate_jwt(*b.jwt, base + ".auth.jwt", ctx);
  }
}

void validate_cache(const CacheConfig& c, ParseContext& ctx) {
  if (c.memory.max_item_size_mb > c.memory.max_cache_size_mb) {
    ctx.rule_error("cache.memory.max_item_size_mb", "must not be larger than max_cache_size_mb (" +
                                                        std::to_string(c.memory.max_cache_size_mb) +
                                                        ")");
  }
  if (c.enabled && c.cache_layers.empty()) {
    ctx.rule_error("cache.cache_layers", "must list at least one layer when the cache is enabled");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < c.cache_layers.size(); ++i) {
    const std::string& l = c.cache_layers[i];
    const std::string p = index_path("cache.cache_layers", i);
    if (!seen.insert(l).second) {
      ctx.rule_error(p, "layer '" + l + "' is listed twice");
    } else if (l == "disk" && !c.disk.enabled) {
      ctx.rule_error(p, "the disk layer needs cache.disk.enabled: true");
    } else if (l == "redis" && !c.redis.enabled) {
      ctx.rule_error(p, "the redis layer needs cache.redis.enabled: true");
    }
  }
  if (c.redis.enabled && c.redis.redis_url.empty() && c.redis.cluster.empty()) {
    ctx.rule_error("cache.redis.redis_url", "required when redis is enabled (or cluster)");
  }
  if (c.redis.enabled && !c.redis.cluster.empty() && c.redis.redis_db != 0) {
    ctx.rule_error("cache.redis.redis_db", "a Redis Cluster has only database 0");
  }
  if (c.disk.enabled && c.disk.cache_dir.empty()) {
    ctx.rule_error("cache.disk.cache_dir", "required when the disk cache is enabled");
  }
}

void validate_audit(const AuditLogConfig& a, ParseContext& ctx) {
  std::set<AuditOutput> seen;
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    if (!seen.insert(a.outputs[i]).second) {
      ctx.rule_error(index_path("audit_log.outputs", i),
                     "output '" + std::string(to_string(a.outputs[i])) + "' is listed twice");
    }
  }
  if (!a.enabled) {
    return;
  }
  if (a.outputs.empty() && !ctx.is_broken("audit_log.outputs")) {
    ctx.rule_error("audit_log.outputs", "must list at least one output when audit_log is enabled");
  }
  if (seen.count(AuditOutput::File) != 0 && !a.file) {
    ctx.rule_error("audit_log.file", "required by the file output");
  }
  if (seen.count(AuditOutput::Syslog) != 0 && !a.syslog) {
    ctx.rule_error("audit_log.syslog", "required by the syslog output");
  }
}

void validate_tracing(const TracingConfig& t, ParseContext& ctx) {
  if (!t.enabled) {
    return;
  }
  const std::string* endpoint = nullptr;
  if (t.exporter == "otlp") {
    endpoint = &t.otlp_endpoint;
  } else if (t.exporter == "jaeger") {
    endpoint = &t.jaeger_endpoint;
  } else if (t.exporter == "zipkin") {
    endpoint = &t.zipkin_endpoint;
  }
  if (endpoint != nullptr && endpoint->empty()) {
    ctx.rule_error("observability.tracing." + t.exporter + "_endpoint",
                   "required by the " + t.exporter + " exporter");
  }
}

}  // namespace

void validate_config(const Config& c, ParseContext& ctx) {
  if (c.buckets.empty()) {
    ctx.rule_error("buckets", "at least one bucket is required");
  }
  std::map<std::string, size_t> names;
  std::map<std::string, size_t> prefixes;
  for (size_t i = 0; i < c.buckets.size(); ++i) {
    const BucketConfig& b = c.buckets[i];
    const std::string base = index_path("buckets", i);
    if (b.name == "_none" || b.name == "_other") {
      // Metric label values the proxy itself uses (docs/METRICS.md).
      ctx.rule_error(base + ".name", "'" + b.name + "' is reserved (a metrics label)");
    } else if (!b.name.empty()) {
      if (auto [it, ins] = names.emplace(b.name, i); !ins) {
        ctx.rule_error(base + ".name", "duplicate bucket name '" + b.name + "' (also " +
                                           index_path("buckets", it->second) + ")");
      }
    }
    if (!b.path_prefix.empty() && !ctx.is_broken(base + ".path_prefix")) {
      const std::string norm = normalized_prefix(b.path_prefix);
      if (norm == "/admin" || norm.rfind("/admin/", 0) == 0) {
        // The admin API (dashboard, stats) answers everything under /admin before routing.
        ctx.rule_error(base + ".path_prefix", "'" + norm + "' is reserved for the admin API");
      }
      if (auto [it, ins] = prefixes.emplace(norm, i); !ins) {
        ctx.rule_error(base + ".path_prefix", "duplicate path_prefix '" + norm + "' (also " +
                                                  index_path("buckets", it->second) + ")");
      }
    }
    validate_bucket(c, i, ctx);
  }
  if (c.jwt) {
    validate_jwt(*c.jwt, "jwt", ctx);
  }
  validate_cache(c.cache, ctx);
  for (size_t i = 0; i < c.buckets.size(); ++i) {
    const auto& bc = c.buckets[i].cache;
    if (!bc) {
      continue;
    }
    const std::string base = index_path("buckets", i) + ".cache";
    if (bc->enabled.value_or(false) && !c.cache.enabled) {
      ctx.rule_error(base + ".enabled", "needs the global cache.enabled: true (the layers)");
    }
    if (bc->max_item_size_mb && *bc->max_item_size_mb > c.cache.memory.max_item_size_mb) {
      ctx.rule_error(base + ".max_item_size_mb",
                     "must not exceed cache.memory.max_item_size_mb (" +
                         std::to_string(c.cache.memory.max_item_size_mb) +
                         "), the limit of every layer");
    }
  }
  validate_audit(c.audit_log, ctx);
  validate_tracing(c.observability.tracing, ctx);
  if (c.metrics_port != 0 && c.metrics_port == c.server.port) {
    ctx.rule_error("metrics.port",
                   "must differ from server.port (" + std::to_string(c.server.port) + ")");
  }
}

// ---------------------------------------------------------------------------------------------
// The feature gate

namespace {

using Paths = std::vector<std::string>;

struct GateRow {
  int issue;
  std::string_view feature;
  void (*enabled_at)(const Config&, const ParseContext&, Paths&);
};

// One row per feature this build parses but does not run yet. The issue that implements a
// feature deletes its row (and nothing else). Issue 0: not planned in any open issue.
const GateRow kUnavailable[] = {
    {0, "Trace export (OTLP/Jaeger/Zipkin)",
     [](const Config& c, const ParseContext&, Paths& out) {
       if (c.observability.tracing.enabled) {
         out.push_back("observability.tracing.enabled");
       }
     }},
    {0, "Request/response header and body logging",
     [](const Config& c, const ParseContext&, Paths& out) {
       const auto& r = c.observability.request_logging;
       if (r.log_requests || r.log_responses) {
         out.push_back("observability.request_logging");
       }
     }},
};

}  // namespace

void gate_unavailable_features(const Config& c, ParseContext& ctx) {
  for (const GateRow& row : kUnavailable) {
    Paths paths;
    row.enabled_at(c, ctx, paths);
    for (const auto& p : paths) {
      ctx.rule_error(p, row.issue == 0
                            ? std::string(row.feature) + " is not supported by this build"
                            : std::string(row.feature) +
                                  " is not available yet in this build (issue #" +
                                  std::to_string(row.issue) + ")");
    }
  }
}

}  // namespace yg::config::detail
