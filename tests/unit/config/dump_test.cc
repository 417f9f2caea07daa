// CONF-4: the redacted dump never shows a secret and loads back.

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace yg::config {
namespace {

constexpr std::string_view kSecretsConfig =
    "server:\n"
    "  address: 127.0.0.1:8080\n"
    "jwt:\n"
    "  enabled: false\n"
    "  algorithm: HS256\n"
    "  secret: jwt-secret-value\n"
    "  keys:\n"
    "    - {id: k, algorithm: HS512, secret: key-secret-value}\n"
    "buckets:\n"
    "  - name: a\n"
    "    path_prefix: /a\n"
    "    s3:\n"
    "      bucket: b\n"
    "      endpoint: http://minio:9000\n"
    "      access_key: AKIAEXAMPLE\n"
    "      secret_key: s3-secret-value\n"
    "      session_token: session-token-value\n"
    "    auth:\n"
    "      enabled: false\n"
    "      jwt:\n"
    "        algorithm: HS256\n"
    "        secret: bucket-jwt-secret-value\n"
    "        claims:\n"
    "          - {claim: role, operator: in, value: [a, 5, true]}\n"
    "cache:\n"
    "  redis:\n"
    "    redis_url: \"redis://:url-password-value@redis:6379/0\"\n"
    "    redis_password: redis-password-value\n";

// No secret value appears in the dump; each shows as "***".
TEST(DumpRedacted, NeverPrintsSecrets) {
  auto r = test::load(kSecretsConfig);
  ASSERT_LOADS(r);
  const std::string dump = dump_redacted(*r.config);
  for (const char* secret :
       {"jwt-secret-value", "key-secret-value", "s3-secret-value", "session-token-value",
        "bucket-jwt-secret-value", "url-password-value", "redis-password-value"}) {
    EXPECT_EQ(dump.find(secret), std::string::npos) << secret << "\n" << dump;
  }
  EXPECT_NE(dump.find("secret_key: \"***\""), std::string::npos) << dump;
  EXPECT_NE(dump.find("redis://***@redis:6379/0"), std::string::npos) << dump;
  EXPECT_NE(dump.find("AKIAEXAMPLE"), std::string::npos) << "access keys are not secret";
}

// An OpenFGA API token is redacted too.
TEST(DumpRedacted, RedactsOpenFgaToken) {
  auto r = test::load_ungated(test::with_bucket(
      "    auth:\n      enabled: true\n      jwt: {algorithm: HS256, secret: s}\n"
      "      openfga: {endpoint: http://f, store_id: s, api_token: fga-token-value}\n"));
  ASSERT_LOADS(r);
  const std::string dump = dump_redacted(*r.config);
  EXPECT_EQ(dump.find("fga-token-value"), std::string::npos) << dump;
  EXPECT_NE(dump.find("openfga_api_token: \"***\""), std::string::npos) << dump;
}

// The dump is a valid config: loading it gives the same values (secrets become "***").
TEST(DumpRedacted, LoadsBack) {
  auto r = test::load(kSecretsConfig);
  ASSERT_LOADS(r);
  const std::string dump = dump_redacted(*r.config);
  auto again = test::load(dump);
  ASSERT_LOADS(again);
  const Config& a = *r.config;
  const Config& b = *again.config;
  EXPECT_EQ(b.server.address, a.server.address);
  EXPECT_EQ(b.server.port, a.server.port);
  EXPECT_EQ(b.buckets[0].s3.replicas[0].endpoint, a.buckets[0].s3.replicas[0].endpoint);
  EXPECT_EQ(b.buckets[0].s3.replicas[0].secret_key.reveal(), "***");
  ASSERT_EQ(b.buckets[0].jwt->claims.size(), 1u);
  EXPECT_EQ(b.buckets[0].jwt->claims[0].value.items.size(), 3u);
  EXPECT_EQ(b.buckets[0].jwt->claims[0].value.items[1].kind, ClaimValue::Kind::Number);
  EXPECT_EQ(b.buckets[0].jwt->claims[0].value.items[2].kind, ClaimValue::Kind::Bool);
  EXPECT_EQ(dump_redacted(b), dump);
}

}  // namespace
}  // namespace yg::config
