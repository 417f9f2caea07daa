#include "resilience/retry.h"

#include <algorithm>
#include <random>

namespace yg::resilience {

SteadyClock::duration backoff_delay(uint32_t retry, SteadyClock::duration initial,
                                    SteadyClock::duration max, double unit) {
  const uint32_t shift = std::min<uint32_t>(retry == 0 ? 0 : retry - 1, 30);
  auto d = initial * (int64_t{1} << shift);
  if (d > max || d < initial) {
    d = max;
  }
  const double u = std::clamp(unit, 0.0, 1.0);
  const auto half = d / 2;
  const auto extra = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double, SteadyClock::period>(static_cast<double>(half.count()) * u));
  return std::max<SteadyClock::duration>(d - half + extra, std::chrono::milliseconds(1));
}

double jitter_unit() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

namespace {
int64_t second_of(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

void RetryBudget::rotate_locked(int64_t sec) {
  const int64_t cur = sec_.load(std::memory_order_relaxed);
  if (sec <= cur) {
    return;
  }
  const bool adjacent = cur != INT64_MIN && sec == cur + 1;
  prev_requests_ = adjacent ? requests_.exchange(0, std::memory_order_relaxed) : 0;
  prev_retries_ = adjacent ? retries_ : 0;
  if (!adjacent) {
    requests_.store(0, std::memory_order_relaxed);
  }
  retries_ = 0;
  sec_.store(sec, std::memory_order_release);
}

void RetryBudget::on_request(SteadyClock::time_point now) {
  const int64_t sec = second_of(now);
  if (sec_.load(std::memory_order_acquire) != sec) {
    std::lock_guard lock(mu_);  // once a second
    rotate_locked(sec);
  }
  requests_.fetch_add(1, std::memory_order_relaxed);
}

bool RetryBudget::try_retry(SteadyClock::time_point now) {
  std::lock_guard lock(mu_);
  rotate_locked(second_of(now));
  const uint64_t requests = prev_requests_ + requests_.load(std::memory_order_relaxed);
  const uint64_t allowed = requests * s_.percent / 100 + s_.min_per_second;
  if (prev_retries_ + retries_ >= allowed) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  ++retries_;
  return true;
}

}  // namespace yg::resilience
