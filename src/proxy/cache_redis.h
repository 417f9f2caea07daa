#pragma once
// The proxy's side of the Redis layer (docs/REDIS.md): the client options from the config, and
// the purge bus that carries admin purges between instances sharing a Redis (OPS-7).
//
// Purge propagation: an instance that purges (POST /admin/cache/purge...) removes the entries
// from every layer, Redis included, then PUBLISHes "1 <instance id> <prefix>" on the channel
// <redis_key_prefix>purge. Every instance subscribes to that channel (one dedicated connection,
// resubscribed after any loss) and removes the prefix from its own memory and disk layers; its
// own messages are ignored. In a Redis Cluster a PUBLISH reaches the subscribers of every node.
// A purge published while an instance's subscription is down is lost for that instance: its
// copies expire with their TTL (docs/REDIS.md says what that means for operators).

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "cache/tiered.h"
#include "config/config.h"
#include "redis/client.h"

namespace yg::proxy {

// cache.redis as client options: redis_url's scheme (rediss = TLS), user, password, host, port
// and /db, overridden by redis_username, redis_password and a non-zero redis_db; `cluster`
// seeds switch to cluster mode. Throws std::invalid_argument when the URL cannot be used.
redis::ClientOptions redis_client_options(const config::RedisCacheConfig& c);

// Coalescing across instances (CACHE-7 over OPS-7): before fetching a missing object from S3,
// the local leader of a fill takes a short Redis lock (SET <prefix>lock:<key> NX PX
// fill_lock_ms). An instance that finds the lock held waits for the object to appear in Redis
// (polling, at most fill_lock_ms and half the request's remaining budget) and serves it from
// there; when the holder gives up (its answer was not storable, or it failed) it deletes the
// lock and the waiters fetch for themselves. A Redis that cannot be asked counts as "not held":
// the fetch goes ahead.
class FillLock {
 public:
  enum class State : uint8_t { Acquired, Held, Unavailable };
  struct Attempt {
    State state = State::Unavailable;
    std::string token;  // Acquired: what release() needs
  };

  FillLock(std::shared_ptr<redis::Client> client, std::string key_prefix,
           std::chrono::milliseconds ttl);

  boost::asio::awaitable<Attempt> acquire(const std::string& key);
  // Whether some instance holds the lock on `key` right now (false when Redis cannot say).
  boost::asio::awaitable<bool> held(const std::string& key);
  // Deletes the lock if it is still `token`'s.
  boost::asio::awaitable<void> release(std::string key, std::string token);

  std::chrono::milliseconds ttl() const noexcept { return ttl_; }
  // By outcome: acquired, waited then served from Redis (hit), waited then fetched (fetched),
  // Redis could not be asked (unavailable).
  std::atomic<uint64_t> acquired{0}, hit{0}, fetched{0}, unavailable{0};

 private:
  std::string lock_key(const std::string& key) const { return prefix_ + "lock:" + key; }

  std::shared_ptr<redis::Client> client_;
  std::string prefix_;
  std::chrono::milliseconds ttl_;
};

class PurgeBus {
 public:
  // Subscribes at once (in the background; a Redis that is down is retried with backoff).
  // `engine` must outlive the bus.
  PurgeBus(std::shared_ptr<redis::Client> client, const config::RedisCacheConfig& c,
           cache::TieredCache& engine);
  ~PurgeBus();
  PurgeBus(const PurgeBus&) = delete;
  PurgeBus& operator=(const PurgeBus&) = delete;

  // Tells the other instances to drop `prefix` from their own layers. Never throws; a failed
  // publish is counted and logged.
  boost::asio::awaitable<void> publish(std::string prefix);

  const std::string& instance_id() const noexcept { return instance_; }
  bool subscribed() const noexcept;
  uint64_t published() const noexcept { return published_.load(); }
  uint64_t publish_failed() const noexcept { return publish_failed_.load(); }
  uint64_t received() const noexcept { return received_.load(); }
  uint64_t applied() const noexcept { return applied_.load(); }

 private:
  void on_message(const std::string& payload);
  static boost::asio::awaitable<void> apply(PurgeBus* self, std::string prefix);

  std::shared_ptr<redis::Client> client_;
  cache::TieredCache& engine_;
  std::string channel_, instance_;
  std::atomic<uint64_t> published_{0}, publish_failed_{0}, received_{0}, applied_{0};
  std::atomic<int> applying_{0};  // purges being applied right now
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::shared_ptr<redis::Subscriber> sub_;
  std::thread thread_;
};

}  // namespace yg::proxy
