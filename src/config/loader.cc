// Entry points and the top-level sections of the schema walk (server, jwt, cache, audit_log,
// observability, logging, metrics, shutdown). Buckets live in sections_bucket.cc.

#include "config/loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/sections.h"
#include "config/testing.h"
#include "config/validate.h"
#include "config/yaml_reader.h"

namespace yg::config {

std::string ConfigError::to_string() const {
  std::string s = file.empty() ? std::string("<config>") : file;
  if (line > 0) {
    s += ":" + std::to_string(line);
  }
  s += ": ";
  if (!key_path.empty()) {
    s += key_path + ": ";
  }
  s += what;
  return s;
}

namespace detail {
namespace {

void parse_server(MapReader& m, ServerConfig& s) {
  std::optional<uint16_t> port_in_address;
  std::string address = s.address;
  if (m.get_string("address", address)) {
    std::string host;
    if (auto err = split_listen_address(address, host, port_in_address)) {
      m.error_at("address", *err);
    } else {
      s.address = host;
    }
  }
  if (port_in_address) {
    if (m.contains("port")) {
      m.get("port");
      m.error_at("port", "the port is already given in server.address ('" + address + "')");
    } else {
      s.port = *port_in_address;
    }
  } else {
    m.get_uint("port", s.port, 1, 65535);
  }
  m.get_uint("threads", s.threads, 0, 1024);
  m.get_uint("request_timeout", s.request_timeout_secs, 1);
  m.get_uint("header_read_timeout", s.header_read_timeout_secs, 1);
  m.get_uint("keepalive_timeout", s.keepalive_timeout_secs, 1);
  m.get_uint("max_concurrent_requests", s.max_concurrent_requests, 1);
  m.get_bool("coalescing", s.coalescing);
  {
    std::vector<std::string> entries;
    if (m.get_string_list("trusted_proxies", entries)) {
      bool ok = true;
      for (size_t i = 0; i < entries.size(); ++i) {
        if (auto err = check_ip_or_cidr(entries[i])) {
          const std::string p = m.child_path("trusted_proxies") + "[" + std::to_string(i) + "]";
          m.ctx().error(m.ctx().position_of(p), p, *err);
          ok = false;
        }
      }
      if (ok) {
        s.trusted_proxies = std::move(entries);
      }
    }
  }
  with_section(m, "security_limits", [&](MapReader& l) {
    l.get_uint("max_body_size", s.security_limits.max_body_size);
    l.get_uint("max_header_size", s.security_limits.max_header_size, 1024);
    l.get_uint("max_uri_length", s.security_limits.max_uri_length, 16);
    l.get_bool("block_sql_injection", s.security_limits.block_sql_injection);
  });
  with_section(m, "tls", [&](MapReader& t) {
    TlsConfig tls;
    t.require("cert_path");
    t.require("key_path");
    if (t.get_string("cert_path", tls.cert_path) && tls.cert_path.empty()) {
      t.error_at("cert_path", "must not be empty");
    }
    if (t.get_string("key_path", tls.key_path) && tls.key_path.empty()) {
      t.error_at("key_path", "must not be empty");
    }
    std::string version = tls.min_version == TlsVersion::V1_3 ? "1.3" : "1.2";
    if (t.get_string("min_version", version)) {
      if (auto v = parse_tls_version(version)) {
        tls.min_version = *v;
      } else {
        t.error_at("min_version", check_tls_min_version(version).value_or(""));
      }
    }
    if (t.get_string("ciphers", tls.ciphers)) {
      if (auto bad = check_tls_cipher_list(tls.ciphers)) {
        t.error_at("ciphers", *bad);
      }
    }
    if (t.get_string("ciphersuites", tls.ciphersuites)) {
      if (auto bad = check_tls_ciphersuites(tls.ciphersuites)) {
        t.error_at("ciphersuites", *bad);
      }
    }
    s.tls = tls;
  });
  with_section(m, "rate_limit", [&](MapReader& r) {
    ServerRateLimitConfig rl;
    r.get_bool("enabled", rl.enabled);
    with_section(r, "global", [&](MapReader& g) {
      rl.global.emplace();
      parse_rate_limit_rule(g, *rl.global);
    });
    with_section(r, "per_ip", [&](MapReader& g) {
      rl.per_ip.emplace();
      parse_rate_limit_rule(g, *rl.per_ip);
    });
    r.get_uint("max_tracked_ips", rl.max_tracked_ips, 1000, 10000000);
    s.rate_limit = rl;
  });
}

void parse_cache(MapReader& m, CacheConfig& c) {
  m.get_bool("enabled", c.enabled);
  m.get_uint("stale_if_error_seconds", c.stale_if_error_seconds, 0, 7 * 24 * 3600);
  with_section(m, "memory", [&](MapReader& mm) {
    mm.get_uint("max_item_size_mb", c.memory.max_item_size_mb, 1);
    mm.get_uint("max_cache_size_mb", c.memory.max_cache_size_mb, 1);
    mm.get_uint("default_ttl_seconds", c.memory.default_ttl_seconds, 1);
  });
  with_section(m, "disk", [&](MapReader& d) {
    d.get_bool("enabled", c.disk.enabled);
    d.get_string("cache_dir", c.disk.cache_dir);
    d.get_uint("max_disk_cache_size_mb", c.disk.max_disk_cache_size_mb, 1);
    d.get_bool("fsync", c.disk.fsync);
    with_section(d, "sendfile", [&](MapReader& sf) {
      sf.get_bool("enabled", c.disk.sendfile.enabled);
      sf.get_uint("threshold_bytes", c.disk.sendfile.threshold_bytes);
    });
  });
  with_section(m, "redis", [&](MapReader& r) {
    r.get_bool("enabled", c.redis.enabled);
    if (r.get_string("redis_url", c.redis.redis_url)) {
      if (auto err = check_redis_url(c.redis.redis_url)) {
        r.error_at("redis_url", *err);
      }
    }
    r.get_secret("redis_password", c.redis.redis_password);
    r.get_uint("redis_db", c.redis.redis_db, 0, 65535);
    r.get_string("redis_key_prefix", c.redis.redis_key_prefix);
    r.get_uint("redis_ttl_seconds", c.redis.redis_ttl_seconds, 1);
    r.get_string("redis_username", c.redis.redis_username);
    r.get_uint("pool_size", c.redis.pool_size, 1, 64);
    r.get_uint("connect_timeout_ms", c.redis.connect_timeout_ms, 1, 60000);
    r.get_uint("command_timeout_ms", c.redis.command_timeout_ms, 1, 60000);
    r.get_uint("max_value_size_mb", c.redis.max_value_size_mb, 1, 512);
    if (r.get_string_list("cluster", c.redis.cluster)) {
      for (std::size_t i = 0; i < c.redis.cluster.size(); ++i) {
        if (auto err = check_host_port(c.redis.cluster[i])) {
          r.error_at("cluster", "[" + std::to_string(i) + "] " + *err);
        }
      }
    }
    r.get_string("tls_ca_file", c.redis.tls_ca_file);
    r.get_bool("purge_propagation", c.redis.purge_propagation);
    r.get_uint("fill_lock_ms", c.redis.fill_lock_ms, 0, 600000);
  });
  std::vector<std::string> layers = c.cache_layers;
  if (m.get_string_list("cache_layers", layers)) {
    bool ok = true;
    for (size_t i = 0; i < layers.size(); ++i) {
      if (layers[i] != "memory" && layers[i] != "disk" && layers[i] != "redis") {
        m.ctx().error(
            m.ctx().position_of(m.child_path("cache_layers") + "[" + std::to_string(i) + "]"),
            m.child_path("cache_layers") + "[" + std::to_string(i) + "]",
            "'" + layers[i] + "' is not one of: memory, disk, redis");
        ok = false;
      }
    }
    if (ok) {
      c.cache_layers = layers;
    }
  }
  m.refuse("warming", "cache pre-warming is not supported by this proxy");
}

void parse_audit_log(MapReader& m, AuditLogConfig& a) {
  m.get_bool("enabled", a.enabled);
  {
    std::vector<std::string> names;
    if (m.get_string_list("outputs", names)) {
      for (size_t i = 0; i < names.size(); ++i) {
        const std::string p = m.child_path("outputs") + "[" + std::to_string(i) + "]";
        if (names[i] == "file") {
          a.outputs.push_back(AuditOutput::File);
        } else if (names[i] == "syslog") {
          a.outputs.push_back(AuditOutput::Syslog);
        } else if (names[i] == "s3") {
          m.ctx().error(m.ctx().position_of(p), p,
                        "the s3 audit output is not supported (use the file output and ship "
                        "the rotated files)");
        } else {
          m.ctx().error(m.ctx().position_of(p), p,
                        "'" + names[i] + "' is not one of: file, syslog");
        }
      }
    }
  }
  if (m.get_string("log_level", a.log_level)) {
    if (a.log_level != "debug" && a.log_level != "info" && a.log_level != "warn" &&
        a.log_level != "error") {
      m.error_at("log_level", "'" + a.log_level + "' is not one of: debug, info, warn, error");
    }
  }
  with_section(m, "file", [&](MapReader& f) {
    AuditFileConfig fc;
    f.require("path");
    f.get_string("path", fc.path);
    f.get_uint("max_file_size_mb", fc.max_file_size_mb, 1);
    f.get_uint("max_backup_files", fc.max_backup_files);
    f.get_enum("rotation_policy", fc.rotation_policy,
               {{"size", RotationPolicy::Size}, {"daily", RotationPolicy::Daily}});
    f.get_uint("buffer_size", fc.buffer_size);
    a.file = fc;
  });
  with_section(m, "syslog", [&](MapReader& s) {
    AuditSyslogConfig sc;
    s.require("address");
    if (s.get_string("address", sc.address)) {
      if (auto err = check_host_port(sc.address)) {
        s.error_at("address", *err);
      }
    }
    s.get_enum("protocol", sc.protocol,
               {{"udp", SyslogProtocol::Udp}, {"tcp", SyslogProtocol::Tcp}});
    if (s.get_string("facility", sc.facility)) {
      if (sc.facility.size() != 6 || sc.facility.compare(0, 5, "local") != 0 ||
          sc.facility[5] < '0' || sc.facility[5] > '7') {
        s.error_at("facility", "'" + sc.facility + "' is not one of: local0 .. local7");
      }
    }
    a.syslog = sc;
  });
  m.get_uint("queue_size", a.queue_size, 1, 10'000'000);
  m.refuse("s3_export", "exporting audit logs to S3 is not supported (use the file output)");
}

void parse_observability(MapReader& m, ObservabilityConfig& o) {
  with_section(m, "tracing", [&](MapReader& t) {
    auto& tc = o.tracing;
    t.get_bool("enabled", tc.enabled);
    if (t.get_string("exporter", tc.exporter)) {
      if (tc.exporter != "otlp" && tc.exporter != "jaeger" && tc.exporter != "zipkin" &&
          tc.exporter != "none") {
        t.error_at("exporter", "'" + tc.exporter + "' is not one of: otlp, jaeger, zipkin, none");
      }
    }
    for (auto [key, field] : {std::pair{"otlp_endpoint", &tc.otlp_endpoint},
                              std::pair{"jaeger_endpoint", &tc.jaeger_endpoint},
                              std::pair{"zipkin_endpoint", &tc.zipkin_endpoint}}) {
      if (t.get_string(key, *field)) {
        if (auto err = check_http_url(*field)) {
          t.error_at(key, *err);
        }
      }
    }
    t.get_string("service_name", tc.service_name);
    if (t.get_double("sampling_ratio", tc.sampling_ratio)) {
      if (tc.sampling_ratio < 0.0 || tc.sampling_ratio > 1.0) {
        t.error_at("sampling_ratio", "must be between 0.0 and 1.0");
      }
    }
    t.get_bool("propagate_context", tc.propagate_context);
  });
  with_section(m, "request_logging", [&](MapReader& r) {
    auto& rc = o.request_logging;
    r.get_bool("log_requests", rc.log_requests);
    r.get_bool("log_responses", rc.log_responses);
    r.get_string_list("include_paths", rc.include_paths);
    r.get_string_list("exclude_paths", rc.exclude_paths);
    {
      std::vector<std::string> codes;
      for (const uint16_t code : rc.status_codes) {
        codes.push_back(std::to_string(code));
      }
      r.describe("status_codes", "list", json_value(codes));
    }
    if (auto n = r.get("status_codes")) {
      const std::string p = r.child_path("status_codes");
      if (!n->IsSequence()) {
        r.error_at("status_codes", "expected a list, got " + std::string(kind_name(*n)));
      } else {
        size_t i = 0;
        for (auto it = n->begin(); it != n->end(); ++it, ++i) {
          const std::string ip = p + "[" + std::to_string(i) + "]";
          r.ctx().remember(ip, pos_of(*it));
          if (auto v = read_uint(r.ctx(), *it, ip, 100, 599)) {
            rc.status_codes.push_back(static_cast<uint16_t>(*v));
          }
        }
      }
    }
    r.get_string_list("redact_headers", rc.redact_headers);
    r.get_bool("log_request_body", rc.log_request_body);
    r.get_bool("log_response_body", rc.log_response_body);
    r.get_uint("max_body_size", rc.max_body_size);
  });
  with_section(m, "slow_query", [&](MapReader& s) {
    auto& sc = o.slow_query;
    s.get_bool("enabled", sc.enabled);
    s.get_uint("threshold_ms", sc.threshold_ms, 1);
    s.get_bool("include_breakdown", sc.include_breakdown);
    if (s.get_string("log_level", sc.log_level)) {
      if (auto err = check_log_level(sc.log_level)) {
        s.error_at("log_level", *err);
      }
    }
  });
}

// False when the top level is not a mapping (nothing else is worth checking then).
bool parse_root(ParseContext& ctx, const YAML::Node& root, Config& c) {
  MapReader m(ctx, root, "");
  if (!m.ok()) {
    return false;
  }
  ctx.remember("", m.pos());
  with_section(m, "server", [&](MapReader& s) { parse_server(s, c.server); });
  parse_buckets(m, c);
  with_section(m, "jwt", [&](MapReader& j) {
    c.jwt.emplace();
    parse_jwt(j, *c.jwt);
  });
  with_section(m, "cache", [&](MapReader& s) { parse_cache(s, c.cache); });
  with_section(m, "audit_log", [&](MapReader& s) { parse_audit_log(s, c.audit_log); });
  with_section(m, "observability", [&](MapReader& s) { parse_observability(s, c.observability); });
  with_section(m, "logging", [&](MapReader& l) {
    if (l.get_string("level", c.logging.level)) {
      if (auto err = check_log_level(c.logging.level)) {
        l.error_at("level", *err);
      }
    }
    l.get_bool("access_log", c.logging.access_log);
    if (l.get_string("format", c.logging.format)) {
      if (c.logging.format != "text" && c.logging.format != "json") {
        l.error_at("format", "'" + c.logging.format + "' is not one of: text, json");
      }
    }
  });
  with_section(m, "metrics", [&](MapReader& s) {
    s.get_bool("enabled", c.metrics_enabled);
    s.describe("port", "uint", "null");  // 0 in Config: no separate metrics listener
    s.get_uint("port", c.metrics_port, 1, 65535);
  });
  with_section(m, "shutdown", [&](MapReader& s) {
    s.get_uint("timeout_seconds", c.shutdown_timeout_secs, 0, 3600);
  });
  m.refuse("image_optimization", "image optimization is not supported by this proxy");
  m.finish();
  return true;
}

// Sees the document boundaries without building nodes.
class DocumentProbe : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Checks there is exactly one YAML document. yaml-cpp 0.7 cannot be trusted with LoadAll: a
// stray token it does not consume at document level (a top-level ',' as in ",a" or "[a]\n,")
// makes it start empty documents at the same place forever. So walk at most four documents
// with the event parser; a document that starts where the previous one did is that token.
bool check_documents(const std::string& text, ParseContext& ctx) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentProbe probe;
  // Four: "doc, ---, stuck, stuck" is the longest way to reach a repeat that matters.
  while (probe.starts.size() < 4 && parser.HandleNextDocument(probe)) {
  }
  if (probe.starts.size() < 2) {
    return true;
  }
  for (size_t i = 1; i < probe.starts.size(); ++i) {
    const YAML::Mark& m = probe.starts[i];
    if (m.pos == probe.starts[i - 1].pos) {
      const size_t at = static_cast<size_t>(std::max(0, m.pos));
      const std::string what = at < text.size() ? std::string(1, text[at]) : std::string("end");
      ctx.error(pos_of(m), "", "YAML syntax error: unexpected '" + what + "'");
      return false;
    }
  }
  ctx.error(pos_of(probe.starts[1]), "",
            "the file holds more than one YAML document ('---'); only one is allowed");
  return false;
}

// Canonical forms the rest of the proxy can rely on.
void normalize(Config& c) {
  for (auto& b : c.buckets) {
    // "/pub/" and "/pub" route the same (segment-boundary match, ROUTE-1).
    while (b.path_prefix.size() > 1 && b.path_prefix.back() == '/') {
      b.path_prefix.pop_back();
    }
    std::stable_sort(
        b.s3.replicas.begin(), b.s3.replicas.end(),
        [](const S3Replica& a, const S3Replica& z) { return a.priority < z.priority; });
  }
}

}  // namespace
}  // namespace detail

namespace detail {

void record_schema(std::string_view yaml, SchemaRecorder& recorder,
                   std::vector<ConfigError>& errors) {
  const EnvLookup no_env = [](std::string_view) { return std::optional<std::string>(); };
  ParseContext ctx("<schema>", no_env);
  ctx.set_recorder(&recorder);
  try {
    Config c;
    parse_root(ctx, YAML::Load(std::string(yaml)), c);
  } catch (const std::exception& e) {
    ctx.error({}, "", std::string("cannot walk the schema: ") + e.what());
  }
  errors = ctx.take_errors();
}

LoadResult load_string_with_gate(std::string_view yaml, std::string_view source_name,
                                 const EnvLookup& env, bool apply_gate) {
  detail::ParseContext ctx(std::string(source_name), env);
  Config c;
  c.source_path = std::string(source_name);
  try {
    const std::string text(yaml);
    if (!detail::check_documents(text, ctx)) {
      // Reported already.
    } else if (const YAML::Node root = YAML::Load(text); root.IsNull()) {
      ctx.error({1, 1}, "",
                "the configuration is empty (expected a mapping with server, buckets, ...)");
    } else {
      if (detail::parse_root(ctx, root, c)) {
        detail::validate_config(c, ctx);
        if (apply_gate) {
          detail::gate_unavailable_features(c, ctx);
        }
      }
    }
  } catch (const YAML::Exception& e) {
    // Syntax errors (ParserException) and anything else yaml-cpp raises: one error at its mark.
    ctx.error(detail::pos_of(e.mark), "", "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    ctx.error({}, "", std::string("internal error while loading: ") + e.what());
  }
  LoadResult r;
  r.errors = ctx.take_errors();
  if (r.errors.empty()) {
    detail::normalize(c);
    r.config = std::move(c);
  }
  return r;
}

}  // namespace detail

LoadResult load_string(std::string_view yaml, std::string_view source_name, const EnvLookup& env) {
  return detail::load_string_with_gate(yaml, source_name, env, true);
}

LoadResult load_file(const std::string& path, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back(
        ConfigError{path, 0, 0, "", std::string("cannot open file: ") + std::strerror(errno)});
    return r;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    LoadResult r;
    r.errors.push_back(ConfigError{path, 0, 0, "", "cannot read file"});
    return r;
  }
  return load_string(buf.str(), path, env);
}

}  // namespace yg::config
