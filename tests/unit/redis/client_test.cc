// The Client against a real standalone redis-server (tests/support/redis_server.h).
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <random>
#include <thread>

#include "redis/client.h"
#include "redis_test_util.h"
#include "support/redis_server.h"

namespace yg::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::exec;
using test::options_for;
using test::run_io;
using yg::test::RedisServer;
using yg::test::RedisServerOptions;

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) {
    c = static_cast<char>(rng());
  }
  return s;
}

// Binary values (NUL, CR/LF) round-trip through SET/GET/DEL.
TEST(Client, SetsGetsAndDeletesBinaryValues) {
  RedisServer server;
  auto c = Client::create(options_for(server));
  const std::string v("a\0b\r\n$3\r\nc", 11);
  EXPECT_TRUE(exec(c, Command{"SET", "bin", v}).reply.is_ok());
  Result got = exec(c, Command{"GET", "bin"});
  ASSERT_TRUE(got.ok()) << got.detail;
  ASSERT_TRUE(got.reply.is_string());
  EXPECT_EQ(got.reply.str, v);
  Result del = exec(c, Command{"DEL", "bin"});
  EXPECT_EQ(del.reply.integer, 1);
  EXPECT_TRUE(exec(c, Command{"GET", "bin"}).reply.is_nil());
  // An error reply is a successful exchange carrying the server's error.
  Result bad = exec(c, Command{"NOSUCHCOMMAND"});
  ASSERT_TRUE(bad.ok());
  EXPECT_TRUE(bad.reply.is_error());
}

// A 20 MiB value goes out and comes back intact.
TEST(Client, RoundTripsA20MiBValue) {
  RedisServer server;
  auto o = options_for(server);
  o.command_timeout = 5s;
  auto c = Client::create(o);
  const std::string big = random_bytes(20u << 20, 1);
  Command set{"SET", "big"};
  set.arg_concat({std::string_view(big).substr(0, 100), std::string_view(big).substr(100)});
  Result r = exec(c, std::move(set));
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_TRUE(r.reply.is_ok());
  Result got = exec(c, Command{"GET", "big"});
  ASSERT_TRUE(got.ok()) << got.detail;
  EXPECT_EQ(got.reply.str.size(), big.size());
  EXPECT_TRUE(got.reply.str == big);
}

asio::awaitable<void> set_then_get(std::shared_ptr<Client> c, int i, std::atomic<int>* bad,
                                   std::atomic<int>* done) {
  const std::string key = "k" + std::to_string(i);
  const std::string val = "v" + std::to_string(i * 7);
  Result s = co_await c->exec(Command{"SET", key, val});
  Result g = co_await c->exec(Command{"GET", key});
  if (!s.ok() || !s.reply.is_ok() || !g.ok() || g.reply.str != val) {
    ++*bad;
  }
  ++*done;
}

// 1000 coroutines with commands in flight at once on one context: every reply reaches the
// command it answers, over at most pool_size connections.
TEST(Client, PipelinesConcurrentCommandsAndMatchesReplies) {
  RedisServer server;
  auto o = options_for(server);
  o.command_timeout = 2s;
  auto c = Client::create(o);
  asio::io_context io;
  std::atomic<int> bad{0}, done{0};
  for (int i = 0; i < 1000; ++i) {
    asio::co_spawn(io, set_then_get(c, i, &bad, &done), asio::detached);
  }
  while (done < 1000 && io.run_one_for(5s) > 0) {
  }
  EXPECT_EQ(done.load(), 1000);
  EXPECT_EQ(bad.load(), 0);
  const ClientStats st = c->stats();
  EXPECT_LE(st.connects, o.pool_size);
  EXPECT_EQ(st.timeouts, 0u);
}

// A batch is pipelined and its results come back in the order given, error replies in place.
TEST(Client, ExecBatchReturnsResultsInOrder) {
  RedisServer server;
  auto c = Client::create(options_for(server));
  std::vector<Command> cmds;
  cmds.push_back(Command{"SET", "a", "1"});
  cmds.push_back(Command{"INCR", "a"});
  cmds.push_back(Command{"SET", "s", "text"});
  cmds.push_back(Command{"INCR", "s"});
  cmds.push_back(Command{"GET", "a"});
  cmds.push_back(Command{"GET", "missing"});
  std::vector<Result> rs = run_io(c->exec_batch(std::move(cmds)));
  ASSERT_EQ(rs.size(), 6u);
  for (const auto& r : rs) {
    ASSERT_TRUE(r.ok()) << r.detail;
  }
  EXPECT_TRUE(rs[0].reply.is_ok());
  EXPECT_EQ(rs[1].reply.integer, 2);
  EXPECT_TRUE(rs[3].reply.is_error());
  EXPECT_EQ(rs[4].reply.str, "2");
  EXPECT_TRUE(rs[5].reply.is_nil());
  EXPECT_TRUE(run_io(c->exec_batch({})).empty());
}

// requirepass: the right password works; a wrong one is `unavailable` with the server's AUTH
// message, and the password appears in no detail.
TEST(Client, AuthenticatesWithPasswordAndHidesItOnFailure) {
  RedisServerOptions so;
  so.args = {"--requirepass", "s3cret-pw"};
  RedisServer server(so);
  auto o = options_for(server);
  o.password = Secret("s3cret-pw");
  auto good = Client::create(o);
  EXPECT_TRUE(exec(good, Command{"SET", "x", "1"}).reply.is_ok());

  o.password = Secret("wrong-pw-value");
  auto bad = Client::create(o);
  Result r = exec(bad, Command{"GET", "x"});
  EXPECT_EQ(r.err, Errc::unavailable);
  EXPECT_NE(r.detail.find("AUTH"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("wrong-pw-value"), std::string::npos) << r.detail;
  EXPECT_EQ(bad->stats().connect_failures, 1u);
  // Inside the backoff the next command fails at once, still without the password.
  Result again = exec(bad, Command{"GET", "x"});
  EXPECT_EQ(again.err, Errc::unavailable);
  EXPECT_EQ(again.detail.find("wrong-pw-value"), std::string::npos) << again.detail;

  o.password = {};
  auto none = Client::create(o);
  Result noauth = exec(none, Command{"GET", "x"});
  ASSERT_TRUE(noauth.ok());
  EXPECT_TRUE(noauth.reply.is_error());  // NOAUTH
}

// An ACL user authenticates with AUTH user pass.
TEST(Client, AuthenticatesAsAnAclUser) {
  RedisServer server;
  server.cli({"ACL", "SETUSER", "app", "on", ">app-pw", "~*", "+@all"});
  auto o = options_for(server);
  o.username = "app";
  o.password = Secret("app-pw");
  auto c = Client::create(o);
  Result who = exec(c, Command{"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << who.detail;
  EXPECT_EQ(who.reply.str, "app");

  o.password = Secret("nope-pw");
  Result r = exec(Client::create(o), Command{"PING"});
  EXPECT_EQ(r.err, Errc::unavailable);
  EXPECT_NE(r.detail.find("AUTH failed"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("nope-pw"), std::string::npos);
}

// db selects a separate keyspace.
TEST(Client, SelectsTheConfiguredDatabase) {
  RedisServer server;
  auto o = options_for(server);
  o.db = 3;
  auto db3 = Client::create(o);
  o.db = 0;
  auto db0 = Client::create(o);
  EXPECT_TRUE(exec(db3, Command{"SET", "only3", "x"}).reply.is_ok());
  EXPECT_TRUE(exec(db0, Command{"GET", "only3"}).reply.is_nil());
  EXPECT_EQ(exec(db3, Command{"GET", "only3"}).reply.str, "x");
  EXPECT_NE(server.cli({"-n", "3", "GET", "only3"}).find("x"), std::string::npos);
}

// Redis down at start: create() works, commands fail with unavailable (at once during the
// backoff), and once the server is up the client connects by itself.
TEST(Client, StartsWithRedisDownAndRecoversWhenItComesUp) {
  RedisServerOptions so;
  so.start = false;
  RedisServer server(so);
  auto o = options_for(server);
  o.backoff_initial = 100ms;
  o.backoff_max = 400ms;
  auto c = Client::create(o);
  test::Worker w;
  Result first = w.exec(c, Command{"PING"});
  EXPECT_EQ(first.err, Errc::unavailable);
  const auto t0 = std::chrono::steady_clock::now();
  Result fast = w.exec(c, Command{"PING"});
  EXPECT_EQ(fast.err, Errc::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 50ms);
  EXPECT_NE(fast.detail.find("backoff"), std::string::npos) << fast.detail;
  EXPECT_EQ(c->stats().fast_failures, 1u);
  EXPECT_EQ(c->stats().connect_failures, 1u);

  server.start();
  Result r;
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline) {
    r = w.exec(c, Command{"PING"});
    if (r.ok()) {
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.reply.str, "PONG");
  // Only one connect per backoff window was attempted (no storm while down).
  EXPECT_LE(c->stats().connect_failures, 3u);
}

// A server killed mid-run: commands fail (closed / unavailable), then work again by themselves
// once it is back on the same port.
TEST(Client, RecoversAfterTheServerIsKilledAndRestarted) {
  RedisServer server;
  auto o = options_for(server);
  o.backoff_initial = 50ms;
  o.backoff_max = 200ms;
  auto c = Client::create(o);
  test::Worker w;  // one long-lived context
  auto run = [&](Command cmd) { return w.exec(c, std::move(cmd)); };
  ASSERT_TRUE(run(Command{"SET", "a", "1"}).ok());
  server.kill9();
  Result down = run(Command{"GET", "a"});
  EXPECT_FALSE(down.ok());
  EXPECT_TRUE(down.err == Errc::closed || down.err == Errc::unavailable) << errc_name(down.err);
  server.restart();
  Result r;
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < deadline) {
    r = run(Command{"SET", "a", "2"});
    if (r.ok()) {
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(run(Command{"GET", "a"}).reply.str, "2");
  EXPECT_GE(c->stats().disconnects, 1u);
  EXPECT_GE(c->stats().connects, 2u);
}

// A frozen server (SIGSTOP): commands time out within a bound of command_timeout; after
// SIGCONT the client works again.
TEST(Client, TimesOutOnAFrozenServerThenRecovers) {
  RedisServer server;
  auto o = options_for(server);
  o.command_timeout = 200ms;
  auto c = Client::create(o);
  ASSERT_TRUE(exec(c, Command{"PING"}).ok());
  server.freeze();
  const auto t0 = std::chrono::steady_clock::now();
  Result r = exec(c, Command{"PING"});
  const auto took = std::chrono::steady_clock::now() - t0;
  server.thaw();
  EXPECT_EQ(r.err, Errc::timeout) << r.detail;
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 600ms);
  EXPECT_GE(c->stats().timeouts, 1u);
  Result after = exec(c, Command{"PING"});
  ASSERT_TRUE(after.ok()) << after.detail;
}

// Every command in flight on the timed-out connection fails with timeout, not a shifted reply.
TEST(Client, FailsAllInFlightCommandsOnTimeout) {
  RedisServer server;
  auto o = options_for(server);
  o.command_timeout = 200ms;
  o.pool_size = 1;
  auto c = Client::create(o);
  ASSERT_TRUE(exec(c, Command{"SET", "k", "v"}).ok());
  server.freeze();
  std::vector<Command> cmds;
  for (int i = 0; i < 20; ++i) {
    cmds.push_back(Command{"GET", "k"});
  }
  std::vector<Result> rs = run_io(c->exec_batch(std::move(cmds)));
  server.thaw();
  for (const auto& r : rs) {
    EXPECT_EQ(r.err, Errc::timeout);
  }
  EXPECT_EQ(exec(c, Command{"GET", "k"}).reply.str, "v");
}

// A reply larger than max_reply_bytes is a protocol error; the next command works.
TEST(Client, RefusesRepliesLargerThanTheLimit) {
  RedisServer server;
  auto o = options_for(server);
  o.max_reply_bytes = 1 << 20;
  auto c = Client::create(o);
  ASSERT_TRUE(exec(c, Command{"SET", "big", std::string(2 << 20, 'x')}).reply.is_ok());
  ASSERT_TRUE(exec(c, Command{"SET", "small", "y"}).reply.is_ok());
  Result r = exec(c, Command{"GET", "big"});
  EXPECT_EQ(r.err, Errc::protocol);
  EXPECT_NE(r.detail.find("max_reply_bytes"), std::string::npos) << r.detail;
  EXPECT_EQ(exec(c, Command{"GET", "small"}).reply.str, "y");
}

asio::awaitable<int> worker_loop(std::shared_ptr<Client> c, int t) {
  int ok = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "t" + std::to_string(t) + ":" + std::to_string(i);
    std::vector<Command> cmds;
    cmds.push_back(Command{"SET", key, key});
    cmds.push_back(Command{"GET", key});
    std::vector<Result> rs = co_await c->exec_batch(std::move(cmds));
    if (rs[0].ok() && rs[1].ok() && rs[1].reply.str == key) {
      ++ok;
    }
  }
  co_return ok;
}

// One Client used from 8 threads, each with its own io_context: each context gets its own pool
// and every command succeeds.
TEST(Client, ServesManyIoContextsOnThreads) {
  RedisServer server;
  auto o = options_for(server);
  o.command_timeout = 2s;
  auto c = Client::create(o);
  std::vector<std::thread> threads;
  std::atomic<int> total{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] { total += run_io(worker_loop(c, t)); });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(total.load(), 8 * 200);
  EXPECT_GE(c->stats().connects, 8u);
}

// Callers on a multi-threaded thread_pool (the cache engine's shape) share the pool's
// connections safely.
TEST(Client, ServesAThreadPoolCaller) {
  RedisServer server;
  auto o = options_for(server);
  o.command_timeout = 2s;
  auto c = Client::create(o);
  asio::thread_pool pool(4);
  std::vector<std::future<int>> fs;
  for (int t = 0; t < 16; ++t) {
    fs.push_back(asio::co_spawn(pool, worker_loop(c, t), asio::use_future));
  }
  int total = 0;
  for (auto& f : fs) {
    ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
    total += f.get();
  }
  EXPECT_EQ(total, 16 * 200);
  EXPECT_LE(c->stats().connects, o.pool_size);
  c.reset();  // closes its connections: the pool can wind down by itself
  pool.join();
}

asio::awaitable<Result> exec_then_drop(std::shared_ptr<Client> c) {
  Result r = co_await c->exec(Command{"PING"});
  c.reset();
  co_return r;
}

// Destroying the Client closes its connections in every context, so a context with nothing
// else to do returns from run() on its own.
TEST(Client, DestroyingTheClientLetsTheContextFinish) {
  RedisServer server;
  auto c = Client::create(options_for(server));
  asio::io_context io;
  auto f = asio::co_spawn(io, exec_then_drop(std::move(c)), asio::use_future);
  std::thread t([&] { io.run(); });
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(f.get().ok());
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!io.stopped() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(io.stopped());
  if (!io.stopped()) {
    io.stop();
  }
  t.join();
}

// Destroying the Client while a command waits on another thread's context completes that
// command at once with `closed` (not after command_timeout).
TEST(Client, DestroyingTheClientFailsCommandsInFlight) {
  RedisServer server;
  auto o = options_for(server);
  o.command_timeout = 10s;
  auto c = Client::create(o);
  ASSERT_TRUE(exec(c, Command{"PING"}).ok());
  server.freeze();
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  auto f = asio::co_spawn(io, c->exec(Command{"GET", "k"}), asio::use_future);
  std::this_thread::sleep_for(100ms);
  const auto t0 = std::chrono::steady_clock::now();
  c.reset();
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_EQ(f.get().err, Errc::closed);
  server.thaw();
  guard.reset();
  io.stop();
  t.join();
}

// A context destroyed with commands in flight (their coroutines die with it) is safe: nothing
// completes into the dead context and nothing leaks (checked under ASan).
TEST(Client, DestroyingAContextWithCommandsInFlightIsSafe) {
  RedisServer server;
  auto o = options_for(server);
  o.command_timeout = 10s;
  auto c = Client::create(o);
  ASSERT_TRUE(exec(c, Command{"PING"}).ok());
  server.freeze();
  {
    asio::io_context io;
    for (int i = 0; i < 10; ++i) {
      asio::co_spawn(io, c->exec(Command{"GET", "k"}), asio::detached);
    }
    io.run_for(100ms);
  }
  server.thaw();
  EXPECT_TRUE(exec(c, Command{"PING"}).ok());
}

// A context destroyed while the Client lives drops its pools; the Client keeps working on
// other contexts.
TEST(Client, OutlivesTheContextsThatUsedIt) {
  RedisServer server;
  auto c = Client::create(options_for(server));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(exec(c, Command{"INCR", "n"}).ok());
  }
  EXPECT_EQ(exec(c, Command{"GET", "n"}).reply.str, "5");
  EXPECT_EQ(c->stats().connections_open, 0u);  // every context above is gone
}

// masters() of a standalone client is its node; exec_at reaches the node given.
TEST(Client, ListsTheStandaloneNodeAndExecutesAtANode) {
  RedisServer server;
  auto c = Client::create(options_for(server));
  auto ms = run_io(c->masters());
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].port, server.port());
  Result r = run_io(c->exec_at(ms[0], Command{"PING"}));
  EXPECT_EQ(r.reply.str, "PONG");
}

// Wrong options are refused at create().
TEST(Client, RejectsInvalidOptions) {
  ClientOptions o;
  EXPECT_THROW(Client::create(o), std::invalid_argument);
  o.nodes = {{"a", 1}, {"b", 2}};
  EXPECT_THROW(Client::create(o), std::invalid_argument);
  o.cluster = true;
  EXPECT_NO_THROW(Client::create(o));
  o.db = 2;
  EXPECT_THROW(Client::create(o), std::invalid_argument);
  o.db = 0;
  o.tls = true;
  o.tls_ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(Client::create(o), std::invalid_argument);
}

}  // namespace
}  // namespace yg::redis
