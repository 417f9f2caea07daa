#pragma once
// Metrics (FEATURES.md OBS-2, docs/METRICS.md): per-worker shards written without locks or
// allocation, merged when /metrics or /admin/stats is read.
//
// Each worker thread owns one WorkerMetrics and is its only writer: a counter add is a relaxed
// load + store of the worker's own cache lines, never a locked read-modify-write. Readers on
// any thread sum the shards with relaxed loads; a scrape may see one worker a few increments
// ahead of another, never a torn value.
//
// Label sets are bounded by construction: buckets and replicas occupy slots assigned from the
// configuration (at most kBucketSlots / kReplicaSlots; names beyond that share an "_other"
// slot), methods and statuses map onto fixed tables, rejection reasons are an enum. No key,
// user or client address is ever a label.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace yg::obs {

// A counter with one writer (the owning worker thread) and any number of readers.
class Counter {
 public:
  void add(uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Latency bucket upper bounds, in seconds (Prometheus `le`), shared by every histogram.
inline constexpr std::array<double, 16> kLatencyBounds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

// A latency histogram with one writer. Bucket counts are per bucket (not cumulative); the
// text format accumulates them.
class Histogram {
 public:
  static constexpr std::size_t kBuckets = kLatencyBounds.size() + 1;  // last: +Inf
  void observe(std::chrono::nanoseconds d) noexcept;
  struct Snapshot {
    std::array<uint64_t, kBuckets> counts{};
    uint64_t sum_ns = 0;
    uint64_t count = 0;
    void merge(const Histogram& h) noexcept;
  };

 private:
  std::array<Counter, kBuckets> counts_;
  Counter sum_ns_;
  Counter count_;
};

// Fixed label tables.
enum class Method : uint8_t { Get, Head, Options, Other, kCount };
Method method_of(std::string_view verb) noexcept;
std::string_view to_string(Method m) noexcept;

// Every status the proxy or S3 is expected to produce has its own slot; the rest share
// "other". Index kStatusCodes.size() is "other".
inline constexpr std::array<uint16_t, 21> kStatusCodes = {200, 204, 206, 304, 400, 401, 403,
                                                          404, 405, 408, 412, 413, 414, 416,
                                                          429, 431, 500, 501, 502, 503, 504};
inline constexpr std::size_t kStatusSlots = kStatusCodes.size() + 1;
std::size_t status_slot(unsigned status) noexcept;
std::string status_label(std::size_t slot);

// Requests refused before routing or by a security rule (FEATURES.md SEC-*, HTTP-2).
enum class Rejection : uint8_t {
  BadRequest,       // malformed head, smuggling shapes
  HeadersTooLarge,  // 431
  UriTooLong,       // 414
  BodyTooLarge,     // 413
  BadPath,          // traversal, bad escapes, NUL, bad UTF-8
  SqlInjection,
  MethodNotAllowed,
  Overloaded,       // max_concurrent_requests
  RateLimitGlobal,  // server.rate_limit.global (OPS-3)
  RateLimitIp,      // server.rate_limit.per_ip
  RateLimitBucket,  // s3.rate_limit
  IpFilter,         // the bucket's ip_filter refused the client address
  kCount
};
std::string_view to_string(Rejection r) noexcept;

// Failures talking to S3 (per replica).
enum class UpstreamError : uint8_t {
  Connect,        // could not connect (refused, DNS, TLS handshake)
  Timeout,        // connect, first byte or idle read timed out
  Io,             // connection reset or closed before the response head
  BodyTruncated,  // the body failed after the head was relayed
  Auth,           // S3 refused the proxy's credentials (403 signature/key errors)
  Server,         // S3 answered 5xx
  kCount
};
std::string_view to_string(UpstreamError e) noexcept;

// Internal endpoints, counted apart from bucket traffic so scrapes and probes do not blur it.
enum class Endpoint : uint8_t { Health, Ready, Metrics, Admin, kCount };
std::string_view to_string(Endpoint e) noexcept;

// Authentication outcome of a request to a protected bucket (FEATURES.md AUTH-*).
enum class AuthOutcome : uint8_t { Allowed, Missing, Invalid, Forbidden, kCount };
std::string_view to_string(AuthOutcome o) noexcept;
inline constexpr std::size_t kAuthReasons = 16;  // why tokens were invalid; names set by auth

// Authorization outcome (FEATURES.md AUTHZ-*): the engine's (or the cache's) answer, or what the
// fail mode made of an engine that could not answer.
enum class AuthzOutcome : uint8_t { Allowed, Denied, FailedClosed, FailedOpen, kCount };
std::string_view to_string(AuthzOutcome o) noexcept;
// Why one attempt to ask OPA / OpenFGA failed.
enum class AuthzError : uint8_t {
  Connect,      // refused, reset, DNS, TLS
  Timeout,      // the timeout budget ran out
  Status,       // an HTTP status other than 200
  BadResponse,  // not HTTP, not JSON, or not the expected shape
  kCount
};
std::string_view to_string(AuthzError e) noexcept;

// Why a TLS handshake on the client listener failed (OPS-6, docs/TLS.md).
enum class TlsFailure : uint8_t {
  Timeout,              // no complete handshake within server.header_read_timeout
  Closed,               // the client closed or reset the connection during the handshake
  NotTls,               // plain HTTP (or other non-TLS bytes) sent to the TLS port
  Version,              // no protocol version in common (e.g. a TLS 1.0/1.1-only client)
  Cipher,               // no cipher suite, group or signature algorithm in common
  CertificateRejected,  // the client refused our certificate (unknown CA, expired, ...)
  Other,
  kCount
};
std::string_view to_string(TlsFailure f) noexcept;
// Negotiated versions counted by yatagarasu_tls_handshakes_total.
enum class TlsVersion : uint8_t { V1_2, V1_3, kCount };
std::string_view to_string(TlsVersion v) noexcept;

inline constexpr std::size_t kBucketSlots = 64;    // slot 0: "_none" (no bucket); last: "_other"
inline constexpr std::size_t kReplicaSlots = 128;  // last: "_other"
inline constexpr uint16_t kNoBucket = 0;

template <class E>
constexpr std::size_t count_of() {
  return static_cast<std::size_t>(E::kCount);
}

// Cache results per proxied request (CACHE-*, X-Cache), in proxy::CacheStatus order.
inline constexpr std::size_t kCacheResults = 5;
inline constexpr std::array<std::string_view, kCacheResults> kCacheResultNames = {
    "bypass", "miss", "hit", "stale", "revalidated"};

struct BucketSeries {
  std::array<std::array<Counter, kStatusSlots>, count_of<Method>()> requests;
  Counter bytes_sent;
  Counter aborted_by_client;    // client left before the body was complete
  Counter aborted_by_upstream;  // S3 failed mid-body; the client connection was reset
  Histogram duration;           // request start -> last byte written
  Histogram ttfb;               // request start -> first response byte handed to the socket
  std::array<Counter, count_of<AuthOutcome>()> auth;
  std::array<Counter, count_of<AuthzOutcome>()> authz;
  Counter authz_cache_hits, authz_cache_misses;
  std::array<Counter, count_of<AuthzError>()> authz_errors;  // failed attempts, retries included
  Histogram authz_latency;                   // time spent asking the engine (cache misses only)
  std::array<Counter, kCacheResults> cache;  // requests that reached the cache step
  // OPS-1/OPS-2: retries (another pass over the replicas after a backoff), retries the budget
  // refused, attempts moved to the next replica, and 503s because every breaker was open.
  Counter retries, retry_budget_exhausted, failovers, circuit_open;
};

struct ReplicaSeries {
  std::array<Counter, kStatusSlots> responses;  // S3 response statuses
  std::array<Counter, count_of<UpstreamError>()> errors;
  Histogram latency;  // request sent -> response head received
};

// One worker's shard. Written only by that worker's thread.
struct WorkerMetrics {
  std::array<BucketSeries, kBucketSlots> buckets;
  std::array<ReplicaSeries, kReplicaSlots> replicas;
  std::array<Counter, count_of<Rejection>()> rejections;
  std::array<Counter, count_of<Endpoint>()> endpoints;
  std::array<Counter, kAuthReasons> auth_invalid;  // by reason index (Registry::auth_reasons)
  Counter connections_accepted;
  Counter bytes_received;  // request head bytes
  std::array<Counter, count_of<TlsVersion>()> tls_handshakes;
  std::array<Counter, count_of<TlsFailure>()> tls_failures;
};

// A recent error, for the dashboard. No secrets: ids, names, statuses and our error codes.
struct RecentError {
  int64_t unix_ms = 0;
  std::string request_id;
  std::string bucket;
  unsigned status = 0;
  std::string what;
};

// Sums over every shard.
struct Totals {
  struct Bucket {
    std::string name;
    std::array<std::array<uint64_t, kStatusSlots>, count_of<Method>()> requests{};
    uint64_t bytes_sent = 0, aborted_by_client = 0, aborted_by_upstream = 0;
    Histogram::Snapshot duration, ttfb;
    std::array<uint64_t, count_of<AuthOutcome>()> auth{};
    std::array<uint64_t, count_of<AuthzOutcome>()> authz{};
    uint64_t authz_cache_hits = 0, authz_cache_misses = 0;
    std::array<uint64_t, count_of<AuthzError>()> authz_errors{};
    Histogram::Snapshot authz_latency;
    std::array<uint64_t, kCacheResults> cache{};
    uint64_t retries = 0, retry_budget_exhausted = 0, failovers = 0, circuit_open = 0;
  };
  struct Replica {
    std::string bucket, replica;
    std::array<uint64_t, kStatusSlots> responses{};
    std::array<uint64_t, count_of<UpstreamError>()> errors{};
    Histogram::Snapshot latency;
  };
  std::vector<Bucket> buckets;    // assigned slots only
  std::vector<Replica> replicas;  // assigned slots only
  std::array<uint64_t, count_of<Rejection>()> rejections{};
  std::array<uint64_t, count_of<Endpoint>()> endpoints{};
  std::array<uint64_t, kAuthReasons> auth_invalid{};
  uint64_t connections_accepted = 0;
  uint64_t bytes_received = 0;
  std::array<uint64_t, count_of<TlsVersion>()> tls_handshakes{};
  std::array<uint64_t, count_of<TlsFailure>()> tls_failures{};
  // Requests answered by each worker (shard order = worker index): shows whether the load is
  // spread over the threads (the CPU-scaling campaign checks it).
  std::vector<uint64_t> worker_requests;
};

// Gauges and counters owned outside this module (connection counts, audit, logs), written by
// their owners and rendered after the registry's own families.
struct ExternalFamily {
  std::string name;  // full name, yatagarasu_ prefix included
  std::string help;
  std::string type;                                     // "counter" | "gauge"
  std::vector<std::pair<std::string, double>> samples;  // label text ("" or `{a="b"}`), value
};

class Registry {
 public:
  Registry();
  // A new shard for a worker; valid until the registry dies.
  WorkerMetrics& add_shard();

  // Slot for a configured bucket / replica, stable for the process lifetime (a reload that
  // renames buckets takes new slots; the old ones keep their totals).
  uint16_t bucket_slot(std::string_view bucket);
  uint16_t replica_slot(std::string_view bucket, std::string_view replica);

  // Label values for WorkerMetrics::auth_invalid indexes (set once at start by the wiring).
  void set_auth_reasons(std::vector<std::string> names);

  // The main listener speaks TLS (set once at start by the wiring): the TLS families are
  // rendered only then.
  void set_tls_listener(bool on) noexcept { tls_listener_.store(on); }

  // Process-wide events (rare; atomics shared by all threads).
  void reload_result(bool ok) noexcept;
  void set_config_generation(uint64_t g) noexcept { generation_.store(g); }
  uint64_t config_generation() const noexcept { return generation_.load(); }

  // Recent 5xx and upstream failures (a short mutex; errors only).
  void record_error(RecentError e);
  std::vector<RecentError> recent_errors() const;

  Totals totals() const;
  // Prometheus text exposition format 0.0.4.
  std::string render(const std::vector<ExternalFamily>& external) const;

  // For tests: set the registry back to its empty state (no shard may be in use).
  void reset_for_test();

 private:
  mutable std::mutex mu_;         // shards_ list, slot names: start, reload and scrapes only
  mutable std::mutex errors_mu_;  // recent_: taken once per 5xx (not per refusal)
  std::deque<std::unique_ptr<WorkerMetrics>> shards_;
  std::vector<std::string> bucket_names_;                           // by slot
  std::vector<std::pair<std::string, std::string>> replica_names_;  // by slot
  std::vector<std::string> auth_reasons_;
  std::deque<RecentError> recent_;
  std::atomic<uint64_t> reloads_ok_{0}, reloads_failed_{0}, generation_{1};
  std::atomic<bool> tls_listener_{false};
  std::chrono::system_clock::time_point started_;
};

// The process-wide registry.
Registry& metrics();

// Process figures read from /proc/self at scrape time.
struct ProcessStats {
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  double cpu_seconds = 0;
};
ProcessStats read_process_stats();

// Prometheus label value escaping (backslash, double quote, newline).
std::string escape_label(std::string_view v);

}  // namespace yg::obs
