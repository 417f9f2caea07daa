#pragma once
// What may be cached and for how long (FEATURES.md CACHE-5, RFC 9111 for a shared cache).
// Pure functions: header values in, a decision out; no HTTP library types, no clock reads.
//
// Status (issue #6): written and tested; the proxy does not use it yet.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace yg::cache {

// Response Cache-Control directives a shared cache acts on (RFC 9111 5.2.2). Unknown
// directives are ignored; a malformed delta-seconds makes its directive count as absent, except
// that a malformed max-age/s-maxage is treated as 0 (stale), as RFC 9111 4.2.1 advises.
struct CacheControl {
  bool no_store = false;
  bool no_cache = false;
  bool private_ = false;
  bool public_ = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  std::optional<uint64_t> max_age;
  std::optional<uint64_t> s_maxage;
};
CacheControl parse_cache_control(std::string_view value);

enum class NoStoreReason : uint8_t {
  None,
  Method,      // not GET
  Status,      // not 200
  NoStore,     // Cache-Control: no-store
  Private,     // Cache-Control: private (a shared cache must not store it)
  NoCache,     // Cache-Control: no-cache (would need revalidation on every hit)
  ZeroTtl,     // max-age=0 / s-maxage=0 / Expires in the past
  TooLarge,    // over the item limit
  NoLength,    // no Content-Length: completeness could not be checked
  SetCookie,   // a per-user response
  FillBudget,  // too many bytes already held by fills in progress (the proxy's bound)
};
std::string_view to_string(NoStoreReason r) noexcept;

struct ResponseFacts {
  std::string_view method;  // of the request
  unsigned status = 0;
  std::string_view cache_control;
  std::string_view expires;  // HTTP-date or empty
  std::string_view date;     // HTTP-date or empty
  std::optional<uint64_t> content_length;
  bool set_cookie = false;
};

struct StorePolicy {
  std::chrono::seconds ttl{3600};  // the bucket's ttl_seconds or the default_ttl_seconds
  uint64_t max_item_bytes = 10 * 1024 * 1024;
};

struct StoreDecision {
  NoStoreReason reason = NoStoreReason::None;  // None: store it
  std::chrono::seconds ttl{0};                 // freshness lifetime when stored
  bool store() const noexcept { return reason == NoStoreReason::None; }
};

// CACHE-5: 200 GET with a known length up to the item limit, not no-store/private/no-cache;
// TTL = the configured TTL, bounded by s-maxage, else max-age, else Expires - Date.
StoreDecision decide(const ResponseFacts& r, const StorePolicy& p);

// The cache key (CACHE-5): bucket name + object key (+ versionId). Unambiguous: the parts are
// length-prefixed, so no key can collide with another bucket's or version's.
std::string cache_key(std::string_view bucket, std::string_view key,
                      std::string_view version_id = {});
// The prefix every cache_key() of `bucket` starts with, and of no other bucket's.
std::string bucket_prefix(std::string_view bucket);

}  // namespace yg::cache
