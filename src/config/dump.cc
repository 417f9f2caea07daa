// dump_redacted: the effective configuration as YAML, for --test output, logs and the admin
// config endpoint (CONF-4). Secret fields print "***" when set; a password inside a URL
// (redis://:pw@host) is masked the same way.

#include <yaml-cpp/yaml.h>

#include <string>

#include "config/loader.h"

namespace yg::config {
namespace {

constexpr const char* kMask = "***";

// Masks the userinfo part of scheme://user:pass@host/... so URLs never leak a password.
std::string mask_url(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    return url;
  }
  const size_t auth_start = scheme_end + 3;
  const size_t auth_end = url.find_first_of("/?#", auth_start);
  const size_t at = url.rfind('@', auth_end == std::string::npos ? url.size() : auth_end);
  if (at == std::string::npos || at < auth_start) {
    return url;
  }
  return url.substr(0, auth_start) + kMask + url.substr(at);
}

class Writer {
 public:
  Writer() { out_ << YAML::BeginMap; }

  template <class T>
  void kv(const char* key, const T& value) {
    out_ << YAML::Key << key << YAML::Value << value;
  }
  // Unset (empty) strings and secrets are left out, so the dump loads back as it reads.
  void kv(const char* key, const std::string& value) {
    if (!value.empty()) {
      out_ << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << value;
    }
  }
  void kv(const char* key, std::string_view value) { kv(key, std::string(value)); }
  void kv(const char* key, const char* value) { kv(key, std::string(value)); }
  void secret(const char* key, const Secret& s) {
    if (!s.empty()) {
      out_ << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << kMask;
    }
  }
  void url(const char* key, const std::string& u) { kv(key, mask_url(u)); }
  void list(const char* key, const std::vector<std::string>& items) {
    out_ << YAML::Key << key << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& i : items) {
      out_ << YAML::DoubleQuoted << i;
    }
    out_ << YAML::EndSeq;
  }
  void begin(const char* key) { out_ << YAML::Key << key << YAML::Value << YAML::BeginMap; }
  void end() { out_ << YAML::EndMap; }
  void begin_list(const char* key) { out_ << YAML::Key << key << YAML::Value << YAML::BeginSeq; }
  void begin_item() { out_ << YAML::BeginMap; }
  void end_list() { out_ << YAML::EndSeq; }
  YAML::Emitter& raw() { return out_; }

  std::string finish() {
    out_ << YAML::EndMap;
    return std::string(out_.c_str()) + "\n";
  }

 private:
  YAML::Emitter out_;
};

void claim_value(YAML::Emitter& out, const ClaimValue& v) {
  switch (v.kind) {
    case ClaimValue::Kind::None:
      out << YAML::Null;
      break;
    case ClaimValue::Kind::String:
      out << YAML::DoubleQuoted << v.text;
      break;
    case ClaimValue::Kind::Number:
    case ClaimValue::Kind::Bool:
      out << v.text;
      break;
    case ClaimValue::Kind::List:
      out << YAML::Flow << YAML::BeginSeq;
      for (const auto& i : v.items) {
        claim_value(out, i);
      }
      out << YAML::EndSeq;
      break;
  }
}

void claims(Writer& w, const char* key, const std::vector<ClaimRule>& rules) {
  w.begin_list(key);
  for (const auto& r : rules) {
    w.begin_item();
    w.kv("claim", r.claim);
    w.kv("operator", to_string(r.op));
    if (r.value.kind != ClaimValue::Kind::None) {
      w.raw() << YAML::Key << "value" << YAML::Value;
      claim_value(w.raw(), r.value);
    }
    w.end();
  }
  w.end_list();
}

void jwt(Writer& w, const char* key, const JwtConfig& j) {
  w.begin(key);
  w.kv("enabled", j.enabled);
  w.kv("algorithm", j.algorithm);
  w.secret("secret", j.secret);
  w.kv("rsa_public_key_path", j.rsa_public_key_path);
  w.kv("ecdsa_public_key_path", j.ecdsa_public_key_path);
  w.url("jwks_url", j.jwks_url);
  w.kv("jwks_refresh_interval_secs", j.jwks_refresh_interval_secs);
  w.kv("jwks_refetch_min_interval_secs", j.jwks_refetch_min_interval_secs);
  w.kv("leeway_seconds", j.leeway_secs);
  w.kv("issuer", j.issuer);
  w.kv("audience", j.audience);
  w.begin_list("token_sources");
  for (const auto& t : j.token_sources) {
    w.begin_item();
    w.kv("type", to_string(t.type));
    if (!t.name.empty()) {
      w.kv("name", t.name);
    }
    if (!t.prefix.empty()) {
      w.kv("prefix", t.prefix);
    }
    w.end();
  }
  w.end_list();
  claims(w, "claims", j.claims);
  claims(w, "admin_claims", j.admin_claims);
  w.begin_list("keys");
  for (const auto& k : j.keys) {
    w.begin_item();
    w.kv("id", k.id);
    w.kv("algorithm", k.algorithm);
    w.secret("secret", k.secret);
    w.kv("path", k.path);
    w.end();
  }
  w.end_list();
  w.end();
}

void rate_rule(Writer& w, const char* key, const RateLimitRule& r) {
  w.begin(key);
  w.kv("requests_per_second", r.requests_per_second);
  w.kv("burst", r.burst);
  w.end();
}

void server(Writer& w, const ServerConfig& s) {
  w.begin("server");
  w.kv("address", s.address);
  w.kv("port", s.port);
  w.kv("threads", s.threads);
  w.kv("request_timeout", s.request_timeout_secs);
  w.kv("header_read_timeout", s.header_read_timeout_secs);
  w.kv("keepalive_timeout", s.keepalive_timeout_secs);
  w.kv("max_concurrent_requests", s.max_concurrent_requests);
  w.kv("coalescing", s.coalescing);
  w.list("trusted_proxies", s.trusted_proxies);
  w.begin("security_limits");
  w.kv("max_body_size", s.security_limits.max_body_size);
  w.kv("max_header_size", s.security_limits.max_header_size);
  w.kv("max_uri_length", s.security_limits.max_uri_length);
  w.kv("block_sql_injection", s.security_limits.block_sql_injection);
  w.end();
  if (s.tls) {
    w.begin("tls");
    w.kv("cert_path", s.tls->cert_path);
    w.kv("key_path", s.tls->key_path);
    w.kv("min_version", s.tls->min_version == TlsVersion::V1_3 ? "1.3" : "1.2");
    w.kv("ciphers", s.tls->ciphers);
    w.kv("ciphersuites", s.tls->ciphersuites);
    w.end();
  }
  if (s.rate_limit) {
    w.begin("rate_limit");
    w.kv("enabled", s.rate_limit->enabled);
    if (s.rate_limit->global) {
      rate_rule(w, "global", *s.rate_limit->global);
    }
    if (s.rate_limit->per_ip) {
      rate_rule(w, "per_ip", *s.rate_limit->per_ip);
    }
    w.kv("max_tracked_ips", s.rate_limit->max_tracked_ips);
    w.end();
  }
  w.end();
}

void authorization(Writer& w, const AuthorizationConfig& a) {
  w.begin("authorization");
  w.kv("type", to_string(a.type));
  if (a.type == AuthorizationType::Opa) {
    w.url("opa_url", a.opa_url);
    w.kv("opa_policy_path", a.opa_policy_path);
    w.kv("opa_timeout_ms", a.opa_timeout_ms);
    w.list("opa_input_headers", a.opa_input_headers);
  } else {
    w.url("openfga_endpoint", a.openfga_endpoint);
    w.kv("openfga_store_id", a.openfga_store_id);
    w.kv("openfga_authorization_model_id", a.openfga_authorization_model_id);
    w.secret("openfga_api_token", a.openfga_api_token);
    w.kv("openfga_timeout_ms", a.openfga_timeout_ms);
    w.kv("openfga_user_claim", a.openfga_user_claim);
    w.kv("openfga_parent_tuples", a.openfga_parent_tuples);
  }
  w.kv("fail_mode", to_string(a.fail_mode));
  w.begin("cache");
  w.kv("enabled", a.cache_enabled);
  w.kv("ttl_seconds", a.cache_ttl_seconds);
  w.kv("negative_ttl_seconds", a.deny_cache_ttl_seconds);
  w.kv("max_entries", a.cache_max_entries);
  w.end();
  w.end();
}

void bucket(Writer& w, const BucketConfig& b) {
  w.begin_item();
  w.kv("name", b.name);
  w.kv("path_prefix", b.path_prefix);
  w.begin("s3");
  w.kv("timeout", b.s3.timeout_secs);
  w.kv("connection_pool_size", b.s3.connection_pool_size);
  w.kv("tls_verify", b.s3.tls_verify);
  w.kv("ca_file", b.s3.ca_file);
  w.begin_list("replicas");
  for (const auto& r : b.s3.replicas) {
    w.begin_item();
    w.kv("name", r.name);
    w.kv("bucket", r.bucket);
    w.kv("region", r.region);
    w.url("endpoint", r.endpoint);
    w.kv("access_key", r.access_key);
    w.secret("secret_key", r.secret_key);
    w.secret("session_token", r.session_token);
    w.kv("priority", r.priority);
    w.kv("timeout", r.timeout_secs);
    w.end();
  }
  w.end_list();
  if (b.s3.circuit_breaker) {
    const auto& c = *b.s3.circuit_breaker;
    w.begin("circuit_breaker");
    w.kv("failure_threshold", c.failure_threshold);
    w.kv("success_threshold", c.success_threshold);
    w.kv("timeout_seconds", c.timeout_seconds);
    w.kv("half_open_max_requests", c.half_open_max_requests);
    w.end();
  }
  if (b.s3.retry) {
    w.begin("retry");
    w.kv("max_attempts", b.s3.retry->max_attempts);
    w.kv("initial_backoff_ms", b.s3.retry->initial_backoff_ms);
    w.kv("max_backoff_ms", b.s3.retry->max_backoff_ms);
    w.kv("budget_percent", b.s3.retry->budget_percent);
    w.kv("budget_min_per_second", b.s3.retry->budget_min_per_second);
    w.end();
  }
  if (b.s3.rate_limit) {
    rate_rule(w, "rate_limit", *b.s3.rate_limit);
  }
  w.end();
  w.begin("auth");
  w.kv("enabled", b.auth_enabled);
  if (b.jwt) {
    jwt(w, "jwt", *b.jwt);
  }
  w.end();
  if (b.authorization) {
    authorization(w, *b.authorization);
  }
  if (b.cache) {
    w.begin("cache");
    if (b.cache->enabled) {
      w.kv("enabled", *b.cache->enabled);
    }
    if (b.cache->ttl_seconds) {
      w.kv("ttl_seconds", *b.cache->ttl_seconds);
    }
    if (b.cache->max_item_size_mb) {
      w.kv("max_item_size_mb", *b.cache->max_item_size_mb);
    }
    w.end();
  }
  w.begin("ip_filter");
  w.list("allowlist", b.ip_filter.allowlist);
  w.list("blocklist", b.ip_filter.blocklist);
  w.end();
  w.end();
}

void cache(Writer& w, const CacheConfig& c) {
  w.begin("cache");
  w.kv("enabled", c.enabled);
  w.list("cache_layers", c.cache_layers);
  w.kv("stale_if_error_seconds", c.stale_if_error_seconds);
  w.begin("memory");
  w.kv("max_item_size_mb", c.memory.max_item_size_mb);
  w.kv("max_cache_size_mb", c.memory.max_cache_size_mb);
  w.kv("default_ttl_seconds", c.memory.default_ttl_seconds);
  w.end();
  w.begin("disk");
  w.kv("enabled", c.disk.enabled);
  w.kv("cache_dir", c.disk.cache_dir);
  w.kv("max_disk_cache_size_mb", c.disk.max_disk_cache_size_mb);
  w.kv("fsync", c.disk.fsync);
  w.begin("sendfile");
  w.kv("enabled", c.disk.sendfile.enabled);
  w.kv("threshold_bytes", c.disk.sendfile.threshold_bytes);
  w.end();
  w.end();
  w.begin("redis");
  w.kv("enabled", c.redis.enabled);
  w.url("redis_url", c.redis.redis_url);
  w.secret("redis_password", c.redis.redis_password);
  w.kv("redis_db", c.redis.redis_db);
  w.kv("redis_key_prefix", c.redis.redis_key_prefix);
  w.kv("redis_ttl_seconds", c.redis.redis_ttl_seconds);
  w.kv("redis_username", c.redis.redis_username);
  w.kv("pool_size", c.redis.pool_size);
  w.kv("connect_timeout_ms", c.redis.connect_timeout_ms);
  w.kv("command_timeout_ms", c.redis.command_timeout_ms);
  w.kv("max_value_size_mb", c.redis.max_value_size_mb);
  w.list("cluster", c.redis.cluster);
  w.kv("tls_ca_file", c.redis.tls_ca_file);
  w.kv("purge_propagation", c.redis.purge_propagation);
  w.kv("fill_lock_ms", c.redis.fill_lock_ms);
  w.end();
  w.end();
}

void audit(Writer& w, const AuditLogConfig& a) {
  w.begin("audit_log");
  w.kv("enabled", a.enabled);
  std::vector<std::string> outputs;
  for (auto o : a.outputs) {
    outputs.emplace_back(to_string(o));
  }
  w.list("outputs", outputs);
  w.kv("log_level", a.log_level);
  w.kv("queue_size", a.queue_size);
  if (a.file) {
    w.begin("file");
    w.kv("path", a.file->path);
    w.kv("max_file_size_mb", a.file->max_file_size_mb);
    w.kv("max_backup_files", a.file->max_backup_files);
    w.kv("rotation_policy", to_string(a.file->rotation_policy));
    w.kv("buffer_size", a.file->buffer_size);
    w.end();
  }
  if (a.syslog) {
    w.begin("syslog");
    w.kv("address", a.syslog->address);
    w.kv("protocol", to_string(a.syslog->protocol));
    w.kv("facility", a.syslog->facility);
    w.end();
  }
  w.end();
}

void observability(Writer& w, const ObservabilityConfig& o) {
  w.begin("observability");
  w.begin("tracing");
  w.kv("enabled", o.tracing.enabled);
  w.kv("exporter", o.tracing.exporter);
  w.url("otlp_endpoint", o.tracing.otlp_endpoint);
  w.url("jaeger_endpoint", o.tracing.jaeger_endpoint);
  w.url("zipkin_endpoint", o.tracing.zipkin_endpoint);
  w.kv("service_name", o.tracing.service_name);
  w.kv("sampling_ratio", o.tracing.sampling_ratio);
  w.kv("propagate_context", o.tracing.propagate_context);
  w.end();
  const auto& r = o.request_logging;
  w.begin("request_logging");
  w.kv("log_requests", r.log_requests);
  w.kv("log_responses", r.log_responses);
  w.list("include_paths", r.include_paths);
  w.list("exclude_paths", r.exclude_paths);
  std::vector<std::string> codes;
  for (auto s : r.status_codes) {
    codes.push_back(std::to_string(s));
  }
  w.list("status_codes", codes);
  w.list("redact_headers", r.redact_headers);
  w.kv("log_request_body", r.log_request_body);
  w.kv("log_response_body", r.log_response_body);
  w.kv("max_body_size", r.max_body_size);
  w.end();
  w.begin("slow_query");
  w.kv("enabled", o.slow_query.enabled);
  w.kv("threshold_ms", o.slow_query.threshold_ms);
  w.kv("include_breakdown", o.slow_query.include_breakdown);
  w.kv("log_level", o.slow_query.log_level);
  w.end();
  w.end();
}

}  // namespace

std::string dump_redacted(const Config& c) {
  Writer w;
  server(w, c.server);
  w.begin_list("buckets");
  for (const auto& b : c.buckets) {
    bucket(w, b);
  }
  w.end_list();
  if (c.jwt) {
    jwt(w, "jwt", *c.jwt);
  }
  cache(w, c.cache);
  audit(w, c.audit_log);
  observability(w, c.observability);
  w.begin("logging");
  w.kv("level", c.logging.level);
  w.kv("format", c.logging.format);
  w.kv("access_log", c.logging.access_log);
  w.end();
  w.begin("metrics");
  w.kv("enabled", c.metrics_enabled);
  if (c.metrics_port != 0) {
    w.kv("port", c.metrics_port);
  }
  w.end();
  w.begin("shutdown");
  w.kv("timeout_seconds", c.shutdown_timeout_secs);
  w.end();
  return w.finish();
}

}  // namespace yg::config
