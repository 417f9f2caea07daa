#include "redis/topology.h"

#include <charconv>

namespace yg::redis {
namespace {

std::optional<Endpoint> node_of(const Reply& n, std::string_view fallback_host) {
  if (!n.is_array() || n.elements.size() < 2 || !n.elements[0].is_string() ||
      !n.elements[1].is_integer() || n.elements[1].integer <= 0 || n.elements[1].integer > 65535) {
    return std::nullopt;
  }
  Endpoint e;
  e.host = n.elements[0].str.empty() || n.elements[0].str == "?" ? std::string(fallback_host)
                                                                 : n.elements[0].str;
  e.port = static_cast<uint16_t>(n.elements[1].integer);
  return e;
}

int16_t index_of(std::vector<Endpoint>& v, const Endpoint& e) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == e) {
      return static_cast<int16_t>(i);
    }
  }
  v.push_back(e);
  return static_cast<int16_t>(v.size() - 1);
}

}  // namespace

std::shared_ptr<const Topology> Topology::with_owner(uint16_t slot, const Endpoint& to) const {
  auto t = std::make_shared<Topology>(*this);
  t->owner[slot] = index_of(t->masters, to);
  return t;
}

std::shared_ptr<const Topology> parse_cluster_slots(const Reply& r,
                                                    std::string_view fallback_host) {
  // Each element: [start, end, [host, port, id, ...] (master), [host, port, ...] (replicas)...]
  if (!r.is_array()) {
    return nullptr;
  }
  auto t = std::make_shared<Topology>();
  bool any = false;
  for (const Reply& range : r.elements) {
    if (!range.is_array() || range.elements.size() < 3 || !range.elements[0].is_integer() ||
        !range.elements[1].is_integer()) {
      return nullptr;
    }
    const int64_t lo = range.elements[0].integer, hi = range.elements[1].integer;
    if (lo < 0 || hi >= kSlots || lo > hi) {
      return nullptr;
    }
    auto master = node_of(range.elements[2], fallback_host);
    if (!master) {
      return nullptr;
    }
    const int16_t m = index_of(t->masters, *master);
    for (int64_t s = lo; s <= hi; ++s) {
      t->owner[static_cast<std::size_t>(s)] = m;
    }
    any = true;
    for (std::size_t i = 3; i < range.elements.size(); ++i) {
      if (auto rep = node_of(range.elements[i], fallback_host)) {
        index_of(t->replicas, *rep);
      }
    }
  }
  if (!any) {
    return nullptr;
  }
  return t;
}

std::optional<Redirect> parse_redirect(std::string_view error, std::string_view fallback_host) {
  Redirect rd;
  if (error.starts_with("MOVED ")) {
    rd.kind = Redirect::Kind::Moved;
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    rd.kind = Redirect::Kind::Ask;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const auto sp = error.find(' ');
  if (sp == std::string_view::npos) {
    return std::nullopt;
  }
  unsigned slot = 0;
  auto [p, ec] = std::from_chars(error.data(), error.data() + sp, slot);
  if (ec != std::errc() || p != error.data() + sp || slot >= kSlots) {
    return std::nullopt;
  }
  rd.slot = static_cast<uint16_t>(slot);
  std::string_view addr = error.substr(sp + 1);
  const auto colon = addr.rfind(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  unsigned port = 0;
  auto [pp, pec] = std::from_chars(addr.data() + colon + 1, addr.data() + addr.size(), port);
  if (pec != std::errc() || pp != addr.data() + addr.size() || port == 0 || port > 65535) {
    return std::nullopt;
  }
  std::string_view host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  rd.to.host = host.empty() ? std::string(fallback_host) : std::string(host);
  rd.to.port = static_cast<uint16_t>(port);
  return rd;
}

bool is_retry_later(std::string_view error) noexcept {
  return error.starts_with("TRYAGAIN") || error.starts_with("CLUSTERDOWN");
}

void TopologyHolder::moved(uint16_t slot, const Endpoint& to) {
  std::lock_guard lk(mu_);
  if (topo_ != nullptr) {
    const Endpoint* cur = topo_->master_for(slot);
    if (cur == nullptr || !(*cur == to)) {
      topo_ = topo_->with_owner(slot, to);
    }
  }
  stale_.store(true, std::memory_order_relaxed);
}

bool TopologyHolder::claim_refresh(std::chrono::steady_clock::time_point now) noexcept {
  if (!stale()) {
    return false;
  }
  const int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  int64_t last = last_refresh_ns_.load(std::memory_order_relaxed);
  if (now_ns - last < std::chrono::nanoseconds(kMinRefreshInterval).count()) {
    return false;
  }
  return last_refresh_ns_.compare_exchange_strong(last, now_ns);
}

}  // namespace yg::redis
