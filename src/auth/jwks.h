#pragma once
// The JWKS client (FEATURES.md AUTH-3): fetches a JWK Set over HTTP(S) on its own thread, at
// start and every refresh interval, and on demand when a token names a kid the set lacks (at
// most once per `min_refetch`). Requests read the current set without locking; a failed or
// unusable fetch keeps the last good set and is counted. A set that was never fetched means
// requests needing it get 401 until a fetch succeeds (/ready reports it).

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "auth/jwt.h"

namespace yg::auth {

struct JwksStats {
  uint64_t fetches_ok = 0;
  uint64_t fetches_failed = 0;  // unreachable, non-200, or not a usable JWK Set
  uint64_t refetches_on_unknown_kid = 0;
  bool ready = false;  // a good set was fetched at least once
  std::size_t keys = 0;
};

class JwksClient {
 public:
  // Starts the fetch thread; the first fetch begins at once. Throws std::invalid_argument for a
  // URL that is not http(s)://host[:port]/path.
  // `seed`: the set a previous client (same URL, before a reload) had, served until the first
  // fetch of this one succeeds, so a reload never leaves protected buckets without keys.
  JwksClient(std::string url, std::chrono::seconds refresh, std::chrono::seconds min_refetch,
             std::shared_ptr<const std::vector<Key>> seed = nullptr,
             std::chrono::seconds timeout = std::chrono::seconds(5));
  ~JwksClient();  // stops and joins the thread
  JwksClient(const JwksClient&) = delete;
  JwksClient& operator=(const JwksClient&) = delete;

  // The current set (empty before the first good fetch). Lock-free.
  std::shared_ptr<const std::vector<Key>> keys() const { return keys_.load(); }
  // A token named a kid the set lacks: refetch unless one ran less than min_refetch ago.
  void unknown_kid();
  JwksStats stats() const;
  const std::string& url() const noexcept { return url_; }

  struct Impl;

 private:
  std::string url_;
  std::string log_url_;  // url_ without userinfo and query (may hold credentials)
  std::atomic<std::shared_ptr<const std::vector<Key>>> keys_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace yg::auth
