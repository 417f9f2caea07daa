#include "resilience/circuit_breaker.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace yg::resilience {
namespace {
using namespace std::chrono_literals;

BreakerSettings settings() {
  BreakerSettings s;
  s.failure_threshold = 3;
  s.success_threshold = 2;
  s.open_for = 10s;
  s.half_open_max = 1;
  return s;
}

const SteadyClock::time_point t0{std::chrono::hours(1)};
const CircuitBreaker::Admission kPlain{true, false, {}, 0};  // a request admitted while closed

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresOnly) {
  CircuitBreaker b(settings());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.try_acquire(t0).allowed);
    b.on_failure(kPlain, t0);
  }
  ASSERT_TRUE(b.try_acquire(t0).allowed);
  b.on_success(kPlain);  // breaks the streak
  for (int i = 0; i < 2; ++i) {
    b.on_failure(kPlain, t0);
  }
  EXPECT_EQ(b.state(t0), BreakerState::Closed);
  b.on_failure(kPlain, t0);
  EXPECT_EQ(b.state(t0), BreakerState::Open);
  EXPECT_EQ(b.opened_total(), 1u);
  auto a = b.try_acquire(t0 + 4s);
  EXPECT_FALSE(a.allowed);
  EXPECT_EQ(a.retry_after, 6s);
  EXPECT_EQ(b.open_remaining(t0 + 4s), 6s);
}

TEST(CircuitBreaker, HalfOpenProbesCloseAfterSuccessThreshold) {
  CircuitBreaker b(settings());
  for (int i = 0; i < 3; ++i) {
    b.on_failure(kPlain, t0);
  }
  const auto later = t0 + 10s;
  EXPECT_EQ(b.state(later), BreakerState::HalfOpen);
  auto p1 = b.try_acquire(later);
  ASSERT_TRUE(p1.allowed);
  EXPECT_TRUE(p1.probe);
  // half_open_max = 1: a second request waits for the probe's verdict.
  EXPECT_FALSE(b.try_acquire(later).allowed);
  b.on_success(p1);
  EXPECT_EQ(b.state(later), BreakerState::HalfOpen);
  auto p2 = b.try_acquire(later);
  ASSERT_TRUE(p2.probe);
  b.on_success(p2);
  EXPECT_EQ(b.state(later), BreakerState::Closed);
  auto n = b.try_acquire(later);
  EXPECT_TRUE(n.allowed);
  EXPECT_FALSE(n.probe);
}

TEST(CircuitBreaker, FailedProbeReopensForAnotherPeriod) {
  CircuitBreaker b(settings());
  for (int i = 0; i < 3; ++i) {
    b.on_failure(kPlain, t0);
  }
  auto p = b.try_acquire(t0 + 11s);
  ASSERT_TRUE(p.probe);
  b.on_failure(p, t0 + 11s);
  EXPECT_EQ(b.state(t0 + 12s), BreakerState::Open);
  EXPECT_EQ(b.open_remaining(t0 + 12s), 9s);
  EXPECT_EQ(b.opened_total(), 2u);
}

TEST(CircuitBreaker, AbandonedProbeFreesItsSlot) {
  CircuitBreaker b(settings());
  for (int i = 0; i < 3; ++i) {
    b.on_failure(kPlain, t0);
  }
  auto p = b.try_acquire(t0 + 10s);
  ASSERT_TRUE(p.probe);
  EXPECT_FALSE(b.try_acquire(t0 + 10s).allowed);
  b.abandon(p);
  EXPECT_TRUE(b.try_acquire(t0 + 10s).allowed);
}

TEST(CircuitBreaker, LateVerdictsOfAnEarlierPeriodAreIgnored) {
  CircuitBreaker b(settings());
  // Requests admitted while closed come back failed after it opened: no double open.
  for (int i = 0; i < 6; ++i) {
    b.on_failure(kPlain, t0);
  }
  EXPECT_EQ(b.opened_total(), 1u);
  b.on_success({true, true, {}, 0});  // a probe from nowhere: no effect
  EXPECT_EQ(b.state(t0), BreakerState::Open);
}

// A probe of an earlier half-open period that returns after the breaker opened again and went
// half-open anew neither frees the new period's probe slot nor counts towards closing it.
TEST(CircuitBreaker, LateProbeOfAnEarlierHalfOpenPeriodIsIgnored) {
  BreakerSettings s = settings();
  s.success_threshold = 1;
  s.half_open_max = 2;
  CircuitBreaker b(s);
  for (int i = 0; i < 3; ++i) {
    b.on_failure(kPlain, t0);
  }
  auto slow = b.try_acquire(t0 + 10s);  // period 1's probe, still out
  auto quick = b.try_acquire(t0 + 10s);
  ASSERT_TRUE(slow.probe && quick.probe);
  b.on_failure(quick, t0 + 10s);  // opens again: period 2
  auto p1 = b.try_acquire(t0 + 20s);
  auto p2 = b.try_acquire(t0 + 20s);
  ASSERT_TRUE(p1.probe && p2.probe);
  EXPECT_FALSE(b.try_acquire(t0 + 20s).allowed);
  b.abandon(slow);  // late: must not free a slot of period 2
  EXPECT_FALSE(b.try_acquire(t0 + 20s).allowed);
  b.on_success(slow);  // late: must not close it
  EXPECT_EQ(b.state(t0 + 20s), BreakerState::HalfOpen);
  b.on_success(p1);
  EXPECT_EQ(b.state(t0 + 20s), BreakerState::Closed);
}

TEST(CircuitBreaker, ConcurrentFailuresOpenOnce) {
  BreakerSettings s = settings();
  s.failure_threshold = 100;
  CircuitBreaker b(s);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        auto a = b.try_acquire(t0);
        if (a.allowed) {
          b.on_failure(a, t0);
        }
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  EXPECT_EQ(b.state(t0), BreakerState::Open);
  EXPECT_EQ(b.opened_total(), 1u);
}

}  // namespace
}  // namespace yg::resilience
