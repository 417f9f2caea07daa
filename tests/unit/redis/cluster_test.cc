// The Client and Subscriber against a real 6-node Redis Cluster (3 masters + 3 replicas), set
// up once for the suite. Tests that move slots or fail over run last-but-one and last.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "redis/client.h"
#include "redis/slot.h"
#include "redis/topology.h"
#include "redis_test_util.h"
#include "support/redis_server.h"

namespace yg::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::exec;
using test::run_io;
using yg::test::RedisCluster;
using yg::test::RedisServer;

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty()) {
      out.push_back(l);
    }
  }
  return out;
}

class RedisClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = new RedisCluster(); }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  static ClientOptions options(uint16_t seed) {
    ClientOptions o;
    o.cluster = true;
    o.nodes = {Endpoint{"127.0.0.1", seed}};
    o.command_timeout = 1000ms;
    o.backoff_initial = 50ms;
    o.backoff_max = 500ms;
    return o;
  }
  static RedisServer& node(std::size_t i) { return *cluster_->nodes[i]; }

  // The slot map as a node sees it now.
  static std::shared_ptr<const Topology> slots(const std::shared_ptr<Client>& c) {
    Result r = run_io(c->exec_at(Endpoint{"127.0.0.1", node(0).port()},
                                 Command{"CLUSTER", "SLOTS"}.key_index(-1)));
    return parse_cluster_slots(r.reply, "127.0.0.1");
  }
  static std::string id_of(uint16_t port) {
    for (const auto& n : cluster_->topology(node(0))) {
      if (n.port == port) {
        return n.id;
      }
    }
    return "";
  }
  static std::vector<uint16_t> master_ports() {
    std::vector<uint16_t> out;
    for (const auto& n : cluster_->topology(node(0))) {
      if (n.master) {
        out.push_back(n.port);
      }
    }
    return out;
  }
  // Moves `slot` (with its keys) from `src` to `dst` the way redis-cli --cluster reshard does.
  static void move_slot(uint16_t slot, uint16_t src, uint16_t dst, bool finish = true) {
    const std::string s = std::to_string(slot);
    RedisServer& from = cluster_->by_port(src);
    RedisServer& to = cluster_->by_port(dst);
    to.cli({"CLUSTER", "SETSLOT", s, "IMPORTING", id_of(src)});
    from.cli({"CLUSTER", "SETSLOT", s, "MIGRATING", id_of(dst)});
    if (!finish) {
      return;
    }
    migrate_keys(slot, src, dst);
    finish_move(slot, dst);
  }
  static void migrate_keys(uint16_t slot, uint16_t src, uint16_t dst) {
    RedisServer& from = cluster_->by_port(src);
    for (const auto& key :
         lines(from.cli({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "1000"}))) {
      from.cli({"MIGRATE", "127.0.0.1", std::to_string(dst), key, "0", "5000"});
    }
  }
  static void finish_move(uint16_t slot, uint16_t dst) {
    const std::string id = id_of(dst);
    cluster_->by_port(dst).cli({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", id});
    for (uint16_t p : master_ports()) {
      cluster_->by_port(p).cli({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", id});
    }
  }

  static RedisCluster* cluster_;
};
RedisCluster* RedisClusterTest::cluster_ = nullptr;

// Keys spread over all slots and masters round-trip, one by one and in a batch; our slot
// function agrees with the server's CLUSTER KEYSLOT.
TEST_F(RedisClusterTest, RoutesKeysAcrossAllMasters) {
  auto c = Client::create(options(node(0).port()));
  std::vector<Command> sets, gets;
  for (int i = 0; i < 300; ++i) {
    const std::string k = "key:" + std::to_string(i);
    sets.push_back(Command{"SET", k, "value-" + std::to_string(i)});
    gets.push_back(Command{"GET", k});
  }
  for (const Result& r : run_io(c->exec_batch(std::move(sets)))) {
    ASSERT_TRUE(r.ok()) << r.detail;
    ASSERT_TRUE(r.reply.is_ok()) << r.reply.str;
  }
  std::vector<Result> got = run_io(c->exec_batch(std::move(gets)));
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(got[static_cast<std::size_t>(i)].reply.str, "value-" + std::to_string(i));
  }
  EXPECT_EQ(exec(c, Command{"GET", "key:7"}).reply.str, "value-7");
  for (const char* k : {"key:1", "{user}a", "abc", "x{}y", "foo{bar}"}) {
    Result r = run_io(c->exec_at(Endpoint{"127.0.0.1", node(1).port()},
                                 Command{"CLUSTER", "KEYSLOT", k}.key_index(-1)));
    EXPECT_EQ(r.reply.integer, key_slot(k)) << k;
  }
  auto ms = run_io(c->masters());
  EXPECT_EQ(ms.size(), 3u);
  EXPECT_EQ(c->stats().moved, 0u);
}

// A replica as the only seed is enough: the map comes from its CLUSTER SLOTS.
TEST_F(RedisClusterTest, StartsFromAReplicaSeed) {
  uint16_t replica = 0;
  for (const auto& n : cluster_->topology(node(0))) {
    if (!n.master) {
      replica = n.port;
    }
  }
  ASSERT_NE(replica, 0);
  auto c = Client::create(options(replica));
  for (int i = 0; i < 20; ++i) {
    const std::string k = "seed:" + std::to_string(i);
    ASSERT_TRUE(exec(c, Command{"SET", k, k}).reply.is_ok());
    ASSERT_EQ(exec(c, Command{"GET", k}).reply.str, k);
  }
}

// A slot moved to another master after the client learnt the map: the old owner answers MOVED,
// the client follows it and updates its map.
TEST_F(RedisClusterTest, FollowsMovedAfterASlotMoves) {
  auto c = Client::create(options(node(0).port()));
  const std::string key = "{moving}k";
  ASSERT_TRUE(exec(c, Command{"SET", key, "v1"}).reply.is_ok());
  const uint16_t slot = key_slot(key);
  const uint16_t src = slots(c)->master_for(slot)->port;
  uint16_t dst = 0;
  for (uint16_t p : master_ports()) {
    if (p != src) {
      dst = p;
    }
  }
  move_slot(slot, src, dst);
  Result r = exec(c, Command{"GET", key});
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.reply.str, "v1");
  EXPECT_GE(c->stats().moved, 1u);
  const uint64_t moved = c->stats().moved;
  EXPECT_EQ(exec(c, Command{"GET", key}).reply.str, "v1");
  EXPECT_EQ(c->stats().moved, moved);  // the map now says dst
}

// During a migration, a key already moved is answered with ASK: the client sends ASKING + the
// command to the importing node, without changing its map; keys not moved yet stay put.
TEST_F(RedisClusterTest, FollowsAskDuringAMigration) {
  auto c = Client::create(options(node(0).port()));
  ASSERT_TRUE(exec(c, Command{"SET", "{ask}a", "va"}).reply.is_ok());
  ASSERT_TRUE(exec(c, Command{"SET", "{ask}b", "vb"}).reply.is_ok());
  const uint16_t slot = key_slot("{ask}a");
  const uint16_t src = slots(c)->master_for(slot)->port;
  uint16_t dst = 0;
  for (uint16_t p : master_ports()) {
    if (p != src) {
      dst = p;
    }
  }
  move_slot(slot, src, dst, /*finish=*/false);
  cluster_->by_port(src).cli({"MIGRATE", "127.0.0.1", std::to_string(dst), "{ask}a", "0", "5000"});

  Result a = exec(c, Command{"GET", "{ask}a"});
  ASSERT_TRUE(a.ok()) << a.detail;
  EXPECT_EQ(a.reply.str, "va");
  EXPECT_GE(c->stats().ask, 1u);
  EXPECT_EQ(c->stats().moved, 0u);
  EXPECT_EQ(exec(c, Command{"GET", "{ask}b"}).reply.str, "vb");
  // A multi-key command over keys split by the migration gets TRYAGAIN: retried once after a
  // short wait, then returned as the error reply.
  const auto t0 = std::chrono::steady_clock::now();
  Result m = exec(c, Command{"MGET", "{ask}a", "{ask}b"});
  ASSERT_TRUE(m.ok()) << m.detail;
  EXPECT_TRUE(m.reply.is_error());
  EXPECT_EQ(m.reply.str.rfind("TRYAGAIN", 0), 0u) << m.reply.str;
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 70ms);
  // A new key in a migrating slot is created on the importing node.
  EXPECT_TRUE(exec(c, Command{"SET", "{ask}new", "vn"}).reply.is_ok());
  EXPECT_NE(cluster_->by_port(dst).cli({"-c", "GET", "{ask}new"}).find("vn"), std::string::npos);

  migrate_keys(slot, src, dst);
  finish_move(slot, dst);
  EXPECT_EQ(exec(c, Command{"GET", "{ask}b"}).reply.str, "vb");
  EXPECT_EQ(exec(c, Command{"GET", "{ask}new"}).reply.str, "vn");
  EXPECT_GE(c->stats().moved, 1u);
}

// A batch over many slots is split per node and comes back in order.
TEST_F(RedisClusterTest, BatchesAcrossNodesInOrder) {
  auto c = Client::create(options(node(2).port()));
  std::vector<Command> cmds;
  for (int i = 0; i < 60; ++i) {
    const std::string k = "b:" + std::to_string(i);
    cmds.push_back(Command{"SET", k, std::to_string(i)});
    cmds.push_back(Command{"INCR", k});
  }
  std::vector<Result> rs = run_io(c->exec_batch(std::move(cmds)));
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(rs[static_cast<std::size_t>(2 * i)].reply.is_ok());
    EXPECT_EQ(rs[static_cast<std::size_t>(2 * i + 1)].reply.integer, i + 1);
  }
}

// A subscriber on one node receives what is published on another (the cluster bus forwards it).
TEST_F(RedisClusterTest, SubscriberReceivesPublishFromAnotherNode) {
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  auto sub = Subscriber::start(io.get_executor(), options(node(0).port()), {"cluster-inval"},
                               [&](const std::string&, const std::string& payload) {
                                 std::lock_guard lk(mu);
                                 got.push_back(payload);
                                 cv.notify_all();
                               });
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!sub->subscribed() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(sub->subscribed());
  node(4).cli({"PUBLISH", "cluster-inval", "from-node-4"});
  {
    std::unique_lock lk(mu);
    EXPECT_TRUE(cv.wait_for(lk, 3s, [&] { return !got.empty(); }));
    if (!got.empty()) {
      EXPECT_EQ(got[0], "from-node-4");
    }
  }
  sub->stop();
  guard.reset();
  io.stop();
  t.join();
}

// Two masters that each say the other owns a slot bounce a command back and forth: it stops
// after 5 redirections with Errc::redirects.
TEST_F(RedisClusterTest, GivesUpAfterFiveRedirections) {
  auto c = Client::create(options(node(0).port()));
  const std::string key = "{redirect-loop}";
  const uint16_t slot = key_slot(key);
  ASSERT_TRUE(exec(c, Command{"GET", key}).reply.is_nil());
  const uint16_t owner = slots(c)->master_for(slot)->port;
  uint16_t other = 0;
  for (uint16_t p : master_ports()) {
    if (p != owner) {
      other = p;
    }
  }
  // The owner (holding no key in the slot) hands it to `other`, which is not told.
  ASSERT_NE(cluster_->by_port(owner)
                .cli({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", id_of(other)})
                .find("OK"),
            std::string::npos);
  Result r = exec(c, Command{"GET", key});
  // Put it back before asserting, so later tests find a sane cluster.
  cluster_->by_port(owner).cli({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", id_of(owner)});
  EXPECT_EQ(r.err, Errc::redirects) << r.detail;
  EXPECT_NE(r.detail.find("MOVED"), std::string::npos) << r.detail;
  EXPECT_GE(c->stats().moved, 5u);
  EXPECT_TRUE(cluster_->wait_ok(5s));
  Result after;
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline) {
    after = exec(c, Command{"GET", key});
    if (after.ok() && after.reply.is_nil()) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(after.ok() && after.reply.is_nil()) << after.detail << " " << after.reply.str;
}

// What the command loop saw while a failover happened.
struct LoopTally {
  std::atomic<bool> stop{false};
  std::atomic<int> ops{0}, errors{0}, wrong{0}, ok_after{0};
  std::atomic<bool> after{false};
  std::map<std::string, std::pair<int, int>> expected;  // key -> (certain value, pending value)
};

asio::awaitable<void> command_loop(std::shared_ptr<Client> c, std::vector<std::string> keys,
                                   LoopTally* t) {
  for (int i = 1; !t->stop; ++i) {
    const std::string& k = keys[static_cast<std::size_t>(i) % keys.size()];
    auto& [certain, pending] = t->expected[k];
    Result s = co_await c->exec(Command{"SET", k, std::to_string(i)});
    ++t->ops;
    if (s.ok() && s.reply.is_ok()) {
      certain = i;
      pending = -1;
    } else {
      ++t->errors;
      pending = i;  // may or may not have been applied
    }
    Result g = co_await c->exec(Command{"GET", k});
    ++t->ops;
    if (!g.ok() || !g.reply.is_string()) {
      ++t->errors;
      continue;
    }
    const int v = std::stoi(g.reply.str);
    if (v != certain && v != pending) {
      ++t->wrong;
    } else {
      certain = v;
      pending = -1;
    }
    if (t->after && s.ok() && g.ok()) {
      ++t->ok_after;
    }
  }
}

// CLUSTER FAILOVER on a replica while commands run: errors are transient and few, no read
// returns a value that was not written, and afterwards every key is readable.
TEST_F(RedisClusterTest, SurvivesAManualFailover) {
  auto o = options(node(0).port());
  auto c = Client::create(o);
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    keys.push_back("fo:" + std::to_string(i));
  }
  // A master and its replica, with the replication link up.
  std::string master_id;
  uint16_t replica = 0;
  for (const auto& n : cluster_->topology(node(0))) {
    if (!n.master && !n.master_id.empty()) {
      replica = n.port;
      master_id = n.master_id;
    }
  }
  ASSERT_NE(replica, 0);
  const auto link_deadline = std::chrono::steady_clock::now() + 10s;
  while (cluster_->by_port(replica).cli({"INFO", "replication"}).find("master_link_status:up") ==
             std::string::npos &&
         std::chrono::steady_clock::now() < link_deadline) {
    std::this_thread::sleep_for(50ms);
  }

  LoopTally tally;
  asio::io_context io;
  auto done = asio::co_spawn(io, command_loop(c, keys, &tally), asio::use_future);
  std::thread loop([&] {
    while (done.wait_for(0s) != std::future_status::ready) {
      io.run_one_for(100ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  const int before = tally.ops;
  EXPECT_GT(before, 0);

  RedisServer& r = cluster_->by_port(replica);
  EXPECT_NE(r.cli({"CLUSTER", "FAILOVER"}).find("OK"), std::string::npos);
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  bool promoted = false;
  while (!promoted && std::chrono::steady_clock::now() < deadline) {
    for (const auto& n : cluster_->topology(r)) {
      if (n.port == replica && n.master) {
        promoted = true;
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(promoted);
  EXPECT_TRUE(cluster_->wait_ok(10s));
  tally.after = true;
  std::this_thread::sleep_for(500ms);
  tally.stop = true;
  loop.join();
  done.get();

  const ClientStats st = c->stats();
  std::printf("failover: %d ops, %d errors, %d wrong; moved %llu, refreshes %llu, timeouts %llu\n",
              tally.ops.load(), tally.errors.load(), tally.wrong.load(),
              static_cast<unsigned long long>(st.moved),
              static_cast<unsigned long long>(st.topology_refreshes),
              static_cast<unsigned long long>(st.timeouts));
  EXPECT_EQ(tally.wrong.load(), 0);
  EXPECT_GT(tally.ok_after.load(), 20);
  EXPECT_LT(tally.errors.load(), 40) << "ops " << tally.ops.load();
  // Every key is readable with the last value written.
  std::vector<Command> gets;
  for (const auto& k : keys) {
    gets.push_back(Command{"GET", k});
  }
  std::vector<Result> rs = run_io(c->exec_batch(std::move(gets)));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_TRUE(rs[i].ok()) << rs[i].detail;
    ASSERT_TRUE(rs[i].reply.is_string()) << keys[i] << " " << rs[i].reply.str;
    const auto& [certain, pending] = tally.expected[keys[i]];
    const int v = std::stoi(rs[i].reply.str);
    EXPECT_TRUE(v == certain || v == pending) << keys[i];
  }
  (void)master_id;
}

// A master killed with -9: its slots fail fast (unavailable) until its replica is elected,
// then the client finds the new master by itself (failures mark the map stale; it is
// refreshed at most every 100 ms) and every key is readable again.
TEST_F(RedisClusterTest, FindsTheNewMasterAfterAMasterCrash) {
  auto c = Client::create(options(node(0).port()));
  test::Worker w;
  std::vector<std::string> keys;
  std::vector<Command> sets;
  for (int i = 0; i < 100; ++i) {
    keys.push_back("crash:" + std::to_string(i));
    sets.push_back(Command{"SET", keys.back(), "v" + std::to_string(i)});
  }
  for (const Result& r : w.run(c->exec_batch(std::move(sets)))) {
    ASSERT_TRUE(r.ok()) << r.detail;
  }
  // A master other than node 0 (our redis-cli vantage point), with its replica in sync.
  uint16_t victim = 0;
  for (const auto& n : cluster_->topology(node(0))) {
    if (n.master && n.port != node(0).port()) {
      victim = n.port;
    }
  }
  ASSERT_NE(victim, 0);
  EXPECT_NE(cluster_->by_port(victim).cli({"WAIT", "1", "2000"}).find("1"), std::string::npos);
  cluster_->by_port(victim).kill9();

  const auto t0 = std::chrono::steady_clock::now();
  int rounds = 0, failed_rounds = 0, wrong = 0;
  bool recovered = false;
  while (!recovered && std::chrono::steady_clock::now() - t0 < 15s) {
    std::vector<Command> gets;
    for (const auto& k : keys) {
      gets.push_back(Command{"GET", k});
    }
    std::vector<Result> rs = w.run(c->exec_batch(std::move(gets)));
    ++rounds;
    recovered = true;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (!rs[i].ok() || !rs[i].reply.is_string()) {
        recovered = false;
        EXPECT_NE(rs[i].err, Errc::protocol) << rs[i].detail;
      } else if (rs[i].reply.str != "v" + std::to_string(i)) {
        ++wrong;
      }
    }
    if (!recovered) {
      ++failed_rounds;
      std::this_thread::sleep_for(50ms);
    }
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  std::printf(
      "master crash: recovered after %lld ms, %d of %d rounds failed, refreshes %llu\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
      failed_rounds, rounds, static_cast<unsigned long long>(c->stats().topology_refreshes));
  EXPECT_TRUE(recovered);
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(failed_rounds, 0);  // the outage was real
  EXPECT_GE(c->stats().fast_failures, 1u);
}

}  // namespace
}  // namespace yg::redis
