#pragma once
// The upstream step of the request path: sign, send to S3, map S3's answer, and stream the
// body to the client with backpressure (FEATURES.md S3-1..S3-4, HTTP-3, HTTP-6, HTTP-8).

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "cache/backend.h"
#include "cache/policy.h"
#include "net/server/client_stream.h"
#include "proxy/exchange.h"
#include "proxy/worker.h"

namespace yg::proxy {

// Bytes held by fills in progress, all workers: a fill that would go past `limit` is not made
// (the answer streams through, BYPASS), so many slow clients of distinct large objects cannot
// pin unbounded memory.
struct FillBudget {
  std::atomic<uint64_t> used{0};
  uint64_t limit = 0;
};

// A cache fill riding on a plain GET (CACHE-5): the relay decides at S3's head whether the
// answer may be stored and, if so, keeps a copy of the body as it streams it to the client.
struct Fill {
  Fill() = default;
  Fill(const Fill&) = delete;
  Fill& operator=(const Fill&) = delete;
  ~Fill() {
    if (budget != nullptr) {
      budget->used.fetch_sub(reserved);
    }
  }

  cache::StorePolicy policy;
  FillBudget* budget = nullptr;  // nullptr: unbounded
  uint64_t reserved = 0;         // bytes of `budget` this fill holds
  SysTime now{};                 // request time: the stored entry's age and expiry count from here
  // Called once at S3's head with the decision (storable or not), before any body byte.
  std::function<void(bool storable)> on_head;

  // Set by the relay.
  cache::NoStoreReason refused = cache::NoStoreReason::None;
  std::optional<cache::Meta> meta;  // the storable answer's metadata
  std::string body;                 // the body as streamed
  bool complete = false;            // every body byte read and relayed: the length matched
};

// How the relay should treat one S3 exchange on behalf of the cache (all optional).
struct FetchPlan {
  Fill* fill = nullptr;
  // Revalidation (CACHE-8): sent as If-None-Match; S3's 304 is not relayed but returned.
  std::string if_none_match;
  // A stale copy exists: S3 failures (unreachable, timeout, 5xx) are not answered but returned,
  // so the caller can serve the copy.
  bool defer_errors = false;

  enum class Result : uint8_t { Responded, NotModified, Failed };
  Result result = Result::Responded;
  std::optional<Error> error;  // Failed: what would have been answered
  // NotModified: S3's freshness headers on the 304 (RFC 9111 4.3.4 updates the stored ones).
  std::string nm_cache_control, nm_expires, nm_date;
};

// Writes the whole response for `ex` to `client`. Returns whether the client connection may
// serve another request (false after a mid-stream failure, where the connection is cut so the
// client never takes a partial body for a complete one).
// With a `plan`, a Failed or NotModified result means nothing was written to the client.
boost::asio::awaitable<bool> proxy_to_s3(net::ClientStream& client, Exchange& ex, Worker& w,
                                         bool keep_alive, FetchPlan* plan = nullptr);

// HTTP-6 headers of an S3 answer as the cache stores them (cache::Meta::headers and friends).
cache::Meta stored_meta(const boost::beast::http::fields& s3_head, uint64_t size);

}  // namespace yg::proxy
