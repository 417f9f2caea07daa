#include "obs/request_log.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace yg::obs {
namespace {

RequestRecord sample() {
  RequestRecord r;
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764032523456));
  r.request_id = "rid-1";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.client_ip = "127.0.0.1";
  r.bucket = "photos";
  r.key = "a \"quoted\"\nkey";
  r.method = "GET";
  r.path = "/p/a%20key";
  r.status = 206;
  r.bytes_sent = 1234;
  r.duration_ms = 12.5;
  r.ttfb_ms = 3.25;
  r.cache_status = "bypass";
  r.replica = "primary";
  r.user_agent = "curl/8";
  return r;
}

TEST(RequestLog, Rfc3339Utc) {
  EXPECT_EQ(rfc3339_utc(sample().time), "2025-11-25T01:02:03.456Z");
}

TEST(RequestLog, AuditLineHasTheObs4Fields) {
  auto v = boost::json::parse(audit_json(sample())).as_object();
  EXPECT_EQ(v.at("timestamp").as_string(), "2025-11-25T01:02:03.456Z");
  EXPECT_EQ(v.at("request_id").as_string(), "rid-1");
  EXPECT_EQ(v.at("client_ip").as_string(), "127.0.0.1");
  EXPECT_TRUE(v.at("user").is_null());
  EXPECT_EQ(v.at("bucket").as_string(), "photos");
  EXPECT_EQ(v.at("object_key").as_string(), "a \"quoted\"\nkey");
  EXPECT_EQ(v.at("method").as_string(), "GET");
  EXPECT_EQ(v.at("path").as_string(), "/p/a%20key");
  EXPECT_EQ(v.at("status").as_int64(), 206);
  EXPECT_EQ(v.at("response_size_bytes").as_int64(), 1234);
  EXPECT_DOUBLE_EQ(v.at("duration_ms").as_double(), 12.5);
  EXPECT_EQ(v.at("cache_status").as_string(), "bypass");
  EXPECT_EQ(v.at("user_agent").as_string(), "curl/8");
  EXPECT_TRUE(v.at("referer").is_null());
  EXPECT_TRUE(v.at("complete").as_bool());
}

TEST(RequestLog, AccessMembersSpliceIntoAnObject) {
  auto v = boost::json::parse("{" + access_json_members(sample()) + "}").as_object();
  EXPECT_EQ(v.at("status").as_int64(), 206);
  EXPECT_EQ(v.at("bytes").as_int64(), 1234);
  EXPECT_DOUBLE_EQ(v.at("ttfb_ms").as_double(), 3.25);
  EXPECT_TRUE(v.at("upstream_ms").is_null());
  EXPECT_EQ(v.at("replica").as_string(), "primary");
  EXPECT_EQ(v.at("trace_id").as_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(RequestLog, AccessTextQuotesAndEscapes) {
  const auto t = access_text(sample());
  EXPECT_NE(t.find("key=\"a \\\"quoted\\\"\\x0akey\""), std::string::npos) << t;
  EXPECT_NE(t.find("status=206"), std::string::npos);
  EXPECT_NE(t.find("user=-"), std::string::npos);
  EXPECT_EQ(t.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace yg::obs
