#pragma once
// The cache step of the request path (FEATURES.md CACHE-1..9, docs/CACHE.md): after
// authentication and authorization, a bucket request is answered from the tiered cache (HIT,
// with HEAD, ranges and conditionals evaluated against the cached copy), or fetched from S3 once
// per key (coalescing) and stored when complete and storable (MISS), or served from an expired
// copy when S3 fails (STALE) or confirms it (REVALIDATED). HTTP semantics live here and in
// cache/policy; the layers only store entries.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <vector>

#include "cache/coalescer.h"
#include "cache/tiered.h"
#include "config/config.h"
#include "net/server/client_stream.h"
#include "proxy/cache_redis.h"
#include "proxy/exchange.h"
#include "proxy/upstream.h"
#include "proxy/worker.h"

namespace yg::proxy {

// The cache engine and its process-wide state. Built once at start from the global cache
// settings (layer sizes and the layer list need a restart); reloads keep it.
struct CacheRuntime {
  config::CacheConfig cfg;  // as at start
  // cache.stale_if_error_seconds: how long past expiry a copy may be served when S3 fails. The
  // layers keep expired entries longer (at least an hour) so they can be revalidated.
  std::chrono::seconds stale_grace{0};
  std::unique_ptr<cache::TieredCache> engine;
  // The Redis layer's client (null without one) and the purge bus to the other instances (null
  // when purge_propagation is off). Declared after the engine: the bus goes first.
  std::shared_ptr<redis::Client> redis;
  std::unique_ptr<PurgeBus> purge_bus;
  std::unique_ptr<FillLock> fill_lock;  // null unless Redis and fill_lock_ms > 0
  FillBudget fill_budget;               // bytes buffered by fills in progress
  cache::Coalescer coalescer;
  // Followers of a coalesced fill, by how their wait ended.
  std::atomic<uint64_t> coalesced_hit{0}, coalesced_released{0}, coalesced_timeout{0};
  // Fills by outcome: stored; dropped (incomplete body, client left, S3 failed); not storable.
  std::atomic<uint64_t> fills_committed{0}, fills_aborted{0}, fills_refused{0};
};

// nullptr when cache.enabled is false. Throws std::runtime_error (naming the directory) when
// the disk layer cannot be opened.
std::shared_ptr<CacheRuntime> make_cache_runtime(const config::Config& cfg);

// Answers a routed, authorized GET/HEAD: from the cache when the bucket caches, else straight
// from S3. Returns whether the client connection may serve another request.
boost::asio::awaitable<bool> serve_via_cache(net::ClientStream& stream, Exchange& ex, Worker& w,
                                             bool keep_alive);

// The admin cache API (CACHE-9) under /admin/cache/. Returns false when `path` is not one of
// its paths. Admin authentication has already happened.
boost::asio::awaitable<std::optional<bool>> serve_cache_admin(net::ClientStream& stream,
                                                              Exchange& ex, Worker& w,
                                                              std::string_view path,
                                                              bool keep_alive);

// After a reload: purges the cached objects of every bucket whose origin (S3 bucket, region or
// endpoint of any replica) changed, so the new configuration never serves the old origin's
// objects. Blocks the calling (main) thread until done; returns the bucket names purged.
std::vector<std::string> purge_changed_origins(CacheRuntime& cr, const Runtime& before,
                                               const Runtime& after);

// GET /admin/cache/stats as JSON. A shared layer (Redis) is walked for its items and bytes.
boost::asio::awaitable<boost::json::object> cache_stats_json(const CacheRuntime* cr,
                                                             std::shared_ptr<const Runtime> rt);

}  // namespace yg::proxy
