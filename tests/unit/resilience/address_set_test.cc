#include "resilience/address_set.h"

#include <gtest/gtest.h>

namespace yg::resilience {
namespace {
namespace ip = boost::asio::ip;

ip::address A(const char* s) {
  return ip::make_address(s);
}

TEST(AddressSet, MatchesAddressesAndRanges) {
  auto s = AddressSet::parse({"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "172.16.0.0/12"});
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->contains(A("10.255.1.2")));
  EXPECT_TRUE(s->contains(A("192.0.2.7")));
  EXPECT_FALSE(s->contains(A("192.0.2.8")));
  EXPECT_TRUE(s->contains(A("172.31.255.255")));
  EXPECT_FALSE(s->contains(A("172.32.0.0")));
  EXPECT_TRUE(s->contains(A("2001:db8:1::5")));
  EXPECT_FALSE(s->contains(A("2001:db9::1")));
  // An IPv4 client seen through a dual-stack socket.
  EXPECT_TRUE(s->contains(A("::ffff:10.1.2.3")));
  EXPECT_FALSE(s->contains(A("::ffff:11.1.2.3")));
}

TEST(AddressSet, EdgePrefixes) {
  auto all4 = AddressSet::parse({"0.0.0.0/0"});
  ASSERT_TRUE(all4);
  EXPECT_TRUE(all4->contains(A("203.0.113.9")));
  EXPECT_FALSE(all4->contains(A("2001:db8::1")));
  auto odd = AddressSet::parse({"10.0.0.128/25"});
  EXPECT_TRUE(odd->contains(A("10.0.0.200")));
  EXPECT_FALSE(odd->contains(A("10.0.0.127")));
  EXPECT_FALSE(AddressSet::parse({"10.0.0.0/33"}));
  EXPECT_FALSE(AddressSet::parse({"nope"}));
  EXPECT_FALSE(AddressSet::parse({"10.0.0.0/x"}));
}

TEST(ClientAddress, PeerUnlessTrusted) {
  auto trusted = *AddressSet::parse({"127.0.0.1", "10.0.0.0/8"});
  auto none = *AddressSet::parse({});
  // Untrusted peer: X-Forwarded-For is the client's own claim, ignored.
  EXPECT_EQ(client_address(A("198.51.100.1"), "1.2.3.4", trusted), A("198.51.100.1"));
  EXPECT_EQ(client_address(A("127.0.0.1"), "1.2.3.4", none), A("127.0.0.1"));
  // Trusted peer: the rightmost hop that is not a trusted proxy.
  EXPECT_EQ(client_address(A("127.0.0.1"), "1.2.3.4", trusted), A("1.2.3.4"));
  EXPECT_EQ(client_address(A("127.0.0.1"), "6.6.6.6, 1.2.3.4, 10.0.0.5", trusted), A("1.2.3.4"));
  EXPECT_EQ(client_address(A("127.0.0.1"), "[2001:db8::7]", trusted), A("2001:db8::7"));
  EXPECT_EQ(client_address(A("127.0.0.1"), "1.2.3.4:5678", trusted), A("1.2.3.4"));
  // Every hop trusted: the leftmost.
  EXPECT_EQ(client_address(A("127.0.0.1"), "10.0.0.1,10.0.0.2", trusted), A("10.0.0.1"));
  // Garbage stops the walk at the last good hop; nothing at all: the peer.
  EXPECT_EQ(client_address(A("127.0.0.1"), "1.2.3.4, junk, 10.0.0.9", trusted), A("10.0.0.9"));
  EXPECT_EQ(client_address(A("127.0.0.1"), "", trusted), A("127.0.0.1"));
  EXPECT_EQ(client_address(A("127.0.0.1"), "1.2.3.4,", trusted), A("127.0.0.1"));
}

}  // namespace
}  // namespace yg::resilience
