#include <gtest/gtest.h>

#include "redis/client.h"

namespace yg::redis {
namespace {

// Arguments become a RESP array of bulk strings, binary-safe.
TEST(Command, EncodesArgumentsAsRespBulkStrings) {
  Command c{"SET", "k", std::string_view("a\0b", 3)};
  EXPECT_EQ(c.argc(), 3u);
  EXPECT_EQ(c.header(), "*3\r\n");
  EXPECT_EQ(c.body(), std::string("$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n", 25));
}

// Integers are sent as their decimal text; an empty argument is "$0".
TEST(Command, EncodesIntegersAndEmptyArguments) {
  Command c{"EXPIRE"};
  c.arg("key").arg(int64_t{-42}).arg("");
  EXPECT_EQ(c.header(), "*4\r\n");
  EXPECT_EQ(c.body(), "$6\r\nEXPIRE\r\n$3\r\nkey\r\n$3\r\n-42\r\n$0\r\n\r\n");
}

// arg_concat writes one argument from several pieces.
TEST(Command, ConcatenatesPiecesIntoOneArgument) {
  Command c{"SET", "k"};
  c.arg_concat({"head", "", "body"});
  EXPECT_EQ(c.argc(), 3u);
  EXPECT_EQ(c.body(), "$3\r\nSET\r\n$1\r\nk\r\n$8\r\nheadbody\r\n");
}

// The key is argument 1 by default, can be moved (before or after appending), or be absent.
TEST(Command, TracksTheKeyArgumentForRouting) {
  EXPECT_EQ((Command{"GET", "user:1"}).key(), "user:1");
  EXPECT_EQ(Command{"PING"}.key(), "");
  Command after{"XREAD", "COUNT", "1", "STREAMS", "s1"};
  after.key_index(4);
  EXPECT_EQ(after.key(), "s1");
  Command before;
  before.key_index(2).arg("EVALSHA").arg("abc").arg("thekey");
  EXPECT_EQ(before.key(), "thekey");
  Command keyless{"CLUSTER", "SLOTS"};
  keyless.key_index(-1);
  EXPECT_EQ(keyless.key(), "");
}

// A key argument full of CR/LF and '$' does not confuse the key lookup.
TEST(Command, FindsKeyAfterBinaryArguments) {
  Command c;
  c.arg("X").arg(std::string_view("$5\r\n\r\n\0", 7)).arg("k2");
  c.key_index(2);
  EXPECT_EQ(c.key(), "k2");
}

// Endpoints print as host:port, IPv6 in brackets.
TEST(Endpoint, PrintsHostAndPort) {
  EXPECT_EQ((Endpoint{"127.0.0.1", 6379}).to_string(), "127.0.0.1:6379");
  EXPECT_EQ((Endpoint{"::1", 7000}).to_string(), "[::1]:7000");
}

// Every error code has a name for logs.
TEST(Errc, HasNames) {
  EXPECT_EQ(errc_name(Errc::ok), "ok");
  EXPECT_EQ(errc_name(Errc::unavailable), "unavailable");
  EXPECT_EQ(errc_name(Errc::timeout), "timeout");
  EXPECT_EQ(errc_name(Errc::closed), "closed");
  EXPECT_EQ(errc_name(Errc::protocol), "protocol");
  EXPECT_EQ(errc_name(Errc::redirects), "redirects");
}

}  // namespace
}  // namespace yg::redis
