#include "cache/coalescer.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace yg::cache {
namespace asio = boost::asio;

asio::awaitable<FlightOutcome> Flight::wait(SteadyClock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex);
  timer->expires_at(deadline);
  {
    std::lock_guard lk(mu_);
    if (outcome_ != FlightOutcome::Pending) {
      co_return outcome_;
    }
    ++followers_;
    // The wake-up runs on this follower's executor. It holds the timer weakly: a follower that
    // is gone (its frame destroyed) is simply not woken.
    wakers_.emplace_back([ex, weak = std::weak_ptr<asio::steady_timer>(timer)] {
      asio::post(ex, [weak] {
        if (auto t = weak.lock()) {
          t->cancel();
        }
      });
    });
  }
  // The executor runs one thread: the posted cancel cannot run before this wait has started.
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lk(mu_);
  co_return outcome_;
}

std::size_t Flight::followers() const {
  std::lock_guard lk(mu_);
  return followers_;
}

void Flight::finish(FlightOutcome o) {
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lk(mu_);
    if (outcome_ != FlightOutcome::Pending) {
      return;
    }
    outcome_ = o;
    wake.swap(wakers_);
  }
  for (auto& w : wake) {
    w();
  }
}

Permit& Permit::operator=(Permit&& o) noexcept {
  if (this != &o) {
    finish(FlightOutcome::Failed);
    c_ = std::exchange(o.c_, nullptr);
    key_ = std::move(o.key_);
    flight_ = std::move(o.flight_);
  }
  return *this;
}

void Permit::finish(FlightOutcome o) {
  if (c_ != nullptr) {
    c_->end(key_, flight_, o);
    c_ = nullptr;
    flight_.reset();
  }
}

Coalescer::Shard& Coalescer::shard_of(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

Coalescer::Join Coalescer::join(const std::string& key) {
  Shard& s = shard_of(key);
  std::lock_guard lk(s.mu);
  auto [it, fresh] = s.flights.try_emplace(key);
  if (!fresh) {
    return Join{Permit{}, it->second};
  }
  it->second = std::make_shared<Flight>();
  return Join{Permit{this, key, it->second}, nullptr};
}

std::shared_ptr<Flight> Coalescer::find(const std::string& key) {
  Shard& s = shard_of(key);
  std::lock_guard lk(s.mu);
  auto it = s.flights.find(key);
  return it == s.flights.end() ? nullptr : it->second;
}

std::size_t Coalescer::in_flight() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lk(s.mu);
    n += s.flights.size();
  }
  return n;
}

void Coalescer::end(const std::string& key, const std::shared_ptr<Flight>& f, FlightOutcome o) {
  {
    // Removed first: a follower woken below that retries finds no flight and may lead.
    Shard& s = shard_of(key);
    std::lock_guard lk(s.mu);
    auto it = s.flights.find(key);
    if (it != s.flights.end() && it->second == f) {
      s.flights.erase(it);
    }
  }
  f->finish(o);
}

}  // namespace yg::cache
