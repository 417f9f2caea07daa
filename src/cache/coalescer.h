#pragma once
// Coalescing of concurrent misses (FEATURES.md CACHE-7): per key, one leader fetches from S3
// and fills the cache; followers wait for the outcome, then look the cache up again (a stored
// fill is a hit) or fetch on their own (the answer was not storable, or the leader failed).
//
// Threads: one Coalescer is shared by every worker. A follower waits on its own executor: the
// leader's finish() posts a wake-up to each follower's executor, so no follower is resumed on
// another worker's thread. A Permit (the leader's role) that is dropped without finish() ends
// the flight as Failed, so no follower is ever stranded (STYLE.md section 5: RAII for half-done
// work).

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"

namespace yg::cache {

enum class FlightOutcome : uint8_t {
  Pending,    // still running (a follower's wait timed out)
  Stored,     // the fill was committed: look the cache up again
  NotStored,  // the answer was not storable (error, 404, too large, no-store): fetch directly
  Failed,     // the leader failed or gave up mid-fill: try again (one follower becomes leader)
};

class Coalescer;

class Flight {
 public:
  // Waits until the leader finishes or `deadline` passes (then Pending).
  boost::asio::awaitable<FlightOutcome> wait(SteadyClock::time_point deadline);
  std::size_t followers() const;

 private:
  friend class Coalescer;
  friend class Permit;
  void finish(FlightOutcome o);

  mutable std::mutex mu_;
  FlightOutcome outcome_ = FlightOutcome::Pending;
  std::vector<std::function<void()>> wakers_;
  std::size_t followers_ = 0;
};

// The leader's role for one key. Movable; finishing (or destroying) it ends the flight and
// removes it from the coalescer, so the next miss starts a new one.
class Permit {
 public:
  Permit() = default;
  Permit(Coalescer* c, std::string key, std::shared_ptr<Flight> f)
      : c_(c), key_(std::move(key)), flight_(std::move(f)) {}
  Permit(Permit&& o) noexcept { *this = std::move(o); }
  Permit& operator=(Permit&& o) noexcept;
  ~Permit() { finish(FlightOutcome::Failed); }

  void finish(FlightOutcome o);
  explicit operator bool() const noexcept { return c_ != nullptr; }

 private:
  Coalescer* c_ = nullptr;
  std::string key_;
  std::shared_ptr<Flight> flight_;
};

class Coalescer {
 public:
  struct Join {
    Permit lead;                     // set: this request leads
    std::shared_ptr<Flight> follow;  // set: a flight is in progress, wait for it
  };
  // Leads a new flight for `key`, or follows the one in progress.
  Join join(const std::string& key);
  // Follows the flight in progress for `key`, if any (requests that cannot lead a fill).
  std::shared_ptr<Flight> find(const std::string& key);
  std::size_t in_flight() const;

 private:
  friend class Permit;
  void end(const std::string& key, const std::shared_ptr<Flight>& f, FlightOutcome o);

  static constexpr std::size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<Flight>> flights;
  };
  Shard& shard_of(const std::string& key);
  std::array<Shard, kShards> shards_;
};

}  // namespace yg::cache
