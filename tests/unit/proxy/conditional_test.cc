#include "proxy/conditional.h"

#include <gtest/gtest.h>

namespace yg::proxy {
namespace {
namespace http = boost::beast::http;

const SysTime kLastModified = SysClock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT

Precondition eval(std::initializer_list<std::pair<http::field, const char*>> hs,
                  std::string_view etag = "\"abc\"") {
  http::fields f;
  for (const auto& [k, v] : hs) {
    f.set(k, v);
  }
  return evaluate_preconditions(f, etag, kLastModified);
}

// RFC 9110 5.6.7: all three HTTP-date forms parse to the same instant; garbage does not.
TEST(Conditional, ParsesAllHttpDateForms) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), kLastModified);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), kLastModified);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), kLastModified);
  EXPECT_FALSE(parse_http_date("yesterday"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing"));
}

// HTTP-7: If-None-Match matches lists, weak tags (weak comparison) and "*" -> 304.
TEST(Conditional, IfNoneMatchListsWeakAndStar) {
  EXPECT_EQ(eval({{http::field::if_none_match, "\"abc\""}}), Precondition::NotModified);
  EXPECT_EQ(eval({{http::field::if_none_match, "\"x\", \"abc\""}}), Precondition::NotModified);
  EXPECT_EQ(eval({{http::field::if_none_match, "W/\"abc\""}}), Precondition::NotModified);
  EXPECT_EQ(eval({{http::field::if_none_match, "*"}}), Precondition::NotModified);
  EXPECT_EQ(eval({{http::field::if_none_match, "\"x\", \"y\""}}), Precondition::Proceed);
  EXPECT_EQ(eval({{http::field::if_none_match, "abc"}}), Precondition::Proceed);  // unquoted
}

// HTTP-7: If-Match uses strong comparison; a mismatch or a weak tag -> 412.
TEST(Conditional, IfMatchIsStrong) {
  EXPECT_EQ(eval({{http::field::if_match, "\"abc\""}}), Precondition::Proceed);
  EXPECT_EQ(eval({{http::field::if_match, "*"}}), Precondition::Proceed);
  EXPECT_EQ(eval({{http::field::if_match, "\"nope\""}}), Precondition::Failed);
  EXPECT_EQ(eval({{http::field::if_match, "W/\"abc\""}}), Precondition::Failed);
  EXPECT_EQ(eval({{http::field::if_match, "\"abc\""}}, "W/\"abc\""), Precondition::Failed);
}

// HTTP-7: If-Modified-Since compares dates; If-None-Match takes precedence over it.
TEST(Conditional, IfModifiedSinceComparesDates) {
  EXPECT_EQ(eval({{http::field::if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT"}}),
            Precondition::NotModified);
  EXPECT_EQ(eval({{http::field::if_modified_since, "Mon, 07 Nov 1994 08:49:37 GMT"}}),
            Precondition::NotModified);
  EXPECT_EQ(eval({{http::field::if_modified_since, "Sat, 05 Nov 1994 08:49:37 GMT"}}),
            Precondition::Proceed);
  EXPECT_EQ(eval({{http::field::if_modified_since, "not a date"}}), Precondition::Proceed);
  EXPECT_EQ(eval({{http::field::if_none_match, "\"other\""},
                  {http::field::if_modified_since, "Mon, 07 Nov 1994 08:49:37 GMT"}}),
            Precondition::Proceed);
}

// HTTP-7: If-Unmodified-Since in the past of Last-Modified -> 412; If-Match takes precedence.
TEST(Conditional, IfUnmodifiedSince) {
  EXPECT_EQ(eval({{http::field::if_unmodified_since, "Sat, 05 Nov 1994 08:49:37 GMT"}}),
            Precondition::Failed);
  EXPECT_EQ(eval({{http::field::if_unmodified_since, "Sun, 06 Nov 1994 08:49:37 GMT"}}),
            Precondition::Proceed);
  EXPECT_EQ(eval({{http::field::if_match, "\"abc\""},
                  {http::field::if_unmodified_since, "Sat, 05 Nov 1994 08:49:37 GMT"}}),
            Precondition::Proceed);
}

// No conditional headers: proceed.
TEST(Conditional, NoHeadersProceeds) {
  EXPECT_EQ(eval({}), Precondition::Proceed);
}

}  // namespace
}  // namespace yg::proxy
