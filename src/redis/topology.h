#pragma once
// Redis Cluster topology: the slot -> master map parsed from CLUSTER SLOTS, MOVED/ASK error
// parsing (cluster spec, "Redirection and resharding"), and the holder a Client shares between
// all its execution contexts.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "redis/client.h"
#include "redis/slot.h"

namespace yg::redis {

// Immutable once published (shared as shared_ptr<const Topology>).
struct Topology {
  std::vector<Endpoint> masters;
  std::vector<Endpoint> replicas;
  std::array<int16_t, kSlots> owner{};  // index into masters; -1: no owner known

  Topology() { owner.fill(-1); }
  bool empty() const noexcept { return masters.empty(); }
  const Endpoint* master_for(uint16_t slot) const noexcept {
    const int16_t i = owner[slot];
    return i < 0 ? nullptr : &masters[static_cast<std::size_t>(i)];
  }
  // A copy in which `slot` belongs to `to` (after a MOVED).
  std::shared_ptr<const Topology> with_owner(uint16_t slot, const Endpoint& to) const;
};

// CLUSTER SLOTS reply -> topology; nullptr when the reply is malformed or covers no slot.
// Nodes announced with an empty host (Redis: "preferred endpoint unknown") get `fallback_host`,
// the host the reply came from.
std::shared_ptr<const Topology> parse_cluster_slots(const Reply& r, std::string_view fallback_host);

struct Redirect {
  enum class Kind : uint8_t { Moved, Ask };
  Kind kind = Kind::Moved;
  uint16_t slot = 0;
  Endpoint to;
};
// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381"; an empty host (":6381") is the
// replying node's host.
std::optional<Redirect> parse_redirect(std::string_view error, std::string_view fallback_host);

// TRYAGAIN (multi-key op during resharding) and CLUSTERDOWN (no quorum / slot unserved): worth
// one retry after a short wait.
bool is_retry_later(std::string_view error) noexcept;

// The slot map of one Client, shared by all its execution contexts. Thread-safe: a mutex around
// the pointer swap; readers keep the snapshot they took.
class TopologyHolder {
 public:
  static constexpr std::chrono::milliseconds kMinRefreshInterval{100};

  std::shared_ptr<const Topology> get() const {
    std::lock_guard lk(mu_);
    return topo_;
  }
  void set(std::shared_ptr<const Topology> t) {
    std::lock_guard lk(mu_);
    topo_ = std::move(t);
    stale_.store(false, std::memory_order_relaxed);
  }
  void moved(uint16_t slot, const Endpoint& to);
  void mark_stale() noexcept { stale_.store(true, std::memory_order_relaxed); }
  bool stale() const noexcept { return stale_.load(std::memory_order_relaxed); }
  // True for one caller per kMinRefreshInterval while the map is stale: that caller refreshes.
  bool claim_refresh(std::chrono::steady_clock::time_point now) noexcept;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Topology> topo_;
  std::atomic<bool> stale_{false};
  std::atomic<int64_t> last_refresh_ns_{INT64_MIN / 2};
};

}  // namespace yg::redis
