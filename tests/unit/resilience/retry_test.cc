#include "resilience/retry.h"

#include <gtest/gtest.h>

namespace yg::resilience {
namespace {
using namespace std::chrono_literals;

const SteadyClock::time_point t0{std::chrono::hours(1)};

TEST(Backoff, DoublesWithinJitterBoundsAndCaps) {
  EXPECT_EQ(backoff_delay(1, 100ms, 1s, 0.0), 50ms);
  EXPECT_EQ(backoff_delay(1, 100ms, 1s, 1.0), 100ms);
  EXPECT_EQ(backoff_delay(2, 100ms, 1s, 0.0), 100ms);
  EXPECT_EQ(backoff_delay(2, 100ms, 1s, 1.0), 200ms);
  EXPECT_EQ(backoff_delay(3, 100ms, 1s, 0.5), 300ms);
  EXPECT_EQ(backoff_delay(5, 100ms, 1s, 1.0), 1s);      // 1600 ms capped
  EXPECT_EQ(backoff_delay(40, 100ms, 1s, 0.0), 500ms);  // no overflow
  EXPECT_GE(backoff_delay(1, 1ms, 1ms, 0.0), 1ms);      // never zero
}

TEST(Backoff, JitterUnitIsInRange) {
  for (int i = 0; i < 1000; ++i) {
    const double u = jitter_unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(RetryBudget, FloorAllowsAQuietBucketToRetry) {
  RetryBudget b({20, 10});
  int ok = 0;
  for (int i = 0; i < 100; ++i) {
    ok += b.try_retry(t0) ? 1 : 0;
  }
  EXPECT_EQ(ok, 10);  // the floor
  EXPECT_EQ(b.refused(), 90u);
  EXPECT_FALSE(b.try_retry(t0 + 1s));  // the previous second's retries still count
  EXPECT_TRUE(b.try_retry(t0 + 2s));
}

TEST(RetryBudget, RetriesBoundedToPercentOfRequests) {
  RetryBudget b({20, 1});
  // 10 s at 1000 requests/s, every request failing and wanting a retry.
  int retries = 0;
  for (int ms = 0; ms < 10000; ++ms) {
    const auto now = t0 + std::chrono::milliseconds(ms);
    b.on_request(now);
    retries += b.try_retry(now) ? 1 : 0;
  }
  EXPECT_GE(retries, 1900);
  EXPECT_LE(retries, 2100);
}

TEST(RetryBudget, HealthyHistoryDoesNotBankAFlood) {
  RetryBudget b({20, 1});
  for (int i = 0; i < 1'000'000; ++i) {
    b.on_request(t0);
  }
  int burst = 0;
  while (b.try_retry(t0 + 60s)) {
    ++burst;
  }
  EXPECT_EQ(burst, 1);  // only the floor: the old requests are out of the window
}

TEST(RetryBudget, RecentRequestsBuyRetries) {
  RetryBudget b({20, 0});
  for (int i = 0; i < 100; ++i) {
    b.on_request(t0);
  }
  int n = 0;
  while (b.try_retry(t0 + 1s)) {  // the previous second's requests count
    ++n;
  }
  EXPECT_EQ(n, 20);
}

}  // namespace
}  // namespace yg::resilience
