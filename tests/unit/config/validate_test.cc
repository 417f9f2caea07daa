// CONF-2: every rule fails loading with "file:line: key.path: what", one case per message.
// Each case appends to a valid one-bucket config (lines 1-8, see kBucket): text indented by
// six spaces continues buckets[0].s3, by four spaces buckets[0], by none the top level; the
// appended text starts at line 9.

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace yg::config {
namespace {

using test::with_bucket;

struct RuleCase {
  const char* name;  // gtest parameter name
  std::string yaml;  // appended to kBucket unless `whole` is set
  int line;
  const char* path;
  const char* what;  // substring of the message
  bool ungated = false;
  bool whole = false;
};

void PrintTo(const RuleCase& c, std::ostream* os) {
  *os << c.name;
}

class RuleTest : public ::testing::TestWithParam<RuleCase> {};

// The case's config fails with exactly one error, at its line and key path.
TEST_P(RuleTest, ReportsOneErrorAtItsLine) {
  const RuleCase& c = GetParam();
  const std::string yaml = c.whole ? c.yaml : with_bucket(c.yaml);
  const LoadResult r = c.ungated ? test::load_ungated(yaml) : test::load(yaml);
  EXPECT_ONLY_ERROR_AT(r, c.line, c.path, c.what);
}

const RuleCase kRules[] = {
    // --- server
    {"ServerAddressBadHost", "server:\n  address: \"bad host\"\n", 10, "server.address",
     "'bad host' is not a valid host name or address"},
    {"ServerAddressBadPort", "server:\n  address: \"h:http\"\n", 10, "server.address",
     "'http' is not a port (1..65535)"},
    {"ServerAddressUnclosedIpv6", "server:\n  address: \"[::1\"\n", 10, "server.address",
     "missing ']'"},
    {"ServerAddressJunkAfterBracket", "server:\n  address: \"[::1]x\"\n", 10, "server.address",
     "expected ':port' after ']'"},
    {"ServerAddressBracketedNotIpv6", "server:\n  address: \"[zz]:80\"\n", 10, "server.address",
     "'zz' is not an IPv6 address"},
    {"ServerAddressIpv6WithoutBrackets", "server:\n  address: \"::1:80:zz\"\n", 10,
     "server.address", "is not a valid address"},
    {"ServerPortZero", "server:\n  port: 0\n", 10, "server.port", "between 1 and 65535"},
    {"ServerRequestTimeoutZero", "server:\n  request_timeout: 0\n", 10, "server.request_timeout",
     "at least 1"},
    {"HeaderLimitTooSmall", "server:\n  security_limits:\n    max_header_size: 100\n", 11,
     "server.security_limits.max_header_size", "at least 1024"},
    {"SqlBlockNotBool", "server:\n  security_limits:\n    block_sql_injection: maybe\n", 11,
     "server.security_limits.block_sql_injection", "expected true or false"},
    {"TlsWithoutKey", "server:\n  tls:\n    cert_path: /c.pem\n", 10, "server.tls.key_path",
     "missing required key", true},
    {"RateLimitWithoutRate", "server:\n  rate_limit:\n    enabled: false\n    global: {burst: 5}\n",
     12, "server.rate_limit.global.requests_per_second", "missing required key"},
    {"RateLimitZero", "server:\n  rate_limit:\n    per_ip: {requests_per_second: 0}\n", 11,
     "server.rate_limit.per_ip.requests_per_second", "at least 1"},

    // --- buckets
    {"NoBuckets", "buckets: []\n", 1, "buckets", "at least one bucket is required", false, true},
    {"EmptyBucketName",
     "buckets:\n  - name: \"\"\n    path_prefix: /a\n    s3: {bucket: b, access_key: A, "
     "secret_key: S}\n",
     2, "buckets[0].name", "must not be empty", false, true},
    {"BucketNameWithSlash",
     "buckets:\n  - name: a/b\n    path_prefix: /a\n    s3: {bucket: b, access_key: A, secret_key: "
     "S}\n",
     2, "buckets[0].name", "may only contain letters", false, true},
    {"EmptyPathPrefix",
     "buckets:\n  - name: a\n    path_prefix: \"\"\n    s3: {bucket: b, access_key: A, secret_key: "
     "S}\n",
     3, "buckets[0].path_prefix", "must not be empty", false, true},
    {"PathPrefixDoubleSlash",
     "buckets:\n  - name: a\n    path_prefix: /a//b\n    s3: {bucket: b, access_key: A, "
     "secret_key: S}\n",
     3, "buckets[0].path_prefix", "must not contain '//'", false, true},
    {"PathPrefixDotDot",
     "buckets:\n  - name: a\n    path_prefix: /a/../b\n    s3: {bucket: b, access_key: A, "
     "secret_key: S}\n",
     3, "buckets[0].path_prefix", "'.' or '..' segments", false, true},
    {"PathPrefixQuery",
     "buckets:\n  - name: a\n    path_prefix: /a?x\n    s3: {bucket: b, access_key: A, secret_key: "
     "S}\n",
     3, "buckets[0].path_prefix", "may not contain", false, true},
    {"ReservedAdminPrefix",
     "  - name: adm\n    path_prefix: /admin/files\n    s3: {bucket: b, access_key: A, secret_key: "
     "S}\n",
     10, "buckets[1].path_prefix", "'/admin/files' is reserved for the admin API"},
    {"ReservedBucketName",
     "  - name: _none\n    path_prefix: /n\n    s3: {bucket: b, access_key: A, secret_key: S}\n", 9,
     "buckets[1].name", "'_none' is reserved (a metrics label)"},
    {"DuplicatePathPrefix",
     "  - name: b\n    path_prefix: /a/\n    s3: {bucket: b, access_key: A, secret_key: S}\n", 10,
     "buckets[1].path_prefix", "duplicate path_prefix '/a' (also buckets[0])"},

    // --- s3
    {"LegacyMixedWithReplicas",
     "      replicas:\n        - {name: r, bucket: b, access_key: A, secret_key: S, priority: 1}\n",
     9, "buckets[0].s3.replicas",
     "cannot be combined with the single-backend keys (bucket, region, access_key, secret_key)"},
    {"EmptyReplicaList",
     "buckets:\n  - name: a\n    path_prefix: /a\n    s3:\n      replicas: []\n", 5,
     "buckets[0].s3.replicas", "must list at least one replica", false, true},
    {"NoBackend", "buckets:\n  - name: a\n    path_prefix: /a\n    s3:\n      timeout: 5\n", 4,
     "buckets[0].s3", "no S3 backend", false, true},
    {"EndpointWithoutHost", "      endpoint: \"http://\"\n", 9, "buckets[0].s3.endpoint",
     "has no host"},
    {"EndpointNotUrl", "      endpoint: \"localhost:9000\"\n", 9, "buckets[0].s3.endpoint",
     "must start with http:// or https://"},
    {"EndpointWithPassword", "      endpoint: \"http://u:p@h\"\n", 9, "buckets[0].s3.endpoint",
     "must not contain user:password@"},
    {"EndpointBadPort", "      endpoint: \"http://h:99999\"\n", 9, "buckets[0].s3.endpoint",
     "invalid port"},
    {"ReplicaWithoutPriority",
     "buckets:\n  - name: a\n    path_prefix: /a\n    s3:\n      replicas:\n"
     "        - {name: r, bucket: b, access_key: A, secret_key: S}\n",
     6, "buckets[0].s3.replicas[0].priority", "missing required key", false, true},
    {"ReplicaPriorityZero",
     "buckets:\n  - name: a\n    path_prefix: /a\n    s3:\n      replicas:\n"
     "        - {name: r, bucket: b, access_key: A, secret_key: S, priority: 0}\n",
     6, "buckets[0].s3.replicas[0].priority", "between 1 and 1000", false, true},
    {"DuplicateReplicaName",
     "buckets:\n  - name: a\n    path_prefix: /a\n    s3:\n      replicas:\n"
     "        - {name: r, bucket: b, access_key: A, secret_key: S, priority: 1}\n"
     "        - {name: r, bucket: b, access_key: A, secret_key: S, priority: 2}\n",
     7, "buckets[0].s3.replicas[1].name",
     "duplicate replica name 'r' (also buckets[0].s3.replicas[0])", true, true},
    {"DuplicateReplicaPriority",
     "buckets:\n  - name: a\n    path_prefix: /a\n    s3:\n      replicas:\n"
     "        - {name: r, bucket: b, access_key: A, secret_key: S, priority: 1}\n"
     "        - {name: q, bucket: b, access_key: A, secret_key: S, priority: 1}\n",
     7, "buckets[0].s3.replicas[1].priority", "duplicate priority 1", true, true},
    {"EmptyRegion",
     "buckets:\n  - name: a\n    path_prefix: /a\n    s3: {bucket: b, region: \"\", access_key: A, "
     "secret_key: S}\n",
     4, "buckets[0].s3.region", "must not be empty", false, true},
    {"S3TimeoutZero", "      timeout: 0\n", 9, "buckets[0].s3.timeout", "at least 1"},
    {"RetryTooManyAttempts", "      retry: {max_attempts: 50}\n", 9,
     "buckets[0].s3.retry.max_attempts", "between 1 and 10", true},
    {"RetryBackoffInverted",
     "      retry:\n        initial_backoff_ms: 500\n        max_backoff_ms: 100\n", 10,
     "buckets[0].s3.retry.initial_backoff_ms", "must not be larger than max_backoff_ms (100)",
     true},
    {"CircuitBreakerZeroThreshold", "      circuit_breaker: {failure_threshold: 0}\n", 9,
     "buckets[0].s3.circuit_breaker.failure_threshold", "at least 1", true},

    // --- auth / jwt
    {"AuthWithoutAnyJwt", "    auth:\n      enabled: true\n", 10, "buckets[0].auth.enabled",
     "auth is enabled but no JWT configuration applies", true},
    {"JwtWithoutAlgorithm", "jwt:\n  secret: s\n", 9, "jwt.algorithm", "missing required key",
     true},
    {"JwtAlgorithmNone", "jwt:\n  algorithm: none\n  secret: s\n", 10, "jwt.algorithm",
     "'none' (unsigned tokens) is never accepted", true},
    {"JwtAlgorithmUnknown", "jwt:\n  algorithm: HS999\n  secret: s\n", 10, "jwt.algorithm",
     "'HS999' is not a supported algorithm", true},
    {"JwtHmacWithoutSecret", "jwt:\n  algorithm: HS256\n", 9, "jwt.secret",
     "required for HS256 (or list keys)", true},
    {"JwtRsaWithoutKey", "jwt:\n  algorithm: RS256\n", 9, "jwt.rsa_public_key_path",
     "required for RS256 (or set jwks_url or keys)", true},
    {"JwtEcdsaWithoutKey", "jwt:\n  algorithm: ES384\n", 9, "jwt.ecdsa_public_key_path",
     "required for ES384", true},
    {"JwtEdDsaWithoutKeys", "jwt:\n  algorithm: EdDSA\n", 9, "jwt.jwks_url",
     "EdDSA needs jwks_url or keys", true},
    {"JwtSecretWithRsa", "jwt:\n  algorithm: RS256\n  jwks_url: https://i/j\n  secret: s\n", 12,
     "jwt.secret", "only used with HS256/HS384/HS512 (algorithm is RS256)", true},
    {"JwtRsaPathWithHmac", "jwt:\n  algorithm: HS256\n  secret: s\n  rsa_public_key_path: /k.pem\n",
     12, "jwt.rsa_public_key_path", "only used with RS*/PS* algorithms", true},
    {"JwtEcdsaPathWithRsa",
     "jwt:\n  algorithm: RS256\n  rsa_public_key_path: /k\n  ecdsa_public_key_path: /e\n", 12,
     "jwt.ecdsa_public_key_path", "only used with ES* algorithms", true},
    {"JwtBadJwksUrl", "jwt:\n  enabled: false\n  jwks_url: \"ftp://x/j\"\n", 11, "jwt.jwks_url",
     "must start with http:// or https://"},
    {"JwtRefreshZero", "jwt:\n  enabled: false\n  jwks_refresh_interval_secs: 0\n", 11,
     "jwt.jwks_refresh_interval_secs", "at least 1"},
    {"TokenSourceBadType", "jwt:\n  enabled: false\n  token_sources:\n    - type: cookie\n", 12,
     "jwt.token_sources[0].type", "'cookie' is not one of: bearer, header, query"},
    {"TokenSourceHeaderWithoutName",
     "jwt:\n  enabled: false\n  token_sources:\n    - type: header\n", 12,
     "jwt.token_sources[0].name", "required for a header token source"},
    {"TokenSourceBearerWithName",
     "jwt:\n  enabled: false\n  token_sources:\n    - type: bearer\n      name: X\n", 13,
     "jwt.token_sources[0].name", "a bearer source always reads the Authorization header"},
    {"TokenSourcePrefixOnQuery",
     "jwt:\n  enabled: false\n  token_sources:\n    - {type: query, name: t, prefix: x}\n", 12,
     "jwt.token_sources[0].prefix", "only used by header token sources"},
    {"TokenSourcesEmpty", "jwt:\n  enabled: false\n  token_sources: []\n", 11, "jwt.token_sources",
     "must list at least one source"},
    {"ClaimsGivenTwice", "jwt:\n  enabled: false\n  claims: []\n  claims_verification: []\n", 12,
     "jwt.claims_verification", "'claims' and 'claims_verification' are the same key"},
    {"ClaimNameAndClaim",
     "jwt:\n  enabled: false\n  claims:\n    - {claim: a, name: a, operator: exists}\n", 12,
     "jwt.claims[0].name", "'name' and 'claim' are the same key"},
    {"ClaimBadOperator",
     "jwt:\n  enabled: false\n  claims:\n    - {claim: a, operator: like, value: x}\n", 12,
     "jwt.claims[0].operator", "'like' is not one of: equals, not_equals, in, contains"},
    {"ClaimWithoutValue", "jwt:\n  enabled: false\n  claims:\n    - {claim: a, operator: equals}\n",
     12, "jwt.claims[0].value", "missing required key"},
    {"ClaimExistsWithValue",
     "jwt:\n  enabled: false\n  claims:\n    - {claim: a, operator: exists, value: x}\n", 12,
     "jwt.claims[0].value", "'exists' takes no value"},
    {"ClaimInWithScalar",
     "jwt:\n  enabled: false\n  claims:\n    - {claim: a, operator: in, value: x}\n", 12,
     "jwt.claims[0].value", "'in' needs a list of values"},
    {"ClaimGtWithString",
     "jwt:\n  enabled: false\n  claims:\n    - {claim: a, operator: gt, value: \"5\"}\n", 12,
     "jwt.claims[0].value", "'gt' needs a number"},
    {"ClaimEqualsWithList",
     "jwt:\n  enabled: false\n  claims:\n    - {claim: a, operator: equals, value: [x]}\n", 12,
     "jwt.claims[0].value", "'equals' needs a single value (use 'in' for a list)"},
    {"ClaimBadRegex",
     "jwt:\n  enabled: false\n  admin_claims:\n    - {claim: a, operator: regex, value: "
     "\"([a-z\"}\n",
     12, "jwt.admin_claims[0].value", "invalid regular expression '([a-z'"},
    {"ClaimRegexList",
     "jwt:\n  enabled: false\n  claims:\n    - {claim: a, operator: regex, value: [a, b]}\n", 12,
     "jwt.claims[0].value", "'regex' needs one pattern"},
    {"ClaimNestedList",
     "jwt:\n  enabled: false\n  claims:\n    - {claim: a, operator: in, value: [[a]]}\n", 12,
     "jwt.claims[0].value[0]", "expected a single value in the list"},
    {"ClaimMappingValue",
     "jwt:\n  enabled: false\n  claims:\n    - {claim: a, operator: equals, value: {x: 1}}\n", 12,
     "jwt.claims[0].value", "expected a value or a list of values"},
    {"KeyHmacWithoutSecret", "jwt:\n  enabled: false\n  keys:\n    - {id: k1, algorithm: HS256}\n",
     12, "jwt.keys[0].secret", "required for HS256 keys"},
    {"KeyHmacWithPath",
     "jwt:\n  enabled: false\n  keys:\n    - {id: k1, algorithm: HS256, secret: s, path: /p}\n", 12,
     "jwt.keys[0].path", "HMAC keys use secret, not a key file"},
    {"KeyRsaWithoutPath", "jwt:\n  enabled: false\n  keys:\n    - {id: k1, algorithm: RS256}\n", 12,
     "jwt.keys[0].path", "required for RS256 keys (PEM public key file)"},
    {"KeyRsaWithSecret",
     "jwt:\n  enabled: false\n  keys:\n    - {id: k1, algorithm: PS256, path: /p, secret: s}\n", 12,
     "jwt.keys[0].secret", "only HMAC (HS*) keys use a secret"},
    {"KeyBadAlgorithm",
     "jwt:\n  enabled: false\n  keys:\n    - {id: k1, algorithm: XX1, secret: s}\n", 12,
     "jwt.keys[0].algorithm", "not a supported algorithm"},
    {"DuplicateKeyIds",
     "jwt:\n  algorithm: HS256\n  keys:\n    - {id: k1, algorithm: HS256, secret: s}\n"
     "    - {id: k1, algorithm: HS384, secret: t}\n",
     13, "jwt.keys[1].id", "duplicate key id 'k1' (also jwt.keys[0])", true},
    {"BucketJwtRuleChecked", "    auth:\n      jwt:\n        algorithm: HS256\n", 10,
     "buckets[0].auth.jwt.secret", "required for HS256", true},
    {"LeewayTooLarge", "jwt:\n  enabled: false\n  leeway_seconds: 100000\n", 11,
     "jwt.leeway_seconds", "between 0 and 86400"},

    // --- authorization
    {"AuthzBadType", "    authorization:\n      type: ldap\n", 10, "buckets[0].authorization.type",
     "'ldap' is not one of: opa, openfga", true},
    {"AuthzWithoutType",
     "    authorization:\n      opa_timeout_ms: 5\n      openfga_timeout_ms: 5\n", 9,
     "buckets[0].authorization.type", "missing required key (opa or openfga)", true},
    {"AuthzOpaWithoutUrl", "    authorization:\n      type: opa\n      opa_policy_path: p\n", 9,
     "buckets[0].authorization.opa_url", "missing required key (type is opa)", true},
    {"AuthzOpaBadUrl",
     "    authorization:\n      type: opa\n      opa_url: opa:8181\n      opa_policy_path: p\n", 11,
     "buckets[0].authorization.opa_url", "must start with http:// or https://", true},
    {"AuthzOpenFgaWithoutStore",
     "    authorization:\n      type: openfga\n      openfga_endpoint: http://f\n"
     "    auth:\n      jwt: {algorithm: HS256, secret: s}\n",
     9, "buckets[0].authorization.openfga_store_id", "missing required key (type is openfga)",
     true},
    {"AuthzKeysOfOtherType",
     "    authorization:\n      type: opa\n      opa_url: http://o\n      opa_policy_path: p\n"
     "      openfga_store_id: s\n",
     13, "buckets[0].authorization.openfga_store_id",
     "only used when type is openfga (this bucket's type is opa)", true},
    {"AuthzBadFailMode",
     "    authorization:\n      type: opa\n      opa_url: http://o\n      opa_policy_path: p\n"
     "      opa_fail_mode: maybe\n",
     13, "buckets[0].authorization.opa_fail_mode", "'maybe' is not one of: closed, open", true},
    {"AuthzDenyTtlLongerThanAllow",
     "    authorization:\n      opa: {url: http://o, policy_path: p}\n"
     "      cache: {ttl_seconds: 10, negative_ttl_seconds: 20}\n",
     11, "buckets[0].authorization.cache.negative_ttl_seconds",
     "must not be longer than the allow TTL (10 s)", true},
    {"AuthzGivenTwice",
     "    authorization:\n      opa: {url: http://o, policy_path: p}\n    auth:\n      enabled: "
     "false\n"
     "      opa: {url: http://o, policy_path: p}\n",
     13, "buckets[0].auth.opa", "authorization is already configured in buckets[0].authorization",
     true},
    {"AuthProviderUnknown", "    auth:\n      enabled: false\n      provider: ldap\n", 11,
     "buckets[0].auth.provider", "'ldap' is not one of: jwt, opa, openfga"},
    {"AuthProviderMismatch",
     "    authorization:\n      type: openfga\n      openfga_endpoint: http://f\n"
     "      openfga_store_id: s\n    auth:\n      jwt: {algorithm: HS256, secret: s}\n"
     "      provider: opa\n",
     15, "buckets[0].auth.provider", "says opa but buckets[0].authorization.type says openfga",
     true},
    {"AuthProviderJwtWithAuthz",
     "    authorization:\n      opa: {url: http://o, policy_path: p}\n    auth:\n      enabled: "
     "false\n"
     "      provider: jwt\n",
     13, "buckets[0].auth.provider", "is jwt, but buckets[0].authorization configures", true},
    {"OpenFgaWithoutAuth", "    authorization:\n      openfga: {endpoint: http://f, store_id: s}\n",
     9, "buckets[0].authorization", "OpenFGA needs the caller's identity"},
    {"OpaPolicyPathWithSpace",
     "    authorization:\n      type: opa\n      opa_url: http://o\n"
     "      opa_policy_path: \"a b\"\n",
     12, "buckets[0].authorization.opa_policy_path", "may only contain letters"},
    {"OpenFgaStoreIdNotAnId",
     "    auth: {enabled: true, jwt: {algorithm: HS256, secret: s}}\n    authorization:\n"
     "      openfga:\n"
     "        endpoint: http://f\n        store_id: \"s/../x\"\n",
     13, "buckets[0].authorization.openfga.store_id", "is not an OpenFGA id", false, false},
    {"OpaTimeoutTooLarge",
     "    authorization:\n      opa: {url: http://o, policy_path: p, timeout_ms: 600001}\n", 10,
     "buckets[0].authorization.opa.timeout_ms", "between 1 and 600000"},
    {"AuthzTtlTooLarge",
     "    authorization:\n      opa: {url: http://o, policy_path: p, cache: {ttl_seconds: "
     "99999999}}\n",
     10, "buckets[0].authorization.opa.cache.ttl_seconds", "between 1 and 2592000"},
    {"OpaInputHeaderAuthorization",
     "    authorization:\n      opa: {url: http://o, policy_path: p, input_headers: "
     "[Authorization]}\n",
     10, "buckets[0].authorization.opa.input_headers", "carries credentials"},
    {"OpaInputHeaderIsTheTokenHeader",
     "jwt:\n  algorithm: HS256\n  secret: s\n  token_sources: [{type: header, name: X-Tok}]\n"
     "buckets:\n  - name: b\n    path_prefix: /b\n    s3: {bucket: x, region: us-east-1, "
     "access_key: A, secret_key: S}\n    auth: {enabled: true}\n    authorization:\n"
     "      opa: {url: http://o, policy_path: p, input_headers: [x-tok]}\n",
     11, "buckets[0].authorization.opa.input_headers", "carries this bucket's token", false, true},

    // --- bucket cache and ip_filter
    {"BucketCacheTtlZero", "    cache:\n      ttl_seconds: 0\n", 10, "buckets[0].cache.ttl_seconds",
     "at least 1"},
    {"IpFilterBadAddress", "    ip_filter:\n      allowlist: [\"10.0.0.300\"]\n", 10,
     "buckets[0].ip_filter.allowlist[0]", "'10.0.0.300' is not an IP address or CIDR range"},
    {"IpFilterBadPrefixLength", "    ip_filter:\n      blocklist:\n        - \"10.0.0.0/33\"\n", 11,
     "buckets[0].ip_filter.blocklist[0]", "invalid prefix length (0..32)"},
    {"IpFilterBadIpv6PrefixLength", "    ip_filter:\n      blocklist: [\"::1/129\"]\n", 10,
     "buckets[0].ip_filter.blocklist[0]", "invalid prefix length (0..128)"},

    // --- cache
    {"CacheItemLargerThanCache",
     "cache:\n  memory:\n    max_item_size_mb: 20\n    max_cache_size_mb: 10\n", 11,
     "cache.memory.max_item_size_mb", "must not be larger than max_cache_size_mb (10)"},
    {"CacheUnknownLayer", "cache:\n  cache_layers: [memory, ssd]\n", 10, "cache.cache_layers[1]",
     "'ssd' is not one of: memory, disk, redis"},
    {"CacheNoLayersWhenEnabled", "cache:\n  enabled: true\n  cache_layers: []\n", 11,
     "cache.cache_layers", "must list at least one layer", true},
    {"CacheDuplicateLayer", "cache:\n  cache_layers: [memory, memory]\n", 10,
     "cache.cache_layers[1]", "layer 'memory' is listed twice"},
    {"CacheDiskLayerNotEnabled", "cache:\n  cache_layers: [memory, disk]\n", 10,
     "cache.cache_layers[1]", "the disk layer needs cache.disk.enabled: true"},
    {"CacheRedisLayerNotEnabled", "cache:\n  cache_layers:\n    - redis\n", 11,
     "cache.cache_layers[0]", "the redis layer needs cache.redis.enabled: true"},
    {"RedisWithoutUrl", "cache:\n  redis:\n    enabled: true\n", 10, "cache.redis.redis_url",
     "required when redis is enabled", true},
    {"RedisBadUrl", "cache:\n  redis:\n    redis_url: http://r:6379\n", 11, "cache.redis.redis_url",
     "must start with redis:// or rediss://"},
    {"RedisClusterBadSeed", "cache:\n  redis:\n    cluster: [\"127.0.0.1:7000\", \"h:0\"]\n", 11,
     "cache.redis.cluster", "[1] '0' is not a port (1..65535)"},
    {"RedisClusterWithDb",
     "cache:\n  redis:\n    enabled: true\n    cluster: [\"127.0.0.1:7000\"]\n    redis_db: 2\n",
     13, "cache.redis.redis_db", "a Redis Cluster has only database 0"},
    {"RedisPoolTooLarge", "cache:\n  redis:\n    pool_size: 65\n", 11, "cache.redis.pool_size",
     "64"},
    {"DiskWithoutDir", "cache:\n  disk:\n    enabled: true\n    cache_dir: \"\"\n", 12,
     "cache.disk.cache_dir", "required when the disk cache is enabled", true},

    // --- audit log
    {"AuditUnknownOutput", "audit_log:\n  outputs: [file, kafka]\n", 10, "audit_log.outputs[1]",
     "'kafka' is not one of: file, syslog"},
    {"AuditDuplicateOutput", "audit_log:\n  outputs: [file, file]\n  file: {path: /a}\n", 10,
     "audit_log.outputs[1]", "output 'file' is listed twice"},
    {"AuditEnabledWithoutOutputs", "audit_log:\n  enabled: true\n", 9, "audit_log.outputs",
     "must list at least one output", true},
    {"AuditFileOutputWithoutFile", "audit_log:\n  enabled: true\n  outputs: [file]\n", 9,
     "audit_log.file", "required by the file output", true},
    {"AuditSyslogOutputWithoutSyslog", "audit_log:\n  enabled: true\n  outputs: [syslog]\n", 9,
     "audit_log.syslog", "required by the syslog output", true},
    {"AuditBadLevel", "audit_log:\n  log_level: trace\n", 10, "audit_log.log_level",
     "'trace' is not one of: debug, info, warn, error"},
    {"AuditFileWithoutPath", "audit_log:\n  file:\n    max_backup_files: 2\n", 10,
     "audit_log.file.path", "missing required key"},
    {"AuditBadRotation", "audit_log:\n  file:\n    path: /a\n    rotation_policy: weekly\n", 12,
     "audit_log.file.rotation_policy", "'weekly' is not one of: size, daily"},
    {"AuditSyslogWithoutPort", "audit_log:\n  syslog:\n    address: localhost\n", 11,
     "audit_log.syslog.address", "needs a port (host:port)"},
    {"AuditSyslogBadFacility", "audit_log:\n  syslog:\n    address: h:514\n    facility: kern\n",
     12, "audit_log.syslog.facility", "'kern' is not one of: local0 .. local7"},
    {"AuditSyslogBadProtocol", "audit_log:\n  syslog:\n    address: h:514\n    protocol: quic\n",
     12, "audit_log.syslog.protocol", "'quic' is not one of: udp, tcp"},

    // --- observability, logging, metrics, shutdown
    {"TracingBadExporter", "observability:\n  tracing:\n    exporter: datadog\n", 11,
     "observability.tracing.exporter", "'datadog' is not one of: otlp, jaeger, zipkin, none"},
    {"TracingBadEndpoint", "observability:\n  tracing:\n    zipkin_endpoint: zipkin\n", 11,
     "observability.tracing.zipkin_endpoint", "is not a valid URL"},
    {"TracingRatioOutOfRange", "observability:\n  tracing:\n    sampling_ratio: 1.5\n", 11,
     "observability.tracing.sampling_ratio", "must be between 0.0 and 1.0"},
    {"TracingRatioNotNumber", "observability:\n  tracing:\n    sampling_ratio: half\n", 11,
     "observability.tracing.sampling_ratio", "expected a number, got 'half'"},
    {"TracingWithoutEndpoint",
     "observability:\n  tracing:\n    enabled: true\n    exporter: jaeger\n", 10,
     "observability.tracing.jaeger_endpoint", "required by the jaeger exporter", true},
    {"RequestLoggingBadStatus",
     "observability:\n  request_logging:\n    status_codes: [200, 999]\n", 11,
     "observability.request_logging.status_codes[1]", "between 100 and 599"},
    {"SlowQueryBadLevel", "observability:\n  slow_query:\n    log_level: loud\n", 11,
     "observability.slow_query.log_level", "'loud' is not one of"},
    {"MetricsPortOutOfRange", "metrics:\n  port: 70000\n", 10, "metrics.port",
     "between 1 and 65535"},
    {"MetricsPortEqualsServerPort", "server:\n  port: 9000\nmetrics:\n  port: 9000\n", 12,
     "metrics.port", "must differ from server.port (9000)", true},
    {"ShutdownTimeoutTooLong", "shutdown:\n  timeout_seconds: 4000\n", 10,
     "shutdown.timeout_seconds", "between 0 and 3600"},
};

INSTANTIATE_TEST_SUITE_P(Config, RuleTest, ::testing::ValuesIn(kRules),
                         [](const ::testing::TestParamInfo<RuleCase>& info) {
                           return std::string(info.param.name);
                         });

// Exact text for a representative rule error.
TEST(RuleText, DuplicatePathPrefixReadsWell) {
  auto r = test::load(with_bucket(
      "  - name: b\n    path_prefix: /a\n    s3: {bucket: b, access_key: A, secret_key: S}\n"));
  EXPECT_ONLY_ERROR(r,
                    "test.yaml:10: buckets[1].path_prefix: duplicate path_prefix '/a' (also "
                    "buckets[0])");
}

// Exact text for the legacy/replicas mix.
TEST(RuleText, LegacyAndReplicasMixReadsWell) {
  auto r =
      test::load(with_bucket("      replicas:\n        - {name: r, bucket: b, access_key: A, "
                             "secret_key: S, priority: 1}\n"));
  EXPECT_ONLY_ERROR(r,
                    "test.yaml:9: buckets[0].s3.replicas: cannot be combined with the "
                    "single-backend keys (bucket, region, access_key, secret_key) in one s3 "
                    "section; use one form");
}

// A disabled jwt section may be incomplete: it is type-checked but not required to work.
TEST(RuleScope, DisabledJwtSkipsCompletenessRules) {
  auto r = test::load(with_bucket("jwt:\n  enabled: false\n"));
  ASSERT_LOADS(r);
}

// OPA without auth is allowed (the policy decides for anonymous callers).
TEST(RuleScope, OpaWithoutAuthIsAllowed) {
  auto r = test::load_ungated(
      with_bucket("    authorization:\n      type: opa\n      opa_url: http://o\n"
                  "      opa_policy_path: p\n"));
  ASSERT_LOADS(r);
}

// A wrong value reports one error, not a second one from a rule about the same key.
TEST(RuleScope, BrokenValueIsNotReportedTwice) {
  auto r = test::load(with_bucket(
      "  - name: a\n    path_prefix: a\n    s3: {bucket: b, access_key: A, secret_key: S}\n"));
  ASSERT_EQ(r.errors.size(), 2u) << test::joined(r);
  EXPECT_EQ(r.errors[0].key_path, "buckets[1].name");
  EXPECT_EQ(r.errors[1].key_path, "buckets[1].path_prefix");
}

}  // namespace
}  // namespace yg::config
