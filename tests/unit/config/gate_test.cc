// The feature gate: sections that later issues implement are parsed and checked now, but a
// config that switches one on fails loading with "not available yet in this build (issue #N)".
// A present but disabled section loads.

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace yg::config {
namespace {

using test::load;
using test::with_bucket;

// Issue #8 made these run: they load (TLS files are read when the runtime is built).
TEST(FeatureGate, ResilienceFeaturesLoad) {
  auto r = load(
      with_bucket("  - name: ha\n    path_prefix: /ha\n    ip_filter: {allowlist: [10.0.0.0/8]}\n"
                  "    s3:\n      circuit_breaker: {failure_threshold: 2}\n"
                  "      retry: {max_attempts: 2}\n      rate_limit: {requests_per_second: 5}\n"
                  "      replicas:\n"
                  "        - {name: p, bucket: b, access_key: A, secret_key: S, priority: 1}\n"
                  "        - {name: q, bucket: b, access_key: A, secret_key: S, priority: 2}\n"
                  "server:\n  tls: {cert_path: /c, key_path: /k}\n  trusted_proxies: [127.0.0.1]\n"
                  "  rate_limit:\n    enabled: true\n    global: {requests_per_second: 5}\n"));
  ASSERT_TRUE(r.config.has_value()) << test::joined(r);
  EXPECT_EQ(r.config->buckets[1].s3.replicas.size(), 2u);
}

// Features no open issue implements say so, without an issue number.
TEST(FeatureGate, UnplannedFeaturesSaySo) {
  auto r = load(with_bucket("observability:\n  tracing: {enabled: true, exporter: none}\n"));
  EXPECT_ONLY_ERROR_AT(r, 10, "observability.tracing.enabled",
                       "Trace export (OTLP/Jaeger/Zipkin) is not supported by this build");
  r = load(with_bucket("observability:\n  request_logging:\n    log_requests: true\n"));
  EXPECT_ONLY_ERROR_AT(r, 10, "observability.request_logging", "is not supported by this build");
}

// Issue #3 made these run: they load.
TEST(FeatureGate, ObservabilityFeaturesLoad) {
  auto r =
      load(with_bucket("audit_log:\n  enabled: true\n  outputs: [file, syslog]\n  queue_size: 50\n"
                       "  file: {path: /var/log/a.log, rotation_policy: daily}\n"
                       "  syslog: {address: \"127.0.0.1:514\", protocol: tcp}\n"
                       "metrics:\n  port: 9100\n"
                       "observability:\n  slow_query: {enabled: true, threshold_ms: 250}\n"
                       "logging:\n  access_log: false\n"));
  ASSERT_LOADS(r);
  EXPECT_TRUE(r.config->audit_log.enabled);
  EXPECT_EQ(r.config->audit_log.queue_size, 50u);
  EXPECT_EQ(r.config->metrics_port, 9100u);
  EXPECT_TRUE(r.config->observability.slow_query.enabled);
  EXPECT_FALSE(r.config->logging.access_log);
}

// Sections present but switched off load fine, with their values checked.
TEST(FeatureGate, DisabledSectionsLoad) {
  auto r =
      load(with_bucket("    auth: {enabled: false}\n"
                       "    cache: {enabled: false, ttl_seconds: 60}\n"
                       "    ip_filter: {allowlist: [], blocklist: []}\n"
                       "server:\n"
                       "  rate_limit:\n"
                       "    enabled: false\n"
                       "    global: {requests_per_second: 10}\n"
                       "jwt:\n"
                       "  enabled: false\n"
                       "cache:\n"
                       "  enabled: false\n"
                       "  memory: {max_cache_size_mb: 64}\n"
                       "  disk: {enabled: false}\n"
                       "  redis: {enabled: false, redis_url: \"redis://r:6379\"}\n"
                       "audit_log:\n"
                       "  enabled: false\n"
                       "observability:\n"
                       "  tracing: {enabled: false}\n"
                       "  slow_query: {enabled: false}\n"
                       "metrics:\n"
                       "  enabled: true\n"));
  ASSERT_LOADS(r);
  const Config& c = *r.config;
  EXPECT_FALSE(c.buckets[0].auth_enabled);
  EXPECT_EQ(c.cache.memory.max_cache_size_mb, 64u);
  ASSERT_TRUE(c.server.rate_limit);
  EXPECT_FALSE(c.server.rate_limit->enabled);
}

// Every gated feature is reported at once, each with its issue.
TEST(FeatureGate, ReportsEveryGatedFeatureOfTheReferenceExample) {
  auto r = load_file(std::string(YG_CONFIG_EXAMPLES_DIR) + "/full-reference.yaml",
                     test::env_of({{"JWT_SECRET", "a"},
                                   {"PRODUCTS_SECRET", "b"},
                                   {"OPENFGA_TOKEN", "c"},
                                   {"REDIS_PASSWORD", "d"}}));
  EXPECT_FALSE(r.config.has_value());
  std::string all = test::joined(r);
  // Every feature of the reference example runs now except the two no issue plans.
  EXPECT_NE(all.find("Trace export"), std::string::npos) << all;
  EXPECT_EQ(all.find("not available yet"), std::string::npos) << all;
  for (const auto& e : r.errors) {
    EXPECT_TRUE(e.what.find("not available yet") != std::string::npos ||
                e.what.find("not supported by this build") != std::string::npos)
        << e.to_string();
    EXPECT_GT(e.line, 0) << e.to_string();
  }
}

}  // namespace
}  // namespace yg::config
