// The feature gate: sections that later issues implement are parsed and checked now, but a
// config that switches one on fails loading with "not available yet in this build (issue #N)".
// A present but disabled section loads.

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace yg::config {
namespace {

using test::load;
using test::with_bucket;

struct GateCase {
  const char* name;
  std::string yaml;  // appended to kBucket
  int line;
  const char* path;
  int issue;
};

void PrintTo(const GateCase& c, std::ostream* os) {
  *os << c.name;
}

class GateTest : public ::testing::TestWithParam<GateCase> {};

// Each gated feature fails loading with one error at the line that switches it on.
TEST_P(GateTest, RefusesEnabledFeature) {
  const GateCase& c = GetParam();
  auto r = load(with_bucket(c.yaml));
  EXPECT_ONLY_ERROR_AT(
      r, c.line, c.path,
      "is not available yet in this build (issue #" + std::to_string(c.issue) + ")");
}

const GateCase kGated[] = {
    {"SecondReplica",
     "  - name: ha\n    path_prefix: /ha\n    s3:\n      replicas:\n"
     "        - {name: p, bucket: b, access_key: A, secret_key: S, priority: 1}\n"
     "        - {name: q, bucket: b, access_key: A, secret_key: S, priority: 2}\n",
     14, "buckets[1].s3.replicas[1]", 8},
    {"CircuitBreaker", "      circuit_breaker: {}\n", 9, "buckets[0].s3.circuit_breaker", 8},
    {"Retry", "      retry: {}\n", 9, "buckets[0].s3.retry", 8},
    {"BucketRateLimit", "      rate_limit: {requests_per_second: 5}\n", 9,
     "buckets[0].s3.rate_limit", 8},
    {"ServerRateLimit",
     "server:\n  rate_limit:\n    enabled: true\n    global: {requests_per_second: 5}\n", 10,
     "server.rate_limit", 8},
    {"IpFilter", "    ip_filter:\n      allowlist: [10.0.0.0/8]\n", 9, "buckets[0].ip_filter", 8},
};

INSTANTIATE_TEST_SUITE_P(Config, GateTest, ::testing::ValuesIn(kGated),
                         [](const ::testing::TestParamInfo<GateCase>& info) {
                           return std::string(info.param.name);
                         });

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
  for (int issue : {8}) {
    EXPECT_NE(all.find("(issue #" + std::to_string(issue) + ")"), std::string::npos)
        << "issue " << issue << "\n"
        << all;
  }
  for (const auto& e : r.errors) {
    EXPECT_TRUE(e.what.find("not available yet") != std::string::npos ||
                e.what.find("not supported by this build") != std::string::npos)
        << e.to_string();
    EXPECT_GT(e.line, 0) << e.to_string();
  }
}

}  // namespace
}  // namespace yg::config
