#include "core/log.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <sstream>
#include <string>

namespace yg::log {
namespace {

// OBS-3: with format json every line is one valid JSON object, whatever the message holds.
TEST(Log, JsonLinesEscapeTheMessage) {
  ASSERT_TRUE(init("info", Format::Json));
  testing::internal::CaptureStderr();
  get("test")->info("quote \" backslash \\ newline \n tab \t bell \x07 end");
  get("test")->flush();
  const std::string out = testing::internal::GetCapturedStderr();
  ASSERT_FALSE(out.empty());
  std::istringstream lines(out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto v = boost::json::parse(line).as_object();
    EXPECT_EQ(v.at("module").as_string(), "test");
    EXPECT_EQ(v.at("level").as_string(), "info");
    EXPECT_EQ(v.at("msg").as_string(), "quote \" backslash \\ newline \n tab \t bell \x07 end");
    ++n;
  }
  EXPECT_EQ(n, 1);
  ASSERT_TRUE(init("info", Format::Text));
}

// An unknown level name is refused instead of silently logging everything or nothing.
TEST(Log, RejectsUnknownLevel) {
  EXPECT_FALSE(init("verbose", Format::Text));
}

}  // namespace
}  // namespace yg::log
