#pragma once
// The configuration schema: plain structs with defaults, in the Rust Yatagarasu's YAML shape
// (FEATURES.md CONF-1). Parsing lives in loader.cc, rules in validate.cc; these structs are
// what the rest of the proxy reads. Every accepted key does something or fails loading with
// "feature not available yet" (see docs/configuration.md). Defaults follow the reference's
// src/constants.rs unless a comment says otherwise.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.h"

namespace yg::config {

// ---------------------------------------------------------------------------------------------
// Server

struct SecurityLimits {
  uint64_t max_body_size = 10 * 1024 * 1024;  // bytes; Content-Length above -> 413
  uint64_t max_header_size = 64 * 1024;       // bytes; request head above -> 431
  uint64_t max_uri_length = 8 * 1024;         // bytes; request target above -> 414
  bool block_sql_injection = true;            // ROUTE-3
};

// server.tls (OPS-6, docs/TLS.md). The files are read when the runtime is built (start,
// reload, --test), not by the config module.
inline constexpr std::string_view kDefaultTlsCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// OpenSSL 3's own TLS 1.3 default, spelled out so the config dump shows what is in force.
inline constexpr std::string_view kDefaultTlsCiphersuites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

enum class TlsVersion : uint8_t { V1_2, V1_3 };

struct TlsConfig {
  std::string cert_path;                      // PEM: the certificate, then any intermediates
  std::string key_path;                       // PEM, unencrypted
  TlsVersion min_version = TlsVersion::V1_2;  // extension
  std::string ciphers = std::string(kDefaultTlsCiphers);  // extension: TLS 1.2 cipher list
  std::string ciphersuites = std::string(kDefaultTlsCiphersuites);  // extension: TLS 1.3
};

// One token bucket (OPS-3). burst 0 = same as requests_per_second.
struct RateLimitRule {
  uint32_t requests_per_second = 0;
  uint32_t burst = 0;  // extension
};

// server.rate_limit: global and per client IP (OPS-3).
struct ServerRateLimitConfig {
  bool enabled = false;
  std::optional<RateLimitRule> global;
  std::optional<RateLimitRule> per_ip;
  // Extension: per-IP buckets kept at most (memory bound; idle ones are forgotten first).
  uint64_t max_tracked_ips = 100000;
};

struct ServerConfig {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;
  unsigned threads = 0;                    // 0 = number of cores
  uint64_t request_timeout_secs = 30;      // total budget of one request
  uint64_t header_read_timeout_secs = 10;  // extension: time to receive a request head
  uint64_t keepalive_timeout_secs = 60;    // extension: idle keep-alive connection lifetime
  uint64_t max_concurrent_requests = 1000;
  bool coalescing = true;  // extension (CACHE-7): one S3 fetch per key for concurrent misses
  SecurityLimits security_limits;
  std::optional<TlsConfig> tls;
  std::optional<ServerRateLimitConfig> rate_limit;
  // Extension: peers (addresses / CIDR ranges) whose X-Forwarded-For names the client (OPS-3).
  std::vector<std::string> trusted_proxies;
};

// ---------------------------------------------------------------------------------------------
// S3 backends and resilience

struct CircuitBreakerConfig {
  uint32_t failure_threshold = 5;       // consecutive failures that open the circuit
  uint32_t success_threshold = 2;       // successes in half-open that close it
  uint64_t timeout_seconds = 60;        // open -> half-open after this long
  uint32_t half_open_max_requests = 3;  // concurrent probes while half-open
};

struct RetryConfig {
  uint32_t max_attempts = 3;  // including the first attempt
  uint64_t initial_backoff_ms = 100;
  uint64_t max_backoff_ms = 1000;
  // Extension: retries add at most budget_percent % to a bucket's requests (over the last
  // second or two), plus budget_min_per_second (OPS-2).
  uint32_t budget_percent = 20;
  uint32_t budget_min_per_second = 10;
};

struct S3Replica {
  std::string name;
  std::string bucket;
  std::string region = "us-east-1";
  std::string endpoint;  // empty = AWS (virtual-hosted); else path-style
  std::string access_key;
  Secret secret_key;
  Secret session_token;  // extension: x-amz-security-token
  unsigned priority = 1;
  uint64_t timeout_secs = 20;
};

struct S3Config {
  // Sorted by priority (1 = first). Legacy single-backend fields become replicas[0]
  // (name "primary", priority 1).
  std::vector<S3Replica> replicas;
  uint64_t timeout_secs = 20;          // connect / first byte / idle read
  uint64_t connection_pool_size = 50;  // idle keep-alive connections kept per worker and host
  bool tls_verify = true;              // extension: verify the upstream's certificate
  std::string ca_file;                 // extension: extra CA bundle for upstream TLS
  std::optional<CircuitBreakerConfig> circuit_breaker;
  std::optional<RetryConfig> retry;
  std::optional<RateLimitRule> rate_limit;  // per bucket
};

// ---------------------------------------------------------------------------------------------
// Authentication (JWT)

enum class TokenSourceType : uint8_t { Bearer, Header, Query };

struct TokenSource {
  TokenSourceType type = TokenSourceType::Bearer;
  std::string name;    // header or query parameter name (Header, Query)
  std::string prefix;  // optional value prefix to strip, e.g. "Bearer " (Header)
};

enum class ClaimOperator : uint8_t {
  Equals,
  NotEquals,
  In,
  Contains,
  Gt,
  Gte,
  Lt,
  Lte,
  Regex,
  Exists,
};

// A claim rule's `value`, as written in YAML. Scalars keep their text; a plain (unquoted)
// scalar that reads as a number or boolean also has that kind.
struct ClaimValue {
  enum class Kind : uint8_t { None, String, Number, Bool, List };
  Kind kind = Kind::None;
  std::string text;               // String, Number, Bool: the scalar as written
  double number = 0;              // Number
  bool boolean = false;           // Bool
  std::vector<ClaimValue> items;  // List (scalars only)
};

struct ClaimRule {
  std::string claim;  // dot path into the claims, e.g. "user.department"
  ClaimOperator op = ClaimOperator::Equals;
  ClaimValue value;
};

struct JwtKey {
  std::string id;  // matched against the token's kid
  std::string algorithm;
  Secret secret;     // HS*
  std::string path;  // PEM public key file (RS*, PS*, ES*, EdDSA)
};

struct JwtConfig {
  bool enabled = true;  // a present section is on unless it says enabled: false
  std::string algorithm;
  Secret secret;
  std::string rsa_public_key_path;
  std::string ecdsa_public_key_path;
  std::vector<TokenSource> token_sources;  // empty in YAML -> [bearer]
  std::vector<ClaimRule> claims;
  std::vector<ClaimRule> admin_claims;
  std::vector<JwtKey> keys;
  std::string jwks_url;
  uint64_t jwks_refresh_interval_secs = 3600;
  uint64_t jwks_refetch_min_interval_secs = 30;  // extension (AUTH-3): unknown-kid refetch bound
  uint64_t leeway_secs = 60;  // extension (AUTH-4): allowed clock skew for exp/nbf
  std::string issuer;         // extension (AUTH-4): checked when set
  std::string audience;       // extension (AUTH-4): checked when set
};

// ---------------------------------------------------------------------------------------------
// Authorization (OPA / OpenFGA)

enum class AuthorizationType : uint8_t { Opa, OpenFga };
enum class FailMode : uint8_t { Closed, Open };

struct AuthorizationConfig {
  AuthorizationType type = AuthorizationType::Opa;
  // OPA
  std::string opa_url;
  std::string opa_policy_path;
  uint64_t opa_timeout_ms = 100;
  // Extension (AUTHZ-1): request headers the policy sees as input.headers, lower-case. Empty by
  // default; credentials (authorization, cookie, the token's header) are refused at load.
  std::vector<std::string> opa_input_headers;
  // OpenFGA
  std::string openfga_endpoint;
  std::string openfga_store_id;
  std::string openfga_authorization_model_id;
  Secret openfga_api_token;
  uint64_t openfga_timeout_ms = 100;
  std::string openfga_user_claim = "sub";
  // Extension (AUTHZ-2): send the object's parent chain (folders up to the bucket) as
  // contextual `parent` tuples. Off: the operator's model has no `parent` relation, or the
  // operator writes parent tuples into the store.
  bool openfga_parent_tuples = true;
  // Both: decision cache (AUTHZ-3) and failure behaviour (AUTHZ-4).
  uint64_t cache_ttl_seconds = 60;       // allow decisions
  uint64_t deny_cache_ttl_seconds = 30;  // deny decisions; never above cache_ttl_seconds
  uint64_t cache_max_entries = 10000;
  bool cache_enabled = true;
  FailMode fail_mode = FailMode::Closed;
};

// ---------------------------------------------------------------------------------------------
// Cache

struct MemoryCacheConfig {
  uint64_t max_item_size_mb = 10;
  uint64_t max_cache_size_mb = 1024;
  uint64_t default_ttl_seconds = 3600;
};

struct SendfileConfig {
  bool enabled = true;
  uint64_t threshold_bytes = 64 * 1024;
};

struct DiskCacheConfig {
  bool enabled = false;
  std::string cache_dir = "/var/cache/yatagarasu";
  uint64_t max_disk_cache_size_mb = 10240;
  bool fsync = false;  // extension: fdatasync each entry file and its directory before use
  SendfileConfig sendfile;
};

struct RedisCacheConfig {
  bool enabled = false;
  std::string redis_url;  // redis:// or rediss://
  Secret redis_password;
  uint32_t redis_db = 0;
  std::string redis_key_prefix = "yatagarasu:";
  uint64_t redis_ttl_seconds = 3600;
  // Extensions (docs/REDIS.md).
  std::string redis_username;  // ACL user; else the URL's user, else none
  uint64_t pool_size = 2;      // connections per worker per Redis node
  uint64_t connect_timeout_ms = 1000;
  uint64_t command_timeout_ms = 250;
  uint64_t max_value_size_mb = 64;   // larger objects are not stored in Redis
  std::vector<std::string> cluster;  // "host:port" seed nodes: Redis Cluster mode
  std::string tls_ca_file;           // rediss://: the CA bundle to verify the server with
  bool purge_propagation = true;  // publish admin purges to, and apply them from, other instances
  uint64_t fill_lock_ms = 5000;   // cross-instance coalescing lock (0: off)
};

struct CacheConfig {
  bool enabled = false;
  MemoryCacheConfig memory;
  DiskCacheConfig disk;
  RedisCacheConfig redis;
  std::vector<std::string> cache_layers = {"memory"};  // lookup order
  // Extension (CACHE-8): how long past its expiry an entry may still be served when S3 fails.
  uint64_t stale_if_error_seconds = 0;
};

// Per-bucket overrides of the global cache settings (CACHE-5).
struct BucketCacheConfig {
  std::optional<bool> enabled;
  std::optional<uint64_t> ttl_seconds;
  std::optional<uint64_t> max_item_size_mb;
};

// ---------------------------------------------------------------------------------------------
// Buckets

struct IpFilterConfig {
  std::vector<std::string> allowlist;  // addresses or CIDR ranges
  std::vector<std::string> blocklist;
};

struct BucketConfig {
  std::string name;
  std::string path_prefix;
  S3Config s3;
  bool auth_enabled = false;
  std::optional<JwtConfig> jwt;  // auth.jwt: overrides the global jwt for this bucket
  std::optional<AuthorizationConfig> authorization;
  std::optional<BucketCacheConfig> cache;
  IpFilterConfig ip_filter;
};

// ---------------------------------------------------------------------------------------------
// Logging, audit, observability

struct LoggingConfig {
  std::string level = "info";   // trace|debug|info|warn|error|critical|off
  std::string format = "text";  // text | json
  bool access_log = true;       // extension: one access line per request (OBS-3)
};

enum class AuditOutput : uint8_t { File, Syslog };
enum class RotationPolicy : uint8_t { Size, Daily };
enum class SyslogProtocol : uint8_t { Udp, Tcp };

struct AuditFileConfig {
  std::string path;
  uint64_t max_file_size_mb = 50;
  uint32_t max_backup_files = 5;
  RotationPolicy rotation_policy = RotationPolicy::Size;
  uint64_t buffer_size = 1024 * 1024;  // bytes
};

struct AuditSyslogConfig {
  std::string address;  // host:port
  SyslogProtocol protocol = SyslogProtocol::Udp;
  std::string facility = "local0";  // local0..local7
};

struct AuditLogConfig {
  bool enabled = false;
  std::vector<AuditOutput> outputs;
  std::string log_level = "info";  // debug|info|warn|error
  std::optional<AuditFileConfig> file;
  std::optional<AuditSyslogConfig> syslog;
  uint64_t queue_size = 10000;  // extension: lines waiting for the writer before drops start
};

struct TracingConfig {
  bool enabled = false;
  std::string exporter = "otlp";  // otlp|jaeger|zipkin|none
  std::string otlp_endpoint;
  std::string jaeger_endpoint;
  std::string zipkin_endpoint;
  std::string service_name = "yatagarasu";
  double sampling_ratio = 1.0;
  bool propagate_context = true;
};

struct RequestLoggingConfig {
  bool log_requests = false;
  bool log_responses = false;
  std::vector<std::string> include_paths;
  std::vector<std::string> exclude_paths;
  std::vector<uint16_t> status_codes;
  std::vector<std::string> redact_headers = {"authorization", "x-api-key", "cookie", "set-cookie",
                                             "x-amz-security-token"};
  bool log_request_body = false;
  bool log_response_body = false;
  uint64_t max_body_size = 1024;
};

struct SlowQueryConfig {
  bool enabled = false;
  uint64_t threshold_ms = 1000;
  bool include_breakdown = true;
  std::string log_level = "warn";
};

struct ObservabilityConfig {
  TracingConfig tracing;
  RequestLoggingConfig request_logging;
  SlowQueryConfig slow_query;
};

// ---------------------------------------------------------------------------------------------

struct Config {
  std::string source_path;  // file the config came from (for messages)
  ServerConfig server;
  std::vector<BucketConfig> buckets;
  std::optional<JwtConfig> jwt;  // global; used by buckets with auth.enabled and no auth.jwt
  CacheConfig cache;
  AuditLogConfig audit_log;
  ObservabilityConfig observability;
  LoggingConfig logging;
  bool metrics_enabled = true;  // metrics.enabled: serve /metrics
  uint64_t metrics_port = 0;    // 0 = /metrics on the main listener only
  uint64_t shutdown_timeout_secs = 30;
};

// Spelling of enum values as they appear in YAML.
constexpr std::string_view to_string(TokenSourceType t) {
  switch (t) {
    case TokenSourceType::Bearer:
      return "bearer";
    case TokenSourceType::Header:
      return "header";
    case TokenSourceType::Query:
      return "query";
  }
  return "?";
}

constexpr std::string_view to_string(ClaimOperator op) {
  switch (op) {
    case ClaimOperator::Equals:
      return "equals";
    case ClaimOperator::NotEquals:
      return "not_equals";
    case ClaimOperator::In:
      return "in";
    case ClaimOperator::Contains:
      return "contains";
    case ClaimOperator::Gt:
      return "gt";
    case ClaimOperator::Gte:
      return "gte";
    case ClaimOperator::Lt:
      return "lt";
    case ClaimOperator::Lte:
      return "lte";
    case ClaimOperator::Regex:
      return "regex";
    case ClaimOperator::Exists:
      return "exists";
  }
  return "?";
}

constexpr std::string_view to_string(AuthorizationType t) {
  return t == AuthorizationType::Opa ? "opa" : "openfga";
}

constexpr std::string_view to_string(FailMode m) {
  return m == FailMode::Closed ? "closed" : "open";
}

constexpr std::string_view to_string(AuditOutput o) {
  return o == AuditOutput::File ? "file" : "syslog";
}

constexpr std::string_view to_string(RotationPolicy p) {
  return p == RotationPolicy::Size ? "size" : "daily";
}

constexpr std::string_view to_string(SyslogProtocol p) {
  return p == SyslogProtocol::Udp ? "udp" : "tcp";
}

}  // namespace yg::config
