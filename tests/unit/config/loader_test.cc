// CONF-1, CONF-2: the schema walk — defaults, alternate forms, types, unknown keys, positions.

#include "config/loader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "config_test_util.h"

namespace yg::config {
namespace {

using test::kBucket;
using test::load;
using test::load_ungated;
using test::with_bucket;

const std::string kExamples = YG_CONFIG_EXAMPLES_DIR;

// The smallest config gets the reference's defaults.
TEST(Loader, FillsReferenceDefaults) {
  auto r = load(kBucket);
  ASSERT_LOADS(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.source_path, "test.yaml");
  EXPECT_EQ(c.server.address, "0.0.0.0");
  EXPECT_EQ(c.server.port, 8080);
  EXPECT_EQ(c.server.threads, 0u);
  EXPECT_EQ(c.server.request_timeout_secs, 30u);
  EXPECT_EQ(c.server.max_concurrent_requests, 1000u);
  EXPECT_EQ(c.server.security_limits.max_body_size, 10u * 1024 * 1024);
  EXPECT_EQ(c.server.security_limits.max_header_size, 64u * 1024);
  EXPECT_EQ(c.server.security_limits.max_uri_length, 8192u);
  EXPECT_TRUE(c.server.security_limits.block_sql_injection);
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_EQ(c.logging.format, "text");
  EXPECT_TRUE(c.metrics_enabled);
  EXPECT_EQ(c.metrics_port, 0u);
  EXPECT_EQ(c.shutdown_timeout_secs, 30u);
  EXPECT_FALSE(c.jwt.has_value());
  EXPECT_FALSE(c.cache.enabled);
  ASSERT_EQ(c.buckets.size(), 1u);
  const BucketConfig& b = c.buckets[0];
  EXPECT_EQ(b.name, "a");
  EXPECT_EQ(b.path_prefix, "/a");
  EXPECT_FALSE(b.auth_enabled);
  EXPECT_EQ(b.s3.timeout_secs, 20u);
  EXPECT_EQ(b.s3.connection_pool_size, 50u);
  EXPECT_TRUE(b.s3.tls_verify);
}

// The legacy single-backend s3 fields become replicas[0] named "primary" with priority 1.
TEST(Loader, MapsLegacyS3FieldsToPrimaryReplica) {
  auto r = load(
      "buckets:\n"
      "  - name: a\n"
      "    path_prefix: /a\n"
      "    s3:\n"
      "      bucket: b\n"
      "      region: eu-west-1\n"
      "      endpoint: http://localhost:9000\n"
      "      access_key: AK\n"
      "      secret_key: SK\n"
      "      session_token: TOK\n"
      "      timeout: 7\n");
  ASSERT_LOADS(r);
  const S3Config& s3 = r.config->buckets[0].s3;
  ASSERT_EQ(s3.replicas.size(), 1u);
  EXPECT_EQ(s3.replicas[0].name, "primary");
  EXPECT_EQ(s3.replicas[0].priority, 1u);
  EXPECT_EQ(s3.replicas[0].bucket, "b");
  EXPECT_EQ(s3.replicas[0].region, "eu-west-1");
  EXPECT_EQ(s3.replicas[0].endpoint, "http://localhost:9000");
  EXPECT_EQ(s3.replicas[0].access_key, "AK");
  EXPECT_EQ(s3.replicas[0].secret_key.reveal(), "SK");
  EXPECT_EQ(s3.replicas[0].session_token.reveal(), "TOK");
  EXPECT_EQ(s3.replicas[0].timeout_secs, 7u);
  EXPECT_EQ(s3.timeout_secs, 7u);
}

// A single replica in replicas[] form loads; its timeout defaults to s3.timeout.
TEST(Loader, ParsesReplicaForm) {
  auto r = load(
      "buckets:\n"
      "  - name: a\n"
      "    path_prefix: /a\n"
      "    s3:\n"
      "      timeout: 9\n"
      "      replicas:\n"
      "        - name: main\n"
      "          bucket: b\n"
      "          region: us-west-2\n"
      "          access_key: AK\n"
      "          secret_key: SK\n"
      "          priority: 3\n");
  ASSERT_LOADS(r);
  const auto& rep = r.config->buckets[0].s3.replicas.at(0);
  EXPECT_EQ(rep.name, "main");
  EXPECT_EQ(rep.priority, 3u);
  EXPECT_EQ(rep.timeout_secs, 9u);
  EXPECT_EQ(rep.region, "us-west-2");
}

// Replicas come out sorted by priority (1 first).
TEST(Loader, SortsReplicasByPriority) {
  auto r = load_ungated(
      std::string(kBucket.substr(0, kBucket.find("    s3:"))) +
      "    s3:\n"
      "      replicas:\n"
      "        - {name: two, bucket: b2, access_key: A, secret_key: S, priority: 2}\n"
      "        - {name: one, bucket: b1, access_key: A, secret_key: S, priority: 1}\n");
  ASSERT_LOADS(r);
  const auto& reps = r.config->buckets[0].s3.replicas;
  ASSERT_EQ(reps.size(), 2u);
  EXPECT_EQ(reps[0].name, "one");
  EXPECT_EQ(reps[1].name, "two");
}

// server.address may carry the port: "host:port".
TEST(Loader, AcceptsHostPortAddress) {
  auto r = load(with_bucket("server:\n  address: \"127.0.0.1:9090\"\n"));
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->server.address, "127.0.0.1");
  EXPECT_EQ(r.config->server.port, 9090);
}

// An IPv6 listener is written in brackets, with or without a port.
TEST(Loader, AcceptsBracketedIpv6Address) {
  auto r = load(with_bucket("server:\n  address: \"[::1]:8443\"\n"));
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->server.address, "::1");
  EXPECT_EQ(r.config->server.port, 8443);
  auto r2 = load(with_bucket("server:\n  address: \"[::]\"\n  port: 81\n"));
  ASSERT_LOADS(r2);
  EXPECT_EQ(r2.config->server.address, "::");
  EXPECT_EQ(r2.config->server.port, 81);
}

// The separate address + port form.
TEST(Loader, AcceptsSeparateAddressAndPort) {
  auto r = load(with_bucket("server:\n  address: localhost\n  port: 8000\n  threads: 3\n"));
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->server.address, "localhost");
  EXPECT_EQ(r.config->server.port, 8000);
  EXPECT_EQ(r.config->server.threads, 3u);
}

// A port in the address and a port key at once is ambiguous.
TEST(Loader, RejectsPortGivenTwice) {
  auto r = load(with_bucket("server:\n  address: \"127.0.0.1:9090\"\n  port: 9090\n"));
  EXPECT_ONLY_ERROR(r,
                    "test.yaml:11: server.port: the port is already given in server.address "
                    "('127.0.0.1:9090')");
}

// logging.level/format, metrics.port/enabled and shutdown.timeout_seconds.
TEST(Loader, ParsesLoggingMetricsAndShutdown) {
  auto r =
      load_ungated(with_bucket("logging:\n  level: debug\n  format: json\n"
                               "metrics:\n  enabled: false\n  port: 9100\n"
                               "shutdown:\n  timeout_seconds: 5\n"));
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->logging.level, "debug");
  EXPECT_EQ(r.config->logging.format, "json");
  EXPECT_FALSE(r.config->metrics_enabled);
  EXPECT_EQ(r.config->metrics_port, 9100u);
  EXPECT_EQ(r.config->shutdown_timeout_secs, 5u);
}

// A trailing '/' on path_prefix is dropped: "/pub/" routes like "/pub".
TEST(Loader, NormalizesTrailingSlashOfPathPrefix) {
  auto r = load(
      "buckets:\n  - name: a\n    path_prefix: /pub/\n    s3: {bucket: b, access_key: A, "
      "secret_key: S}\n");
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->buckets[0].path_prefix, "/pub");
}

// The full reference-style config (every section) parses into the expected values.
TEST(Loader, ParsesFullReferenceConfig) {
  std::ifstream f(kExamples + "/full-reference.yaml");
  std::string yaml((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto r = load_ungated(yaml, {{"JWT_SECRET", "jwt-s"},
                               {"PRODUCTS_SECRET", "prod-s"},
                               {"OPENFGA_TOKEN", "fga-t"},
                               {"REDIS_PASSWORD", "redis-p"}});
  ASSERT_LOADS(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.server.address, "127.0.0.1");
  EXPECT_EQ(c.server.port, 9090);
  EXPECT_EQ(c.server.threads, 4u);
  EXPECT_EQ(c.server.request_timeout_secs, 45u);
  EXPECT_EQ(c.server.max_concurrent_requests, 500u);
  EXPECT_EQ(c.server.security_limits.max_body_size, 1048576u);
  EXPECT_EQ(c.server.security_limits.max_uri_length, 4096u);
  ASSERT_TRUE(c.server.rate_limit);
  EXPECT_TRUE(c.server.rate_limit->enabled);
  EXPECT_EQ(c.server.rate_limit->global->requests_per_second, 1000u);
  EXPECT_EQ(c.server.rate_limit->per_ip->requests_per_second, 100u);

  ASSERT_TRUE(c.jwt);
  const JwtConfig& j = *c.jwt;
  EXPECT_TRUE(j.enabled);
  EXPECT_EQ(j.algorithm, "HS256");
  EXPECT_EQ(j.secret.reveal(), "jwt-s");
  ASSERT_EQ(j.token_sources.size(), 3u);
  EXPECT_EQ(j.token_sources[0].type, TokenSourceType::Bearer);
  EXPECT_EQ(j.token_sources[1].type, TokenSourceType::Header);
  EXPECT_EQ(j.token_sources[1].name, "X-Auth-Token");
  EXPECT_EQ(j.token_sources[2].type, TokenSourceType::Query);
  EXPECT_EQ(j.token_sources[2].name, "token");
  ASSERT_EQ(j.claims.size(), 2u);
  EXPECT_EQ(j.claims[0].claim, "role");
  EXPECT_EQ(j.claims[0].op, ClaimOperator::In);
  ASSERT_EQ(j.claims[0].value.kind, ClaimValue::Kind::List);
  ASSERT_EQ(j.claims[0].value.items.size(), 2u);
  EXPECT_EQ(j.claims[0].value.items[1].text, "editor");
  EXPECT_EQ(j.claims[1].op, ClaimOperator::Regex);
  EXPECT_EQ(j.claims[1].value.text, "^.*@example\\.com$");
  ASSERT_EQ(j.admin_claims.size(), 1u);
  EXPECT_EQ(j.admin_claims[0].value.text, "admin");
  EXPECT_EQ(j.jwks_url, "https://auth.example.com/.well-known/jwks.json");
  EXPECT_EQ(j.jwks_refresh_interval_secs, 1800u);
  EXPECT_EQ(j.leeway_secs, 60u);

  ASSERT_EQ(c.buckets.size(), 3u);
  const BucketConfig& p = c.buckets[0];
  EXPECT_EQ(p.name, "products");
  EXPECT_EQ(p.s3.replicas.at(0).secret_key.reveal(), "prod-s");
  EXPECT_EQ(p.s3.replicas.at(0).endpoint, "https://s3.us-west-2.amazonaws.com");
  EXPECT_EQ(p.s3.timeout_secs, 30u);
  EXPECT_EQ(p.s3.replicas.at(0).timeout_secs, 30u);
  EXPECT_EQ(p.s3.connection_pool_size, 100u);
  ASSERT_TRUE(p.s3.circuit_breaker);
  EXPECT_EQ(p.s3.circuit_breaker->failure_threshold, 3u);
  EXPECT_EQ(p.s3.circuit_breaker->success_threshold, 2u);
  EXPECT_EQ(p.s3.circuit_breaker->timeout_seconds, 30u);
  EXPECT_EQ(p.s3.circuit_breaker->half_open_max_requests, 3u);
  ASSERT_TRUE(p.s3.retry);
  EXPECT_EQ(p.s3.retry->max_attempts, 5u);
  EXPECT_EQ(p.s3.retry->initial_backoff_ms, 200u);
  EXPECT_EQ(p.s3.retry->max_backoff_ms, 5000u);
  ASSERT_TRUE(p.s3.rate_limit);
  EXPECT_EQ(p.s3.rate_limit->requests_per_second, 500u);
  EXPECT_TRUE(p.auth_enabled);
  ASSERT_TRUE(p.cache);
  EXPECT_EQ(p.cache->enabled, std::optional<bool>(true));
  EXPECT_EQ(p.cache->ttl_seconds, std::optional<uint64_t>(7200));
  EXPECT_EQ(p.ip_filter.allowlist, (std::vector<std::string>{"10.0.0.0/8", "192.168.1.0/24"}));
  EXPECT_EQ(p.ip_filter.blocklist, (std::vector<std::string>{"10.0.0.50"}));

  const BucketConfig& ha = c.buckets[1];
  ASSERT_EQ(ha.s3.replicas.size(), 2u);
  EXPECT_EQ(ha.s3.replicas[0].name, "primary");
  EXPECT_EQ(ha.s3.replicas[0].timeout_secs, 5u);
  EXPECT_EQ(ha.s3.replicas[1].name, "replica-eu");
  EXPECT_EQ(ha.s3.replicas[1].timeout_secs, 20u);
  ASSERT_TRUE(ha.authorization);
  EXPECT_EQ(ha.authorization->type, AuthorizationType::Opa);
  EXPECT_EQ(ha.authorization->opa_url, "http://localhost:8181");
  EXPECT_EQ(ha.authorization->opa_policy_path, "yatagarasu/authz/allow");
  EXPECT_EQ(ha.authorization->opa_timeout_ms, 200u);
  EXPECT_EQ(ha.authorization->cache_ttl_seconds, 120u);
  EXPECT_EQ(ha.authorization->deny_cache_ttl_seconds, 30u);
  EXPECT_EQ(ha.authorization->fail_mode, FailMode::Open);

  const BucketConfig& sh = c.buckets[2];
  ASSERT_TRUE(sh.authorization);
  EXPECT_EQ(sh.authorization->type, AuthorizationType::OpenFga);
  EXPECT_EQ(sh.authorization->openfga_endpoint, "http://localhost:8080");
  EXPECT_EQ(sh.authorization->openfga_store_id, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
  EXPECT_EQ(sh.authorization->openfga_authorization_model_id, "01HXJR6WBQD3ABCDEFGHIJKLMN");
  EXPECT_EQ(sh.authorization->openfga_api_token.reveal(), "fga-t");
  EXPECT_EQ(sh.authorization->openfga_timeout_ms, 150u);
  EXPECT_EQ(sh.authorization->cache_ttl_seconds, 300u);
  EXPECT_EQ(sh.authorization->fail_mode, FailMode::Closed);
  EXPECT_EQ(sh.authorization->openfga_user_claim, "user.id");

  EXPECT_TRUE(c.cache.enabled);
  EXPECT_EQ(c.cache.cache_layers, (std::vector<std::string>{"memory", "disk", "redis"}));
  EXPECT_EQ(c.cache.memory.max_item_size_mb, 20u);
  EXPECT_EQ(c.cache.memory.max_cache_size_mb, 2048u);
  EXPECT_EQ(c.cache.memory.default_ttl_seconds, 600u);
  EXPECT_TRUE(c.cache.disk.enabled);
  EXPECT_EQ(c.cache.disk.cache_dir, "/tmp/yatagarasu-cache");
  EXPECT_EQ(c.cache.disk.max_disk_cache_size_mb, 5120u);
  EXPECT_FALSE(c.cache.disk.sendfile.enabled);
  EXPECT_EQ(c.cache.disk.sendfile.threshold_bytes, 131072u);
  EXPECT_TRUE(c.cache.redis.enabled);
  EXPECT_EQ(c.cache.redis.redis_url, "redis://localhost:6379");
  EXPECT_EQ(c.cache.redis.redis_password.reveal(), "redis-p");
  EXPECT_EQ(c.cache.redis.redis_db, 2u);
  EXPECT_EQ(c.cache.redis.redis_key_prefix, "yg:");
  EXPECT_EQ(c.cache.redis.redis_ttl_seconds, 7200u);

  EXPECT_TRUE(c.audit_log.enabled);
  EXPECT_EQ(c.audit_log.outputs,
            (std::vector<AuditOutput>{AuditOutput::File, AuditOutput::Syslog}));
  EXPECT_EQ(c.audit_log.log_level, "warn");
  ASSERT_TRUE(c.audit_log.file);
  EXPECT_EQ(c.audit_log.file->path, "/var/log/yatagarasu/audit.log");
  EXPECT_EQ(c.audit_log.file->max_file_size_mb, 100u);
  EXPECT_EQ(c.audit_log.file->max_backup_files, 10u);
  EXPECT_EQ(c.audit_log.file->rotation_policy, RotationPolicy::Daily);
  EXPECT_EQ(c.audit_log.file->buffer_size, 2097152u);
  ASSERT_TRUE(c.audit_log.syslog);
  EXPECT_EQ(c.audit_log.syslog->address, "localhost:514");
  EXPECT_EQ(c.audit_log.syslog->protocol, SyslogProtocol::Tcp);
  EXPECT_EQ(c.audit_log.syslog->facility, "local3");

  EXPECT_TRUE(c.observability.tracing.enabled);
  EXPECT_EQ(c.observability.tracing.otlp_endpoint, "http://localhost:4317");
  EXPECT_EQ(c.observability.tracing.service_name, "my-proxy");
  EXPECT_DOUBLE_EQ(c.observability.tracing.sampling_ratio, 0.5);
  EXPECT_TRUE(c.observability.request_logging.log_requests);
  EXPECT_EQ(c.observability.request_logging.exclude_paths, (std::vector<std::string>{"/health"}));
  EXPECT_EQ(c.observability.request_logging.status_codes, (std::vector<uint16_t>{400, 500}));
  EXPECT_TRUE(c.observability.slow_query.enabled);
  EXPECT_EQ(c.observability.slow_query.threshold_ms, 2000u);
}

// The forms the reference's docs show: auth.jwt, nested opa/openfga blocks with a decision
// cache, claims_verification with `name:`, host:port listeners, metrics.port, shutdown.
TEST(Loader, ParsesDocumentedAlternateForms) {
  auto r = load_file(kExamples + "/docs-forms.yaml", test::env_of({}));
  // Nothing in this file is gated any more (authorization arrived with issue #5).
  ASSERT_LOADS(r);
  std::ifstream f(kExamples + "/docs-forms.yaml");
  std::string yaml((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto u = load_ungated(yaml);
  ASSERT_LOADS(u);
  const Config& c = *u.config;
  EXPECT_EQ(c.server.address, "::1");
  EXPECT_EQ(c.server.port, 8443);
  EXPECT_EQ(c.server.threads, 2u);
  ASSERT_TRUE(c.jwt);
  EXPECT_FALSE(c.jwt->enabled);
  const BucketConfig& p = c.buckets.at(0);
  EXPECT_EQ(p.path_prefix, "/private");
  EXPECT_TRUE(p.auth_enabled);
  ASSERT_TRUE(p.jwt);
  EXPECT_TRUE(p.jwt->enabled);
  EXPECT_EQ(p.jwt->algorithm, "HS512");
  EXPECT_EQ(p.jwt->secret.reveal(), "dev-secret");
  ASSERT_EQ(p.jwt->token_sources.size(), 1u);
  EXPECT_EQ(p.jwt->token_sources[0].prefix, "Bearer ");
  ASSERT_EQ(p.jwt->claims.size(), 1u);
  EXPECT_EQ(p.jwt->claims[0].claim, "role");
  EXPECT_EQ(p.jwt->claims[0].value.text, "user");
  ASSERT_TRUE(p.authorization);
  EXPECT_EQ(p.authorization->type, AuthorizationType::Opa);
  EXPECT_EQ(p.authorization->opa_url, "http://opa:8181");
  EXPECT_EQ(p.authorization->opa_policy_path, "s3/authz/allow");
  EXPECT_EQ(p.authorization->fail_mode, FailMode::Open);
  EXPECT_EQ(p.authorization->cache_ttl_seconds, 20u);
  EXPECT_EQ(p.authorization->deny_cache_ttl_seconds, 20u);  // never above the allow TTL
  ASSERT_TRUE(p.cache);
  EXPECT_EQ(p.cache->enabled, std::optional<bool>(false));
  const BucketConfig& g = c.buckets.at(1);
  ASSERT_TRUE(g.jwt);
  EXPECT_EQ(g.jwt->token_sources.size(), 1u);  // default: bearer
  EXPECT_EQ(g.jwt->token_sources[0].type, TokenSourceType::Bearer);
  ASSERT_TRUE(g.authorization);
  EXPECT_EQ(g.authorization->type, AuthorizationType::OpenFga);
  EXPECT_EQ(g.authorization->openfga_endpoint, "http://openfga:8080");
  EXPECT_EQ(g.authorization->openfga_api_token.reveal(), "token");
  EXPECT_EQ(g.authorization->deny_cache_ttl_seconds, 10u);
  EXPECT_EQ(c.logging.level, "debug");
  EXPECT_EQ(c.metrics_port, 9100u);
  EXPECT_EQ(c.shutdown_timeout_secs, 15u);
}

// The minimal example loads with its environment.
TEST(Loader, LoadsMinimalExampleFile) {
  auto r = load_file(kExamples + "/minimal.yaml",
                     test::env_of({{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"}}));
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->source_path, kExamples + "/minimal.yaml");
  EXPECT_EQ(r.config->buckets[0].s3.replicas[0].endpoint, "http://127.0.0.1:9000");
}

// A missing file is one error naming the file.
TEST(Loader, ReportsMissingFile) {
  auto r = load_file("/nonexistent/yg.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "/nonexistent/yg.yaml: cannot open file: No such file or directory");
}

// A YAML syntax error is one error with its line.
TEST(Loader, ReportsYamlSyntaxErrorWithLine) {
  auto r = load("server:\n  address: \"127.0.0.1\"\n  port: [invalid syntax here}\n");
  ASSERT_EQ(r.errors.size(), 1u) << test::joined(r);
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].key_path, "");
  EXPECT_NE(r.errors[0].what.find("YAML syntax error"), std::string::npos);
}

// An unclosed quote is a syntax error too.
TEST(Loader, ReportsUnclosedQuote) {
  auto r = load(with_bucket("logging:\n  level: \"info\n"));
  ASSERT_EQ(r.errors.size(), 1u) << test::joined(r);
  EXPECT_GE(r.errors[0].line, 10);
}

// A top-level ',' makes yaml-cpp 0.7 loop forever in LoadAll; it is a syntax error here.
TEST(Loader, ReportsStrayTopLevelCommaWithoutHanging) {
  EXPECT_ONLY_ERROR(load(","), "test.yaml:1: YAML syntax error: unexpected ','");
  EXPECT_ONLY_ERROR(load("[a]\n,"), "test.yaml:2: YAML syntax error: unexpected ','");
  EXPECT_ONLY_ERROR(load(with_bucket("---\n  ,{\n")),
                    "test.yaml:10: YAML syntax error: unexpected ','");
}

// An empty file is not a config.
TEST(Loader, RejectsEmptyFile) {
  EXPECT_ONLY_ERROR(load(""),
                    "test.yaml:1: the configuration is empty (expected a mapping with "
                    "server, buckets, ...)");
  EXPECT_ONLY_ERROR_AT(load("# only a comment\n"), 1, "", "empty");
}

// The top level must be a mapping.
TEST(Loader, RejectsNonMappingTopLevel) {
  EXPECT_ONLY_ERROR(load("- a\n- b\n"),
                    "test.yaml:1: expected a mapping (key: value lines), got a list");
}

// A second YAML document would be silently ignored, so it is an error.
TEST(Loader, RejectsSecondDocument) {
  auto r = load(with_bucket("---\nserver: {port: 1}\n"));
  EXPECT_ONLY_ERROR_AT(r, 9, "", "more than one YAML document");
}

// An unknown key is an error at its line, with a hint for a likely typo.
TEST(Loader, RejectsUnknownKeyWithHint) {
  auto r = load(with_bucket("server:\n  prot: 80\n"));
  EXPECT_ONLY_ERROR(r, "test.yaml:10: server.prot: unknown key (did you mean 'port'?)");
}

// Unknown keys are found at every depth.
TEST(Loader, RejectsUnknownKeysAnywhere) {
  auto r = load(
      "buckets:\n"
      "  - name: a\n"
      "    path_prefix: /a\n"
      "    colour: red\n"
      "    s3:\n"
      "      bucket: b\n"
      "      acess_key: AK\n"
      "      access_key: AK\n"
      "      secret_key: SK\n"
      "    auth:\n"
      "      enabeld: true\n"
      "      enabled: false\n"
      "bogus: 1\n");
  ASSERT_EQ(r.errors.size(), 4u) << test::joined(r);
  EXPECT_EQ(r.errors[0].to_string(), "test.yaml:4: buckets[0].colour: unknown key");
  EXPECT_EQ(r.errors[1].to_string(),
            "test.yaml:7: buckets[0].s3.acess_key: unknown key (did you mean 'access_key'?)");
  EXPECT_EQ(r.errors[2].to_string(),
            "test.yaml:11: buckets[0].auth.enabeld: unknown key (did you mean 'enabled'?)");
  EXPECT_EQ(r.errors[3].to_string(), "test.yaml:13: bogus: unknown key");
}

// A typo in auth never leaves a bucket public: the misspelt key fails loading.
TEST(Loader, TypoInAuthNeverDisablesAuth) {
  auto r = load(with_bucket("    auth:\n      enable: false\n"));
  EXPECT_FALSE(r.config.has_value());
  bool found = false;
  for (const auto& e : r.errors) {
    found = found || (e.key_path == "buckets[0].auth.enable" && e.line == 10);
  }
  EXPECT_TRUE(found) << test::joined(r);
}

// A duplicated key would silently override the first; it is an error at the second.
TEST(Loader, RejectsDuplicateKey) {
  auto r = load(with_bucket("logging:\n  level: info\n  level: debug\n"));
  EXPECT_ONLY_ERROR(r, "test.yaml:11: logging.level: duplicate key (first given at line 10)");
}

// A string where a number is expected.
TEST(Loader, RejectsStringForInteger) {
  EXPECT_ONLY_ERROR(load(with_bucket("server:\n  port: eighty\n")),
                    "test.yaml:10: server.port: expected a whole number, got 'eighty'");
}

// Negative numbers are refused for unsigned settings.
TEST(Loader, RejectsNegativeNumber) {
  EXPECT_ONLY_ERROR(load(with_bucket("server:\n  request_timeout: -5\n")),
                    "test.yaml:10: server.request_timeout: must not be negative, got '-5'");
}

// Fractions are refused for whole-number settings.
TEST(Loader, RejectsFractionForInteger) {
  EXPECT_ONLY_ERROR_AT(load(with_bucket("server:\n  max_concurrent_requests: 1.5\n")), 10,
                       "server.max_concurrent_requests", "expected a whole number");
}

// A number too large for its field.
TEST(Loader, RejectsOverflowingNumber) {
  EXPECT_ONLY_ERROR_AT(load(with_bucket("server:\n  request_timeout: 99999999999999999999999\n")),
                       10, "server.request_timeout", "at least 1");
}

// Only true/false are booleans; "yes" or a typo is an error, not a silent false.
TEST(Loader, RejectsNonBooleanForBoolean) {
  EXPECT_ONLY_ERROR(load(with_bucket("    auth:\n      enabled: ture\n")),
                    "test.yaml:10: buckets[0].auth.enabled: expected true or false, got 'ture'");
  EXPECT_ONLY_ERROR_AT(load(with_bucket("cache:\n  enabled: yes\n")), 10, "cache.enabled",
                       "expected true or false");
}

// CACHE-5 overrides need the global layers; the item limit is every layer's.
TEST(Loader, CacheRules) {
  auto r = load(with_bucket(
      "    cache: {enabled: true, ttl_seconds: 5, max_item_size_mb: 2}\n"
      "cache:\n  enabled: true\n  stale_if_error_seconds: 30\n"
      "  memory: {max_item_size_mb: 4}\n  disk: {enabled: true, cache_dir: /tmp/x, fsync: true}\n"
      "  cache_layers: [memory, disk]\nserver:\n  coalescing: false\n"));
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->cache.stale_if_error_seconds, 30u);
  EXPECT_TRUE(r.config->cache.disk.fsync);
  EXPECT_FALSE(r.config->server.coalescing);
  EXPECT_EQ(r.config->buckets[0].cache->ttl_seconds, 5u);
  EXPECT_ONLY_ERROR_AT(load(with_bucket("    cache:\n      enabled: true\n")), 10,
                       "buckets[0].cache.enabled", "needs the global cache.enabled: true");
  EXPECT_ONLY_ERROR_AT(load(with_bucket("    cache:\n      max_item_size_mb: 50\n"
                                        "cache:\n  enabled: true\n")),
                       10, "buckets[0].cache.max_item_size_mb",
                       "must not exceed cache.memory.max_item_size_mb (10)");
  EXPECT_ONLY_ERROR_AT(load(with_bucket("cache:\n  stale_if_error_seconds: 999999999\n")), 10,
                       "cache.stale_if_error_seconds", "between 0 and 604800");
}

// A mapping where a value is expected, and a value where a mapping is expected.
TEST(Loader, RejectsWrongShapes) {
  EXPECT_ONLY_ERROR(load(with_bucket("logging:\n  level: {a: 1}\n")),
                    "test.yaml:10: logging.level: expected a value, got a mapping");
  EXPECT_ONLY_ERROR(load(with_bucket("server: 8080\n")),
                    "test.yaml:9: server: expected a mapping (key: value lines), got a value");
  EXPECT_ONLY_ERROR(load("buckets: {name: a}\n"),
                    "test.yaml:1: buckets: expected a list, got a mapping");
  EXPECT_ONLY_ERROR(load(with_bucket("jwt:\n  enabled: false\n  claims: role\n")),
                    "test.yaml:11: jwt.claims: expected a list, got a value");
}

// A list item that is not a mapping.
TEST(Loader, RejectsNonMappingListItem) {
  EXPECT_ONLY_ERROR(load("buckets:\n  - just-a-name\n"),
                    "test.yaml:2: buckets[0]: expected a mapping (key: value lines), got a value");
}

// Keys must be plain names.
TEST(Loader, RejectsComplexKeys) {
  EXPECT_ONLY_ERROR_AT(load(with_bucket("? [a, b]\n: 1\n")), 9, "", "keys must be plain names");
}

// Required keys: buckets at the top, name/path_prefix/s3 per bucket, credentials per backend.
TEST(Loader, ReportsMissingRequiredKeys) {
  EXPECT_ONLY_ERROR(load("server:\n  port: 80\n"), "test.yaml:1: buckets: missing required key");
  auto r = load("buckets:\n  - path_prefix: /a\n  - name: b\n    s3: {bucket: x}\n");
  ASSERT_EQ(r.errors.size(), 5u) << test::joined(r);
  EXPECT_EQ(r.errors[0].to_string(), "test.yaml:2: buckets[0].name: missing required key");
  EXPECT_EQ(r.errors[1].to_string(), "test.yaml:2: buckets[0].s3: missing required key");
  EXPECT_EQ(r.errors[2].to_string(), "test.yaml:3: buckets[1].path_prefix: missing required key");
  EXPECT_EQ(r.errors[3].to_string(), "test.yaml:4: buckets[1].s3.access_key: missing required key");
  EXPECT_EQ(r.errors[4].to_string(), "test.yaml:4: buckets[1].s3.secret_key: missing required key");
}

// A key with no value counts as missing, not as an empty string.
TEST(Loader, NullValueCountsAsMissing) {
  auto r = load(
      "buckets:\n  - name:\n    path_prefix: /a\n    s3: {bucket: b, access_key: A, secret_key: "
      "S}\n");
  EXPECT_ONLY_ERROR(r, "test.yaml:2: buckets[0].name: missing required key");
}

// Empty credentials (e.g. from an empty variable) are refused.
TEST(Loader, RejectsEmptyCredentials) {
  auto r = load(
      "buckets:\n  - name: a\n    path_prefix: /a\n    s3:\n      bucket: b\n"
      "      access_key: \"${AK:-}\"\n      secret_key: SK\n");
  EXPECT_ONLY_ERROR(r, "test.yaml:6: buckets[0].s3.access_key: must not be empty");
}

// Every error of the file is reported at once, in file order.
TEST(Loader, CollectsAllErrorsInFileOrder) {
  auto r = load(
      "server:\n"                  // 1
      "  port: 70000\n"            // 2
      "  threads: 2000\n"          // 3
      "logging:\n"                 // 4
      "  level: loud\n"            // 5
      "  format: xml\n"            // 6
      "buckets:\n"                 // 7
      "  - name: a\n"              // 8
      "    path_prefix: a\n"       // 9
      "    s3:\n"                  // 10
      "      bucket: b\n"          // 11
      "      endpoint: ftp://x\n"  // 12
      "      access_key: A\n"      // 13
      "      secret_key: S\n"      // 14
      "  - name: a\n"              // 15
      "    path_prefix: /b\n"      // 16
      "    s3: {bucket: b, access_key: A, secret_key: S}\n");
  ASSERT_EQ(r.errors.size(), 7u) << test::joined(r);
  const std::vector<int> lines = {2, 3, 5, 6, 9, 12, 15};
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(r.errors[i].line, lines[i]) << r.errors[i].to_string();
  }
  EXPECT_EQ(r.errors[0].to_string(),
            "test.yaml:2: server.port: must be between 1 and 65535, got 70000");
  EXPECT_EQ(r.errors[1].to_string(),
            "test.yaml:3: server.threads: must be between 0 and 1024, got 2000");
  EXPECT_EQ(r.errors[2].to_string(),
            "test.yaml:5: logging.level: 'loud' is not one of: trace, debug, info, warn, error, "
            "critical, off");
  EXPECT_EQ(r.errors[3].to_string(),
            "test.yaml:6: logging.format: 'xml' is not one of: text, json");
  EXPECT_EQ(r.errors[4].to_string(),
            "test.yaml:9: buckets[0].path_prefix: 'a' must start with '/'");
  EXPECT_EQ(r.errors[5].to_string(),
            "test.yaml:12: buckets[0].s3.endpoint: 'ftp://x' must start with http:// or https://");
  EXPECT_EQ(r.errors[6].to_string(),
            "test.yaml:15: buckets[1].name: duplicate bucket name 'a' (also buckets[0])");
}

// Keys the reference has but this proxy refuses on purpose get a precise message.
TEST(Loader, RefusesUnsupportedReferenceFeatures) {
  EXPECT_ONLY_ERROR(
      load(with_bucket("image_optimization:\n  enabled: false\n")),
      "test.yaml:9: image_optimization: image optimization is not supported by this proxy");
  EXPECT_ONLY_ERROR(
      load(with_bucket("    watermark: {}\n")),
      "test.yaml:9: buckets[0].watermark: image watermarking is not supported by this proxy");
  EXPECT_ONLY_ERROR(load(with_bucket("    path: /a\n")),
                    "test.yaml:9: buckets[0].path: unknown key (the route prefix is path_prefix)");
  EXPECT_ONLY_ERROR(load(with_bucket("    jwt: {enabled: true}\n")),
                    "test.yaml:9: buckets[0].jwt: per-bucket JWT settings go under auth.jwt");
  EXPECT_ONLY_ERROR(
      load(with_bucket("cache:\n  warming: {}\n")),
      "test.yaml:10: cache.warming: cache pre-warming is not supported by this proxy");
  EXPECT_ONLY_ERROR(
      load(with_bucket("audit_log:\n  s3_export: {}\n")),
      "test.yaml:10: audit_log.s3_export: exporting audit logs to S3 is not supported "
      "(use the file output)");
  EXPECT_ONLY_ERROR_AT(load(with_bucket("audit_log:\n  outputs: [s3]\n")), 10,
                       "audit_log.outputs[0]", "not supported");
}

// Aliases are followed; YAML merge keys are not supported and say so as an unknown key.
TEST(Loader, FollowsAliases) {
  auto r = load(
      "buckets:\n"
      "  - name: a\n"
      "    path_prefix: /a\n"
      "    s3: &creds {bucket: b, access_key: A, secret_key: S}\n"
      "  - name: b\n"
      "    path_prefix: /b\n"
      "    s3: *creds\n");
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->buckets[1].s3.replicas[0].bucket, "b");
}

// ConfigError text leaves out the parts it does not know.
TEST(ConfigErrorText, LeavesOutUnknownParts) {
  EXPECT_EQ((ConfigError{"f.yaml", 3, 1, "a.b", "bad"}).to_string(), "f.yaml:3: a.b: bad");
  EXPECT_EQ((ConfigError{"f.yaml", 0, 0, "a.b", "bad"}).to_string(), "f.yaml: a.b: bad");
  EXPECT_EQ((ConfigError{"f.yaml", 3, 0, "", "bad"}).to_string(), "f.yaml:3: bad");
  EXPECT_EQ((ConfigError{"", 3, 0, "", "bad"}).to_string(), "<config>:3: bad");
}

}  // namespace
}  // namespace yg::config
