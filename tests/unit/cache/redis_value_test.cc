// The Redis layer's value layout (cache/redis_backend.h): what encode writes, decode gives back
// exactly, and anything that is not one of our values is refused rather than misread.
#include <gtest/gtest.h>

#include <string>

#include "cache/redis_backend.h"

namespace yg::cache {
namespace {

using namespace std::chrono_literals;

Meta sample_meta(std::size_t body) {
  Meta m;
  m.headers = "Content-Type: application/octet-stream\r\nx-amz-meta-a: \xc3\xbc\r\n";
  m.cache_control = "public, max-age=60";
  m.etag = "\"abc\"";
  m.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
  m.size = body;
  m.stored = SysTime(1'700'000'000'123'456'789ns);
  m.expires = m.stored + 3600s + 1ns;
  return m;
}

std::string value_of(const Meta& m, const std::string& body) {
  return body + redis_value::encode_tail(m);
}

TEST(RedisValue, RoundTripsMetaAndBinaryBody) {
  std::string body;
  for (int i = 0; i < 5000; ++i) {
    body.push_back(static_cast<char>(i * 31));
  }
  const Meta m = sample_meta(body.size());
  auto e = redis_value::decode(value_of(m, body));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->meta.headers, m.headers);
  EXPECT_EQ(e->meta.cache_control, m.cache_control);
  EXPECT_EQ(e->meta.etag, m.etag);
  EXPECT_EQ(e->meta.last_modified, m.last_modified);
  EXPECT_EQ(e->meta.size, body.size());
  EXPECT_EQ(e->meta.stored, m.stored);
  EXPECT_EQ(e->meta.expires, m.expires);
  EXPECT_EQ(e->body, body);
}

TEST(RedisValue, EmptyBodyAndEmptyFields) {
  Meta m;
  m.stored = SysTime(1s);
  m.expires = SysTime(2s);
  auto e = redis_value::decode(value_of(m, ""));
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->body.empty());
  EXPECT_TRUE(e->meta.headers.empty());
  EXPECT_EQ(e->meta.expires, SysTime(2s));
}

TEST(RedisValue, ForeignOrDamagedValuesAreRefused) {
  const Meta m = sample_meta(10);
  const std::string good = value_of(m, "0123456789");
  ASSERT_NE(redis_value::decode(good), nullptr);
  EXPECT_EQ(redis_value::decode(""), nullptr);
  EXPECT_EQ(redis_value::decode("hello world, a value someone else wrote"), nullptr);
  EXPECT_EQ(redis_value::decode(good.substr(1)), nullptr) << "short body";
  EXPECT_EQ(redis_value::decode("x" + good), nullptr) << "long body";
  EXPECT_EQ(redis_value::decode(good.substr(good.size() - 40)), nullptr) << "only a trailer's end";
  std::string bad_magic = good;
  bad_magic.back() = 'X';
  EXPECT_EQ(redis_value::decode(bad_magic), nullptr);
  const std::size_t f = good.size() - redis_value::kTrailer;  // the trailer's start
  std::string future = good;
  future[f + 47] = 2;  // a version this build does not know
  EXPECT_EQ(redis_value::decode(future), nullptr);
  std::string bad_len = good;
  bad_len[f + 24] = static_cast<char>(bad_len[f + 24] + 1);  // lengths no longer add up
  EXPECT_EQ(redis_value::decode(bad_len), nullptr);
}

TEST(RedisValue, GlobEscapeMatchesItselfOnly) {
  EXPECT_EQ(redis_glob_escape("3:a*b4:c?d[e]\\f"), "3:a\\*b4:c\\?d\\[e\\]\\\\f");
  EXPECT_EQ(redis_glob_escape("plain"), "plain");
}

}  // namespace
}  // namespace yg::cache
