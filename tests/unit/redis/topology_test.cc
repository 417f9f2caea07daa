#include "redis/topology.h"

#include <gtest/gtest.h>

#include "redis/reply_reader.h"
#include "redis/slot.h"

namespace yg::redis {
namespace {

// The CRC16 check value and key slots from the Redis cluster specification.
TEST(Slot, MatchesTheClusterSpecVectors) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("hello"), 866);
  EXPECT_EQ(key_slot(""), 0);
}

// Hash tags: only the first non-empty {...} counts (cluster spec, "Hash tags").
TEST(Slot, HashesOnlyTheFirstNonEmptyHashTag) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") % kSlots);
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  EXPECT_EQ(key_slot("foo{bar"), crc16("foo{bar") % kSlots);
}

Reply parse(std::string_view wire) {
  ReplyReader r(1 << 20);
  EXPECT_TRUE(r.feed(wire.data(), wire.size()));
  Reply out;
  EXPECT_EQ(r.next(out), ReplyReader::Status::Reply);
  return out;
}

// A CLUSTER SLOTS reply maps each range to its master and lists the replicas; an empty host is
// the host that answered.
TEST(Topology, ParsesClusterSlots) {
  const Reply r = parse(
      "*2\r\n"
      "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
      "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nid\r\n"
      "*3\r\n:5461\r\n:16383\r\n*2\r\n$0\r\n\r\n:7001\r\n");
  auto t = parse_cluster_slots(r, "10.0.0.9");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->masters.size(), 2u);
  EXPECT_EQ(*t->master_for(0), (Endpoint{"127.0.0.1", 7000}));
  EXPECT_EQ(*t->master_for(5460), (Endpoint{"127.0.0.1", 7000}));
  EXPECT_EQ(*t->master_for(5461), (Endpoint{"10.0.0.9", 7001}));
  ASSERT_EQ(t->replicas.size(), 1u);
  EXPECT_EQ(t->replicas[0].port, 7003);
}

// Malformed or empty replies give no map; uncovered slots have no owner.
TEST(Topology, RejectsMalformedSlotsAndLeavesGapsUnowned) {
  EXPECT_EQ(parse_cluster_slots(parse("*0\r\n"), "h"), nullptr);
  EXPECT_EQ(parse_cluster_slots(parse("-ERR no\r\n"), "h"), nullptr);
  EXPECT_EQ(parse_cluster_slots(parse("*1\r\n*3\r\n:5\r\n:2\r\n*2\r\n$1\r\na\r\n:1\r\n"), "h"),
            nullptr);
  auto t = parse_cluster_slots(parse("*1\r\n*3\r\n:0\r\n:9\r\n*2\r\n$1\r\na\r\n:1\r\n"), "h");
  ASSERT_NE(t, nullptr);
  EXPECT_NE(t->master_for(9), nullptr);
  EXPECT_EQ(t->master_for(10), nullptr);
}

// MOVED and ASK errors give the slot and target; anything else is not a redirect.
TEST(Topology, ParsesRedirects) {
  auto m = parse_redirect("MOVED 3999 127.0.0.1:6381", "x");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->kind, Redirect::Kind::Moved);
  EXPECT_EQ(m->slot, 3999);
  EXPECT_EQ(m->to, (Endpoint{"127.0.0.1", 6381}));
  auto a = parse_redirect("ASK 12 :7000", "10.1.1.1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, Redirect::Kind::Ask);
  EXPECT_EQ(a->to, (Endpoint{"10.1.1.1", 7000}));
  auto v6 = parse_redirect("MOVED 1 [::1]:7000", "x");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->to.host, "::1");
  EXPECT_FALSE(parse_redirect("ERR MOVED 1 a:1", "x"));
  EXPECT_FALSE(parse_redirect("MOVED 99999 a:1", "x"));
  EXPECT_FALSE(parse_redirect("MOVED 1 a:0", "x"));
  EXPECT_FALSE(parse_redirect("MOVED 1 nocolon", "x"));
  EXPECT_TRUE(is_retry_later("TRYAGAIN Multiple keys request during rehashing of slot"));
  EXPECT_TRUE(is_retry_later("CLUSTERDOWN The cluster is down"));
  EXPECT_FALSE(is_retry_later("ERR other"));
}

// A MOVED changes one slot's owner in a new snapshot and marks the map stale; a refresh claim
// is granted once per interval.
TEST(TopologyHolder, AppliesMovedCopyOnWriteAndRateLimitsRefreshes) {
  TopologyHolder h;
  auto t = std::make_shared<Topology>();
  t->masters.push_back({"a", 1});
  t->owner.fill(0);
  h.set(t);
  auto before = h.get();
  EXPECT_FALSE(h.stale());
  h.moved(42, {"b", 2});
  EXPECT_TRUE(h.stale());
  EXPECT_EQ(before->master_for(42)->host, "a");
  EXPECT_EQ(h.get()->master_for(42)->host, "b");
  EXPECT_EQ(h.get()->master_for(43)->host, "a");
  const auto now = std::chrono::steady_clock::now();
  EXPECT_TRUE(h.claim_refresh(now));
  EXPECT_FALSE(h.claim_refresh(now + std::chrono::milliseconds(50)));
  EXPECT_TRUE(h.claim_refresh(now + std::chrono::milliseconds(150)));
  h.set(h.get());
  EXPECT_FALSE(h.claim_refresh(now + std::chrono::seconds(10)));
}

}  // namespace
}  // namespace yg::redis
