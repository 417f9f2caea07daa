#pragma once
// Retry timing and budget for upstream requests (FEATURES.md OPS-2).
//
// Backoff: exponential with "equal jitter": attempt n (1 = the first retry) waits a uniformly
// random time in [d/2, d], d = min(max, initial * 2^(n-1)). Never zero, so a retry really waits;
// the random half spreads the retries of many clients that failed at the same moment.
//
// Budget: over a sliding window of the current and the previous second, retries may add at most
// `percent` % to the first attempts a bucket sends, plus `min_per_second` so a quiet bucket can
// still retry. Nothing is banked: a long healthy period buys no flood of retries for the first
// outage. When a backend is sick, most requests fail and want a retry: the budget runs dry and
// the backend sees at most about (1 + percent/100) times the offered load instead of
// max_attempts times.

#include <atomic>
#include <cstdint>
#include <mutex>

#include "core/clock.h"

namespace yg::resilience {

// The wait before retry number `retry` (1-based). `unit` is a uniform random number in [0, 1).
SteadyClock::duration backoff_delay(uint32_t retry, SteadyClock::duration initial,
                                    SteadyClock::duration max, double unit);

// A uniform random number in [0, 1) from a per-thread generator.
double jitter_unit();

struct BudgetSettings {
  uint32_t percent = 20;
  uint32_t min_per_second = 10;
  bool operator==(const BudgetSettings&) const = default;
};

class RetryBudget {
 public:
  explicit RetryBudget(BudgetSettings s) : s_(s) {}
  void on_request(SteadyClock::time_point now);  // a first attempt
  // Withdraws one retry; false when the budget is spent.
  bool try_retry(SteadyClock::time_point now);
  uint64_t refused() const noexcept { return refused_.load(std::memory_order_relaxed); }
  const BudgetSettings& settings() const noexcept { return s_; }

 private:
  void rotate_locked(int64_t sec);

  const BudgetSettings s_;
  std::mutex mu_;  // window rotation (once a second) and retries
  std::atomic<int64_t> sec_{INT64_MIN};
  std::atomic<uint64_t> requests_{0};  // first attempts in second sec_
  uint64_t prev_requests_ = 0, retries_ = 0, prev_retries_ = 0;
  std::atomic<uint64_t> refused_{0};
};

}  // namespace yg::resilience
