#include "core/log.h"

#include "core/json_escape.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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

// Structured loggers splice their members into the line's object, and do not change how the
// other loggers format (they share stderr, not a formatter).
TEST(Log, StructuredLinesAreOneObject) {
  ASSERT_TRUE(init("info", Format::Json));
  testing::internal::CaptureStderr();
  get_structured("test_access")->info(R"("status":200,"key":"a\"b")");
  get("test")->info("plain");
  get_structured("test_access")->flush();
  get("test")->flush();
  const std::string out = testing::internal::GetCapturedStderr();
  std::istringstream lines(out);
  std::string line;
  std::getline(lines, line);
  auto a = boost::json::parse(line).as_object();
  EXPECT_EQ(a.at("module").as_string(), "test_access");
  EXPECT_EQ(a.at("status").as_int64(), 200);
  EXPECT_EQ(a.at("key").as_string(), "a\"b");
  std::getline(lines, line);
  auto b = boost::json::parse(line).as_object();
  EXPECT_EQ(b.at("msg").as_string(), "plain");
  ASSERT_TRUE(init("info", Format::Text));
}

// Bytes that are not UTF-8 (a Latin-1 User-Agent, a raw 0xFF in a path) become U+FFFD, so a
// JSON line is always valid UTF-8; valid multi-byte characters pass unchanged.
TEST(Log, JsonEscapingKeepsUtf8Valid) {
  std::string out;
  append_json_escaped(
      out, "caf\xc3\xa9 \xff \xe2\x82\xac \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80 \xe2\x82");
  EXPECT_EQ(out,
            "caf\xc3\xa9 \\ufffd \xe2\x82\xac \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd "
            "\xf0\x9f\x98\x80 \\ufffd\\ufffd");
  auto v = boost::json::parse("\"" + out + "\"");
  EXPECT_TRUE(v.is_string());
}

// An unknown level name is refused instead of silently logging everything or nothing.
TEST(Log, RejectsUnknownLevel) {
  EXPECT_FALSE(init("verbose", Format::Text));
}

}  // namespace
}  // namespace yg::log

namespace yg::log {
namespace {

TEST(Throttle, OneLinePerIntervalWithTheSkippedCount) {
  Throttle t(std::chrono::milliseconds(200));
  uint64_t skipped = 99;
  EXPECT_TRUE(t.allow(skipped));
  EXPECT_EQ(skipped, 0u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(t.allow(skipped));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_TRUE(t.allow(skipped));
  EXPECT_EQ(skipped, 5u);
}

TEST(Throttle, ConcurrentCallersLetOneThrough) {
  Throttle t(std::chrono::hours(1));
  std::atomic<int> allowed{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      for (int k = 0; k < 1000; ++k) {
        uint64_t s = 0;
        allowed += t.allow(s) ? 1 : 0;
      }
    });
  }
  for (auto& th : ts) {
    th.join();
  }
  EXPECT_EQ(allowed.load(), 1);
}

}  // namespace
}  // namespace yg::log
