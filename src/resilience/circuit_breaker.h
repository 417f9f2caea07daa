#pragma once
// A circuit breaker per upstream replica (FEATURES.md OPS-1), shared by every worker.
//
// Closed: requests flow; `failure_threshold` consecutive failures open it. Open: requests are
// refused until `open_for` has passed, then it is half-open. Half-open: at most
// `half_open_max` probes at a time; `success_threshold` successes close it, one failure opens it
// again for another `open_for`.
//
// The closed path is lock-free (one atomic load to admit, one to record a success); transitions
// and half-open bookkeeping take a mutex, which only a failing replica's requests touch.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string_view>

#include "core/clock.h"

namespace yg::resilience {

struct BreakerSettings {
  uint32_t failure_threshold = 5;
  uint32_t success_threshold = 2;
  SteadyClock::duration open_for = std::chrono::seconds(60);
  uint32_t half_open_max = 3;
  bool operator==(const BreakerSettings&) const = default;
};

enum class BreakerState : uint8_t { Closed = 0, Open = 1, HalfOpen = 2 };
std::string_view to_string(BreakerState s) noexcept;

class CircuitBreaker {
 public:
  explicit CircuitBreaker(BreakerSettings s) : s_(s) {}
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  struct Admission {
    bool allowed = false;
    bool probe = false;  // a half-open probe: report its outcome (or abandon it)
    // Refused: how long until the breaker lets a probe through (never zero).
    SteadyClock::duration retry_after{};
    uint64_t period = 0;  // probe: the half-open period it belongs to
  };
  // Asks whether a request may be sent now. An allowed request must be reported exactly once
  // with on_success, on_failure or abandon (passing the admission's `probe`).
  Admission try_acquire(SteadyClock::time_point now);
  // Verdicts of probes from an earlier half-open period (the breaker opened again meanwhile)
  // are ignored: they neither free a probe slot nor count towards closing.
  void on_success(const Admission& a);
  void on_failure(const Admission& a, SteadyClock::time_point now);
  // The request ended without telling whether the replica is healthy (the client left, the
  // request's own deadline ran out, an exception).
  void abandon(const Admission& a);

  // State for /ready and metrics: Open whose time is up reads as HalfOpen.
  BreakerState state(SteadyClock::time_point now) const;
  // Time until an open breaker lets a probe through (zero unless Open).
  SteadyClock::duration open_remaining(SteadyClock::time_point now) const;
  uint64_t opened_total() const noexcept { return opened_.load(std::memory_order_relaxed); }
  const BreakerSettings& settings() const noexcept { return s_; }

 private:
  void open_locked(SteadyClock::time_point now);

  const BreakerSettings s_;
  std::atomic<BreakerState> state_{BreakerState::Closed};
  std::atomic<uint32_t> consecutive_failures_{0};
  std::atomic<uint64_t> opened_{0};
  mutable std::mutex mu_;
  SteadyClock::time_point open_until_{};  // Open: when probes may start
  uint32_t probes_in_flight_ = 0;         // HalfOpen
  uint32_t probe_successes_ = 0;          // HalfOpen
  uint64_t period_ = 0;                   // +1 each time it opens
};

}  // namespace yg::resilience
