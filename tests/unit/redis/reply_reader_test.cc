#include "redis/reply_reader.h"

#include <gtest/gtest.h>

#include <string>

namespace yg::redis {
namespace {

Reply parse_one(std::string_view wire, std::size_t max = 1 << 20) {
  ReplyReader r(max);
  EXPECT_TRUE(r.feed(wire.data(), wire.size()));
  Reply out;
  EXPECT_EQ(r.next(out), ReplyReader::Status::Reply);
  return out;
}

// Every RESP2 type becomes the matching Reply.
TEST(ReplyReader, ParsesEveryRespType) {
  EXPECT_TRUE(parse_one("+OK\r\n").is_ok());
  const Reply err = parse_one("-ERR wrong\r\n");
  EXPECT_TRUE(err.is_error());
  EXPECT_EQ(err.str, "ERR wrong");
  const Reply i = parse_one(":-12\r\n");
  EXPECT_TRUE(i.is_integer());
  EXPECT_EQ(i.integer, -12);
  EXPECT_TRUE(parse_one("$-1\r\n").is_nil());
  EXPECT_TRUE(parse_one("*-1\r\n").is_nil());
  const Reply s = parse_one(std::string_view("$5\r\na\0\r\nb\r\n", 11));
  EXPECT_TRUE(s.is_string());
  EXPECT_EQ(s.str, std::string("a\0\r\nb", 5));
  EXPECT_TRUE(parse_one("$0\r\n\r\n").is_string());
}

// Nested arrays keep their shape (CLUSTER SLOTS is three levels deep).
TEST(ReplyReader, ParsesNestedArrays) {
  const Reply r = parse_one("*3\r\n:1\r\n*2\r\n$1\r\na\r\n*1\r\n$-1\r\n*0\r\n");
  ASSERT_TRUE(r.is_array());
  ASSERT_EQ(r.elements.size(), 3u);
  EXPECT_EQ(r.elements[0].integer, 1);
  ASSERT_EQ(r.elements[1].elements.size(), 2u);
  EXPECT_EQ(r.elements[1].elements[0].str, "a");
  EXPECT_TRUE(r.elements[1].elements[1].elements[0].is_nil());
  EXPECT_TRUE(r.elements[2].is_array());
  EXPECT_TRUE(r.elements[2].elements.empty());
}

// Replies split anywhere across reads, and several in one read, come out whole and in order.
TEST(ReplyReader, HandlesArbitrarySplitsAndPipelinedReplies) {
  const std::string wire = "+OK\r\n$3\r\nabc\r\n*2\r\n:7\r\n$2\r\nxy\r\n";
  for (std::size_t step = 1; step <= wire.size(); ++step) {
    ReplyReader r(1 << 20);
    std::vector<Reply> got;
    for (std::size_t off = 0; off < wire.size(); off += step) {
      ASSERT_TRUE(r.feed(wire.data() + off, std::min(step, wire.size() - off)));
      Reply x;
      while (r.next(x) == ReplyReader::Status::Reply) {
        got.push_back(std::move(x));
      }
    }
    ASSERT_EQ(got.size(), 3u) << "step " << step;
    EXPECT_TRUE(got[0].is_ok());
    EXPECT_EQ(got[1].str, "abc");
    EXPECT_EQ(got[2].elements[1].str, "xy");
  }
}

// A bulk string longer than the limit is refused from its length header alone.
TEST(ReplyReader, RefusesOversizedBulkFromItsHeader) {
  ReplyReader r(1000);
  const std::string head = "$5000\r\nabc";
  ASSERT_TRUE(r.feed(head.data(), head.size()));
  Reply x;
  EXPECT_EQ(r.next(x), ReplyReader::Status::Error);
  EXPECT_TRUE(r.too_large());
  EXPECT_NE(r.error().find("max_reply_bytes"), std::string::npos);
}

// Many small strings that add up past the limit are refused too.
TEST(ReplyReader, RefusesArraysWhoseStringsAddUpPastTheLimit) {
  ReplyReader r(100);
  std::string wire = "*20\r\n";
  for (int i = 0; i < 20; ++i) {
    wire += "$10\r\n0123456789\r\n";
  }
  ASSERT_TRUE(r.feed(wire.data(), wire.size()));
  Reply x;
  EXPECT_EQ(r.next(x), ReplyReader::Status::Error);
  EXPECT_TRUE(r.too_large());
}

// A reply exactly at the limit passes, and the budget resets per reply.
TEST(ReplyReader, AllowsRepliesUpToTheLimitEachTime) {
  ReplyReader r(10);
  const std::string wire = "$10\r\n0123456789\r\n$10\r\n9876543210\r\n";
  ASSERT_TRUE(r.feed(wire.data(), wire.size()));
  Reply x;
  ASSERT_EQ(r.next(x), ReplyReader::Status::Reply);
  EXPECT_EQ(x.str, "0123456789");
  ASSERT_EQ(r.next(x), ReplyReader::Status::Reply);
  EXPECT_EQ(x.str, "9876543210");
  EXPECT_EQ(r.next(x), ReplyReader::Status::NeedMore);
}

// Garbage is a protocol error, not a crash.
TEST(ReplyReader, ReportsGarbageAsAnError) {
  ReplyReader r(1000);
  ASSERT_TRUE(r.feed("?what\r\n", 7));
  Reply x;
  EXPECT_EQ(r.next(x), ReplyReader::Status::Error);
  EXPECT_FALSE(r.too_large());
  EXPECT_FALSE(r.error().empty());
}

}  // namespace
}  // namespace yg::redis
