#include "core/http_text.h"

#include <gtest/gtest.h>

namespace yg {
namespace {

int64_t epoch(std::optional<SysTime> t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}

TEST(HttpText, HttpDateInItsThreeFormats) {
  EXPECT_EQ(epoch(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT")), 784111777);
  EXPECT_EQ(epoch(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT")), 784111777);
  EXPECT_EQ(epoch(parse_http_date("Sun Nov  6 08:49:37 1994")), 784111777);
  EXPECT_EQ(epoch(parse_http_date(" Sun, 06 Nov 1994 08:49:37 GMT\t")), 784111777);
  for (const char* bad : {"0", "", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 08:49:37 GMT x"}) {
    EXPECT_FALSE(parse_http_date(bad)) << bad;
  }
}

TEST(HttpText, TrimAndCaseInsensitiveTokens) {
  EXPECT_EQ(trim_ows(" \t a b \t"), "a b");
  EXPECT_EQ(trim_ows(""), "");
  EXPECT_TRUE(iequals_ascii("Max-Age", "max-age"));
  EXPECT_FALSE(iequals_ascii("max-age", "max-agex"));
  EXPECT_FALSE(iequals_ascii("ü", "Ü"));  // ASCII only
}

}  // namespace
}  // namespace yg
