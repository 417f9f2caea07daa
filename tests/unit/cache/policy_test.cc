#include "cache/policy.h"

#include <gtest/gtest.h>

namespace yg::cache {
namespace {

using std::chrono::seconds;

TEST(CacheControl, ParsesDirectivesCaseInsensitivelyWithArguments) {
  auto cc = parse_cache_control("Public, MAX-AGE=60, s-maxage=\"30\", must-revalidate");
  EXPECT_TRUE(cc.public_);
  EXPECT_TRUE(cc.must_revalidate);
  EXPECT_EQ(cc.max_age, 60u);
  EXPECT_EQ(cc.s_maxage, 30u);
  EXPECT_FALSE(cc.no_store);
  cc = parse_cache_control(R"(private="set-cookie, x", no-store , no-cache)");
  EXPECT_TRUE(cc.private_);
  EXPECT_TRUE(cc.no_store);
  EXPECT_TRUE(cc.no_cache);
  EXPECT_FALSE(cc.max_age);
}

TEST(CacheControl, MalformedAgesAreStaleAndOverflowIsCapped) {
  EXPECT_EQ(parse_cache_control("max-age=abc").max_age, 0u);
  EXPECT_EQ(parse_cache_control("max-age=").max_age, 0u);
  EXPECT_EQ(parse_cache_control("max-age=-5").max_age, 0u);
  EXPECT_EQ(parse_cache_control("max-age=99999999999999999999999").max_age, 2147483648u);
  EXPECT_FALSE(parse_cache_control(",,, ,").no_store);
}

ResponseFacts ok_get() {
  ResponseFacts r;
  r.method = "GET";
  r.status = 200;
  r.content_length = 1000;
  r.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  return r;
}

TEST(Decide, StoresA200GetForTheConfiguredTtl) {
  const auto d = decide(ok_get(), StorePolicy{seconds(600), 4096});
  EXPECT_TRUE(d.store());
  EXPECT_EQ(d.ttl, seconds(600));
}

TEST(Decide, HeaderAgesBoundTheTtl) {
  auto r = ok_get();
  r.cache_control = "max-age=60";
  EXPECT_EQ(decide(r, StorePolicy{seconds(600), 4096}).ttl, seconds(60));
  r.cache_control = "max-age=6000";  // bounds, never extends
  EXPECT_EQ(decide(r, StorePolicy{seconds(600), 4096}).ttl, seconds(600));
  r.cache_control = "max-age=60, s-maxage=120";  // s-maxage wins for a shared cache
  EXPECT_EQ(decide(r, StorePolicy{seconds(600), 4096}).ttl, seconds(120));
  r.cache_control = "";
  r.expires = "Sun, 06 Nov 1994 08:51:37 GMT";  // Date + 120 s
  EXPECT_EQ(decide(r, StorePolicy{seconds(600), 4096}).ttl, seconds(120));
}

TEST(Decide, RefusesWithAReason) {
  const StorePolicy p{seconds(600), 4096};
  auto r = ok_get();
  r.method = "HEAD";
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::Method);
  r = ok_get();
  r.status = 206;
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::Status);
  r = ok_get();
  r.cache_control = "no-store";
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::NoStore);
  r.cache_control = "private, max-age=60";
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::Private);
  r.cache_control = "no-cache";
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::NoCache);
  r.cache_control = "max-age=0";
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::ZeroTtl);
  r.cache_control = "";
  r.expires = "0";  // invalid Expires: already expired
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::ZeroTtl);
  r = ok_get();
  r.content_length = 4097;
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::TooLarge);
  r.content_length.reset();
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::NoLength);
  r = ok_get();
  r.set_cookie = true;
  EXPECT_EQ(decide(r, p).reason, NoStoreReason::SetCookie);
  EXPECT_EQ(to_string(NoStoreReason::NoStore), "no_store");
}

TEST(CacheKey, IsUnambiguous) {
  EXPECT_NE(cache_key("a", "b/c"), cache_key("a/b", "c"));
  EXPECT_NE(cache_key("b", "k", "v1"), cache_key("b", "k?v=v1"));
  EXPECT_NE(cache_key("b", "k", "v1"), cache_key("b", "k"));
  EXPECT_EQ(cache_key("b", "k"), cache_key("b", "k"));
}

}  // namespace
}  // namespace yg::cache
