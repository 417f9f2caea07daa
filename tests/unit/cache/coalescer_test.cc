#include "cache/coalescer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <deque>
#include <future>
#include <thread>
#include <vector>

namespace yg::cache {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;

// One follower waiting on its own io_context thread (as a worker would).
struct FollowerThread {
  asio::io_context io{1};
  std::promise<FlightOutcome> result;
  std::thread t;

  FollowerThread(std::shared_ptr<Flight> f, SteadyClock::duration budget) {
    asio::co_spawn(io, wait(std::move(f), SteadyClock::now() + budget), asio::detached);
    t = std::thread([this] { io.run(); });
  }
  ~FollowerThread() {
    if (t.joinable()) {
      t.join();
    }
  }
  asio::awaitable<void> wait(std::shared_ptr<Flight> f, SteadyClock::time_point deadline) {
    result.set_value(co_await f->wait(deadline));
  }
};

TEST(Coalescer, FirstLeadsOthersFollowTheSameFlight) {
  Coalescer c;
  auto a = c.join("k");
  auto b = c.join("k");
  auto other = c.join("k2");
  EXPECT_TRUE(a.lead);
  EXPECT_FALSE(b.lead);
  ASSERT_NE(b.follow, nullptr);
  EXPECT_TRUE(other.lead);
  EXPECT_EQ(c.find("k"), b.follow);
  EXPECT_EQ(c.in_flight(), 2u);
  a.lead.finish(FlightOutcome::Stored);
  EXPECT_EQ(c.find("k"), nullptr);
  EXPECT_TRUE(c.join("k").lead) << "a finished flight makes room for a new leader";
}

TEST(Coalescer, FollowersOnOtherThreadsAreWokenWithTheOutcome) {
  Coalescer c;
  auto lead = c.join("k");
  std::vector<std::unique_ptr<FollowerThread>> followers;
  for (int i = 0; i < 8; ++i) {
    followers.push_back(std::make_unique<FollowerThread>(c.join("k").follow, 30s));
  }
  // Let every follower register before the leader finishes (either order must work).
  std::this_thread::sleep_for(50ms);
  lead.lead.finish(FlightOutcome::Stored);
  for (auto& f : followers) {
    auto fut = f->result.get_future();
    ASSERT_EQ(fut.wait_for(5s), std::future_status::ready) << "a follower was stranded";
    EXPECT_EQ(fut.get(), FlightOutcome::Stored);
  }
}

TEST(Coalescer, DroppedPermitReleasesFollowersAsFailed) {
  Coalescer c;
  std::unique_ptr<FollowerThread> f;
  {
    auto lead = c.join("k");
    f = std::make_unique<FollowerThread>(c.join("k").follow, 30s);
    std::this_thread::sleep_for(20ms);
  }  // the leader's permit dies without finish(): a cancelled or failed leader
  auto fut = f->result.get_future();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fut.get(), FlightOutcome::Failed);
  EXPECT_EQ(c.in_flight(), 0u);
}

TEST(Coalescer, FollowerGivesUpAtItsDeadline) {
  Coalescer c;
  auto lead = c.join("k");
  FollowerThread f(c.join("k").follow, 50ms);
  auto fut = f.result.get_future();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fut.get(), FlightOutcome::Pending);
  lead.lead.finish(FlightOutcome::NotStored);  // finishing after the follower left is harmless
}

TEST(Coalescer, WaitAfterFinishReturnsAtOnce) {
  Coalescer c;
  auto lead = c.join("k");
  auto flight = c.join("k").follow;
  lead.lead.finish(FlightOutcome::NotStored);
  FollowerThread f(flight, 30s);
  auto fut = f.result.get_future();
  ASSERT_EQ(fut.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(fut.get(), FlightOutcome::NotStored);
}

TEST(Coalescer, FirstFinishWins) {
  Coalescer c;
  auto lead = c.join("k");
  auto flight = c.join("k").follow;
  Permit p = std::move(lead.lead);
  p.finish(FlightOutcome::Stored);
  p.finish(FlightOutcome::Failed);  // no effect: already finished
  FollowerThread f(flight, 30s);
  EXPECT_EQ(f.result.get_future().get(), FlightOutcome::Stored);
}

// Many keys, many leaders and followers across threads: every follower ends, none stranded.
TEST(Coalescer, StressEveryFollowerEnds) {
  Coalescer c;
  constexpr int kThreads = 4, kRounds = 300;
  std::atomic<int> ended{0}, started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      asio::io_context io{1};
      std::deque<Permit> held;  // leaders finish two rounds later, so flights overlap
      for (int r = 0; r < kRounds; ++r) {
        const std::string key = "k" + std::to_string((r + t) % 7);
        auto j = c.join(key);
        if (held.size() > 2) {
          held.front().finish(r % 3 == 0 ? FlightOutcome::Failed : FlightOutcome::Stored);
          held.pop_front();
        }
        if (j.lead) {
          held.push_back(std::move(j.lead));
        } else {
          ++started;
          asio::co_spawn(
              io,
              [](std::shared_ptr<Flight> f, std::atomic<int>& n) -> asio::awaitable<void> {
                co_await f->wait(SteadyClock::now() + 10s);
                ++n;
              }(j.follow, ended),
              asio::detached);
        }
        io.restart();  // poll() stops the context whenever it runs out of work
        io.poll();
      }
      held.clear();  // dropped permits end their flights as Failed
      // Followers whose leader is on another thread finish when that leader does; run() returns
      // once every follower here has ended (or given up after 10 s).
      io.restart();
      io.run();
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(ended.load(), started.load());
  EXPECT_EQ(c.in_flight(), 0u);
}

}  // namespace
}  // namespace yg::cache
