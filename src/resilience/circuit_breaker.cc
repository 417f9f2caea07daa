#include "resilience/circuit_breaker.h"

namespace yg::resilience {

std::string_view to_string(BreakerState s) noexcept {
  switch (s) {
    case BreakerState::Closed:
      return "closed";
    case BreakerState::Open:
      return "open";
    case BreakerState::HalfOpen:
      return "half_open";
  }
  return "?";
}

CircuitBreaker::Admission CircuitBreaker::try_acquire(SteadyClock::time_point now) {
  if (state_.load(std::memory_order_acquire) == BreakerState::Closed) {
    return {true, false, {}};
  }
  std::lock_guard lock(mu_);
  switch (state_.load(std::memory_order_relaxed)) {
    case BreakerState::Closed:
      return {true, false, {}};
    case BreakerState::Open:
      if (now < open_until_) {
        return {false, false, open_until_ - now};
      }
      state_.store(BreakerState::HalfOpen, std::memory_order_release);
      probes_in_flight_ = 0;
      probe_successes_ = 0;
      [[fallthrough]];
    case BreakerState::HalfOpen:
      if (probes_in_flight_ >= s_.half_open_max) {
        // Probes are out: the next verdict comes when one returns. Ask again shortly.
        return {false, false, std::chrono::seconds(1)};
      }
      ++probes_in_flight_;
      return {true, true, {}, period_};
  }
  return {false, false, std::chrono::seconds(1)};
}

void CircuitBreaker::on_success(const Admission& a) {
  if (!a.probe) {
    // Closed (or a request admitted before the breaker opened): a success breaks the streak.
    if (consecutive_failures_.load(std::memory_order_relaxed) != 0) {
      consecutive_failures_.store(0, std::memory_order_relaxed);
    }
    return;
  }
  std::lock_guard lock(mu_);
  if (state_.load(std::memory_order_relaxed) != BreakerState::HalfOpen || a.period != period_) {
    return;  // a probe of an earlier half-open period
  }
  if (probes_in_flight_ > 0) {
    --probes_in_flight_;
  }
  if (++probe_successes_ >= s_.success_threshold) {
    consecutive_failures_.store(0, std::memory_order_relaxed);
    state_.store(BreakerState::Closed, std::memory_order_release);
  }
}

void CircuitBreaker::on_failure(const Admission& a, SteadyClock::time_point now) {
  if (!a.probe) {
    const uint32_t n = consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n < s_.failure_threshold) {
      return;
    }
    std::lock_guard lock(mu_);
    if (state_.load(std::memory_order_relaxed) == BreakerState::Closed) {
      open_locked(now);
    }
    return;
  }
  std::lock_guard lock(mu_);
  if (state_.load(std::memory_order_relaxed) != BreakerState::HalfOpen || a.period != period_) {
    return;
  }
  open_locked(now);  // one failed probe: the replica is still sick
}

void CircuitBreaker::abandon(const Admission& a) {
  if (!a.probe) {
    return;
  }
  std::lock_guard lock(mu_);
  if (state_.load(std::memory_order_relaxed) == BreakerState::HalfOpen && a.period == period_ &&
      probes_in_flight_ > 0) {
    --probes_in_flight_;
  }
}

void CircuitBreaker::open_locked(SteadyClock::time_point now) {
  open_until_ = now + s_.open_for;
  ++period_;
  probes_in_flight_ = 0;
  probe_successes_ = 0;
  consecutive_failures_.store(0, std::memory_order_relaxed);
  opened_.fetch_add(1, std::memory_order_relaxed);
  state_.store(BreakerState::Open, std::memory_order_release);
}

BreakerState CircuitBreaker::state(SteadyClock::time_point now) const {
  const auto s = state_.load(std::memory_order_acquire);
  if (s != BreakerState::Open) {
    return s;
  }
  std::lock_guard lock(mu_);
  return now >= open_until_ ? BreakerState::HalfOpen : BreakerState::Open;
}

SteadyClock::duration CircuitBreaker::open_remaining(SteadyClock::time_point now) const {
  if (state_.load(std::memory_order_acquire) != BreakerState::Open) {
    return {};
  }
  std::lock_guard lock(mu_);
  return now < open_until_ ? open_until_ - now : SteadyClock::duration::zero();
}

}  // namespace yg::resilience
