// Subscriber against a real redis-server: delivery, resubscription after a restart, stop().
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
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
using yg::test::RedisServer;

// An io_context on its own thread, and what the handler received.
struct Inbox {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::string, std::string>> got;

  ~Inbox() {
    work.reset();
    io.stop();
    thread.join();
  }
  Subscriber::Handler handler() {
    return [this](const std::string& ch, const std::string& payload) {
      std::lock_guard lk(mu);
      got.emplace_back(ch, payload);
      cv.notify_all();
    };
  }
  bool wait_for(const std::string& payload, std::chrono::milliseconds d) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, d, [&] {
      for (const auto& m : got) {
        if (m.second == payload) {
          return true;
        }
      }
      return false;
    });
  }
  std::size_t count() {
    std::lock_guard lk(mu);
    return got.size();
  }
};

bool wait_until(const std::function<bool()>& f, std::chrono::milliseconds d) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

// Published messages reach the handler; after the server is killed and restarted the
// subscriber resubscribes by itself and receives again.
TEST(Subscriber, ReceivesMessagesAndResubscribesAfterARestart) {
  RedisServer server;
  auto o = options_for(server);
  o.backoff_initial = 50ms;
  o.backoff_max = 200ms;
  Inbox inbox;
  auto sub = Subscriber::start(inbox.io.get_executor(), o, {"inval", "other"}, inbox.handler());
  ASSERT_TRUE(wait_until([&] { return sub->subscribed(); }, 3s));
  auto pub = Client::create(o);
  Result r = exec(pub, Command{"PUBLISH", "inval", std::string("key\0one", 7)});
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.reply.integer, 1);
  ASSERT_TRUE(inbox.wait_for(std::string("key\0one", 7), 3s));
  {
    std::lock_guard lk(inbox.mu);
    EXPECT_EQ(inbox.got.front().first, "inval");
  }

  server.kill9();
  ASSERT_TRUE(wait_until([&] { return !sub->subscribed(); }, 3s));
  server.restart();
  ASSERT_TRUE(wait_until([&] { return sub->subscribed() && sub->reconnects() >= 1; }, 5s));
  Result r2;
  ASSERT_TRUE(wait_until(
      [&] {
        r2 = exec(pub, Command{"PUBLISH", "other", "after-restart"});
        return r2.ok() && r2.reply.integer == 1;
      },
      3s))
      << r2.detail;
  EXPECT_TRUE(inbox.wait_for("after-restart", 3s));
  sub->stop();
}

// After stop() returns on the executor, no handler runs, even for messages already read.
TEST(Subscriber, DeliversNothingAfterStop) {
  RedisServer server;
  auto o = options_for(server);
  Inbox inbox;
  auto sub = Subscriber::start(inbox.io.get_executor(), o, {"ch"}, inbox.handler());
  ASSERT_TRUE(wait_until([&] { return sub->subscribed(); }, 3s));
  auto pub = Client::create(o);
  ASSERT_EQ(exec(pub, Command{"PUBLISH", "ch", "one"}).reply.integer, 1);
  ASSERT_TRUE(inbox.wait_for("one", 3s));

  std::promise<void> stopped;
  asio::post(inbox.io, [&] {
    sub->stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  const std::size_t before = inbox.count();
  for (int i = 0; i < 5; ++i) {
    exec(pub, Command{"PUBLISH", "ch", "late"});
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(inbox.count(), before);
  EXPECT_FALSE(sub->subscribed());
  EXPECT_TRUE(wait_until(
      [&] {
        return exec(pub, Command{"PUBSUB", "NUMSUB", "ch"}).reply.elements[1].integer == 0;
      },
      2s));
}

// A server that stops answering (SIGSTOP) is noticed by the subscriber's PING within seconds;
// it resubscribes once the server answers again.
TEST(Subscriber, NoticesAHungServerAndResubscribes) {
  RedisServer server;
  auto o = options_for(server);
  o.backoff_initial = 50ms;
  o.backoff_max = 200ms;
  o.connect_timeout = 300ms;
  Inbox inbox;
  auto sub = Subscriber::start(inbox.io.get_executor(), o, {"ch"}, inbox.handler());
  ASSERT_TRUE(wait_until([&] { return sub->subscribed(); }, 3s));
  server.freeze();
  EXPECT_TRUE(wait_until([&] { return !sub->subscribed(); }, 6s));
  server.thaw();
  EXPECT_TRUE(wait_until([&] { return sub->subscribed() && sub->reconnects() >= 1; }, 5s));
  sub->stop();
}

}  // namespace
}  // namespace yg::redis
