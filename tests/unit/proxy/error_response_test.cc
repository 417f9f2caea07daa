#include "proxy/error_response.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "proxy/http_util.h"

namespace yg::proxy {
namespace {
namespace http = boost::beast::http;

struct Row {
  errc code;
  unsigned status;
};

// HTTP-3: every proxy error maps to the status the spec names.
TEST(ErrorResponse, StatusMapMatchesSpec) {
  const Row rows[] = {
      {errc::bad_request, 400},
      {errc::bad_path, 400},
      {errc::blocked_pattern, 400},
      {errc::uri_too_long, 414},
      {errc::headers_too_large, 431},
      {errc::body_too_large, 413},
      {errc::method_not_allowed, 405},
      {errc::no_route, 404},
      {errc::empty_key, 404},
      {errc::not_found, 404},
      {errc::upstream_auth, 502},
      {errc::upstream_unreachable, 502},
      {errc::upstream_timeout, 504},
      {errc::upstream_bad_response, 502},
      {errc::range_not_satisfiable, 416},
      {errc::precondition_failed, 412},
      {errc::request_timeout, 504},
      {errc::overloaded, 503},
      {errc::internal, 500},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(static_cast<unsigned>(status_for(Error::of(r.code))), r.status)
        << make_error_code(r.code).message();
  }
}

// HTTP-2: the body is JSON with error, message, status and request_id, and the response has
// Content-Type, Content-Length and X-Request-ID.
TEST(ErrorResponse, BodyIsJsonWithRequestId) {
  auto res = make_error_response(Error::of(errc::no_route), "rid-1", 11, true);
  EXPECT_EQ(res.result_int(), 404u);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res["X-Request-ID"], "rid-1");
  EXPECT_EQ(res[http::field::content_length], std::to_string(res.body().size()));
  auto v = boost::json::parse(res.body()).as_object();
  EXPECT_EQ(v.at("error").as_string(), "Not Found");
  EXPECT_EQ(v.at("status").as_int64(), 404);
  EXPECT_EQ(v.at("request_id").as_string(), "rid-1");
  EXPECT_EQ(v.at("message").as_string(), "no bucket matches this path");
}

// HTTP-1: 405 names the allowed methods; 503 tells when to retry.
TEST(ErrorResponse, AddsAllowAndRetryAfter) {
  auto r405 = make_error_response(Error::of(errc::method_not_allowed), "r", 11, false);
  EXPECT_EQ(r405[http::field::allow], "GET, HEAD, OPTIONS");
  auto r503 = make_error_response(Error::of(errc::overloaded), "r", 11, false);
  EXPECT_EQ(r503[http::field::retry_after], "1");
}

// A HEAD error carries the GET's Content-Length but no body.
TEST(ErrorResponse, HeadHasLengthButNoBody) {
  auto res = make_error_response(Error::of(errc::not_found), "r", 11, true, true);
  EXPECT_TRUE(res.body().empty());
  EXPECT_NE(res[http::field::content_length], "0");
}

// HTTP-6: only the listed S3 response headers pass, plus every x-amz-meta-*.
TEST(HttpUtil, ForwardsOnlyListedResponseHeaders) {
  http::fields s3;
  s3.set(http::field::content_type, "text/plain");
  s3.set(http::field::content_length, "5");
  s3.set(http::field::etag, "\"abc\"");
  s3.set("x-amz-meta-owner", "me");
  s3.set("x-amz-version-id", "v1");
  s3.set("x-amz-request-id", "internal");
  s3.set("x-amz-id-2", "internal");
  s3.set(http::field::server, "AmazonS3");
  s3.set(http::field::set_cookie, "a=b");
  http::fields out;
  copy_response_headers(s3, out);
  EXPECT_EQ(out[http::field::content_type], "text/plain");
  EXPECT_EQ(out[http::field::etag], "\"abc\"");
  EXPECT_EQ(out["x-amz-meta-owner"], "me");
  EXPECT_EQ(out["x-amz-version-id"], "v1");
  EXPECT_EQ(out.count(http::field::content_length), 0u);  // framing is the relay's
  EXPECT_EQ(out.count("x-amz-request-id"), 0u);
  EXPECT_EQ(out.count(http::field::server), 0u);
  EXPECT_EQ(out.count(http::field::set_cookie), 0u);
}

// HTTP-6: conditionals go to S3; Authorization, cookies and hop-by-hop headers never do.
TEST(HttpUtil, ForwardsOnlyConditionalRequestHeaders) {
  EXPECT_TRUE(is_forwarded_request_header(http::field::if_none_match));
  EXPECT_TRUE(is_forwarded_request_header(http::field::if_modified_since));
  EXPECT_TRUE(is_forwarded_request_header(http::field::if_match));
  EXPECT_TRUE(is_forwarded_request_header(http::field::if_unmodified_since));
  EXPECT_FALSE(is_forwarded_request_header(http::field::authorization));
  EXPECT_FALSE(is_forwarded_request_header(http::field::cookie));
  EXPECT_FALSE(is_forwarded_request_header(http::field::connection));
  EXPECT_FALSE(is_forwarded_request_header(http::field::transfer_encoding));
  EXPECT_FALSE(is_forwarded_request_header(http::field::host));
}

}  // namespace
}  // namespace yg::proxy
