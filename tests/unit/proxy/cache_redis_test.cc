// cache.redis settings as Redis client options (proxy/cache_redis.h): URL parts, overrides,
// cluster seeds.
#include "proxy/cache_redis.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace yg::proxy {
namespace {

config::RedisCacheConfig cfg(std::string url) {
  config::RedisCacheConfig c;
  c.enabled = true;
  c.redis_url = std::move(url);
  return c;
}

TEST(RedisClientOptions, UrlGivesHostPortUserPasswordDbAndTls) {
  auto o = redis_client_options(cfg("rediss://app:s3cr%40t@cache.internal:6380/4"));
  ASSERT_EQ(o.nodes.size(), 1u);
  EXPECT_EQ(o.nodes[0].host, "cache.internal");
  EXPECT_EQ(o.nodes[0].port, 6380);
  EXPECT_EQ(o.username, "app");
  EXPECT_EQ(o.password.reveal(), "s3cr@t");
  EXPECT_EQ(o.db, 4u);
  EXPECT_TRUE(o.tls);
  EXPECT_FALSE(o.cluster);

  auto plain = redis_client_options(cfg("redis://127.0.0.1"));
  EXPECT_EQ(plain.nodes[0].port, 6379);
  EXPECT_EQ(plain.db, 0u);
  EXPECT_FALSE(plain.tls);
  EXPECT_TRUE(plain.username.empty());
  EXPECT_TRUE(plain.password.empty());

  auto pw_only = redis_client_options(cfg("redis://:only-pw@[::1]:7000"));
  EXPECT_EQ(pw_only.nodes[0].host, "::1");
  EXPECT_EQ(pw_only.nodes[0].port, 7000);
  EXPECT_TRUE(pw_only.username.empty());
  EXPECT_EQ(pw_only.password.reveal(), "only-pw");
}

TEST(RedisClientOptions, ExplicitSettingsOverrideTheUrl) {
  auto c = cfg("redis://u:url-pw@h:6379/1");
  c.redis_username = "acl-user";
  c.redis_password = Secret("cfg-pw");
  c.redis_db = 9;
  c.pool_size = 5;
  c.connect_timeout_ms = 700;
  c.command_timeout_ms = 40;
  c.tls_ca_file = "/etc/ca.pem";
  auto o = redis_client_options(c);
  EXPECT_EQ(o.username, "acl-user");
  EXPECT_EQ(o.password.reveal(), "cfg-pw");
  EXPECT_EQ(o.db, 9u);
  EXPECT_EQ(o.pool_size, 5u);
  EXPECT_EQ(o.connect_timeout.count(), 700);
  EXPECT_EQ(o.command_timeout.count(), 40);
  EXPECT_EQ(o.tls_ca_file, "/etc/ca.pem");
}

TEST(RedisClientOptions, ClusterSeedsWithOrWithoutUrl) {
  config::RedisCacheConfig c;
  c.enabled = true;
  c.cluster = {"127.0.0.1:7000", "127.0.0.1:7001", "[::1]:7002"};
  auto o = redis_client_options(c);
  EXPECT_TRUE(o.cluster);
  ASSERT_EQ(o.nodes.size(), 3u);
  EXPECT_EQ(o.nodes[2].host, "::1");
  EXPECT_EQ(o.nodes[2].port, 7002);

  c.redis_url = "rediss://:pw@127.0.0.1:7000";  // scheme and credentials; host not repeated
  o = redis_client_options(c);
  EXPECT_TRUE(o.tls);
  EXPECT_EQ(o.password.reveal(), "pw");
  EXPECT_EQ(o.nodes.size(), 3u);
}

TEST(RedisClientOptions, ANonNumericDbIsRefused) {
  EXPECT_THROW(redis_client_options(cfg("redis://h:6379/cache")), std::invalid_argument);
}

}  // namespace
}  // namespace yg::proxy
