#include "obs/metrics.h"

#include <dirent.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#ifndef YG_VERSION
#define YG_VERSION "0.0.0"
#endif

namespace yg::obs {
namespace {

constexpr std::size_t kRecentErrors = 50;

// Bucket bounds in nanoseconds, for a comparison loop without floating point.
constexpr std::array<uint64_t, kLatencyBounds.size()> bounds_ns() {
  std::array<uint64_t, kLatencyBounds.size()> out{};
  for (std::size_t i = 0; i < kLatencyBounds.size(); ++i) {
    out[i] = static_cast<uint64_t>(kLatencyBounds[i] * 1e9 + 0.5);
  }
  return out;
}
constexpr auto kBoundsNs = bounds_ns();

// status -> slot, built once.
struct StatusTable {
  std::array<uint8_t, 600> slot{};
  constexpr StatusTable() {
    for (auto& s : slot) {
      s = static_cast<uint8_t>(kStatusCodes.size());
    }
    for (std::size_t i = 0; i < kStatusCodes.size(); ++i) {
      slot[kStatusCodes[i]] = static_cast<uint8_t>(i);
    }
  }
};
constexpr StatusTable kStatusTable;

std::string fmt_double(double v) {
  return fmt::format("{}", v);
}

using Buf = fmt::memory_buffer;

void header(Buf& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// The `le` label values, formatted once.
const std::array<std::string, Histogram::kBuckets>& le_labels() {
  static const auto labels = [] {
    std::array<std::string, Histogram::kBuckets> a;
    for (std::size_t i = 0; i < kLatencyBounds.size(); ++i) {
      a[i] = fmt_double(kLatencyBounds[i]);
    }
    a.back() = "+Inf";
    return a;
  }();
  return labels;
}

void histogram_lines(Buf& out, std::string_view name, std::string_view labels,
                     const Histogram::Snapshot& h) {
  // `labels` is `a="b",c="d"` (no braces) or empty.
  const std::string_view sep = labels.empty() ? "" : ",";
  const auto& le = le_labels();
  auto it = std::back_inserter(out);
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < Histogram::kBuckets; ++i) {
    cumulative += h.counts[i];
    fmt::format_to(it, "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le[i], cumulative);
  }
  const std::string_view open = labels.empty() ? "" : "{";
  const std::string_view close = labels.empty() ? "" : "}";
  fmt::format_to(it, "{}_sum{}{}{} {}\n", name, open, labels, close,
                 static_cast<double>(h.sum_ns) / 1e9);
  fmt::format_to(it, "{}_count{}{}{} {}\n", name, open, labels, close, h.count);
}

}  // namespace

void Histogram::observe(std::chrono::nanoseconds d) noexcept {
  const uint64_t ns = d.count() < 0 ? 0 : static_cast<uint64_t>(d.count());
  std::size_t i = 0;
  while (i < kBoundsNs.size() && ns > kBoundsNs[i]) {
    ++i;
  }
  counts_[i].add();
  sum_ns_.add(ns);
  count_.add();
}

void Histogram::Snapshot::merge(const Histogram& h) noexcept {
  // _count is the sum of the buckets read here (not count_, which a concurrent observe() may
  // have moved on), so `le="+Inf"` always equals `_count` in one scrape.
  for (std::size_t i = 0; i < kBuckets; ++i) {
    const uint64_t n = h.counts_[i].value();
    counts[i] += n;
    count += n;
  }
  sum_ns += h.sum_ns_.value();
}

Method method_of(std::string_view verb) noexcept {
  if (verb == "GET") {
    return Method::Get;
  }
  if (verb == "HEAD") {
    return Method::Head;
  }
  if (verb == "OPTIONS") {
    return Method::Options;
  }
  return Method::Other;
}

std::string_view to_string(Method m) noexcept {
  switch (m) {
    case Method::Get:
      return "GET";
    case Method::Head:
      return "HEAD";
    case Method::Options:
      return "OPTIONS";
    default:
      return "other";
  }
}

std::size_t status_slot(unsigned status) noexcept {
  return status < kStatusTable.slot.size() ? kStatusTable.slot[status] : kStatusCodes.size();
}

std::string status_label(std::size_t slot) {
  return slot < kStatusCodes.size() ? std::to_string(kStatusCodes[slot]) : "other";
}

std::string_view to_string(Rejection r) noexcept {
  switch (r) {
    case Rejection::BadRequest:
      return "bad_request";
    case Rejection::HeadersTooLarge:
      return "headers_too_large";
    case Rejection::UriTooLong:
      return "uri_too_long";
    case Rejection::BodyTooLarge:
      return "body_too_large";
    case Rejection::BadPath:
      return "bad_path";
    case Rejection::SqlInjection:
      return "sql_injection";
    case Rejection::MethodNotAllowed:
      return "method_not_allowed";
    case Rejection::Overloaded:
      return "overloaded";
    case Rejection::RateLimitGlobal:
      return "rate_limit_global";
    case Rejection::RateLimitIp:
      return "rate_limit_ip";
    case Rejection::RateLimitBucket:
      return "rate_limit_bucket";
    case Rejection::IpFilter:
      return "ip_filter";
    case Rejection::kCount:
      break;
  }
  return "?";
}

std::string_view to_string(UpstreamError e) noexcept {
  switch (e) {
    case UpstreamError::Connect:
      return "connect";
    case UpstreamError::Timeout:
      return "timeout";
    case UpstreamError::Io:
      return "io";
    case UpstreamError::BodyTruncated:
      return "body_truncated";
    case UpstreamError::Auth:
      return "auth";
    case UpstreamError::Server:
      return "server_error";
    case UpstreamError::kCount:
      break;
  }
  return "?";
}

std::string_view to_string(TlsFailure f) noexcept {
  switch (f) {
    case TlsFailure::Timeout:
      return "timeout";
    case TlsFailure::Closed:
      return "closed";
    case TlsFailure::NotTls:
      return "not_tls";
    case TlsFailure::Version:
      return "version";
    case TlsFailure::Cipher:
      return "cipher";
    case TlsFailure::CertificateRejected:
      return "certificate_rejected";
    case TlsFailure::Other:
    case TlsFailure::kCount:
      break;
  }
  return "other";
}

std::string_view to_string(TlsVersion v) noexcept {
  return v == TlsVersion::V1_3 ? "TLSv1.3" : "TLSv1.2";
}

std::string_view to_string(Endpoint e) noexcept {
  switch (e) {
    case Endpoint::Health:
      return "health";
    case Endpoint::Ready:
      return "ready";
    case Endpoint::Metrics:
      return "metrics";
    case Endpoint::Admin:
      return "admin";
    case Endpoint::kCount:
      break;
  }
  return "?";
}

std::string_view to_string(AuthOutcome o) noexcept {
  switch (o) {
    case AuthOutcome::Allowed:
      return "allowed";
    case AuthOutcome::Missing:
      return "missing";
    case AuthOutcome::Invalid:
      return "invalid";
    case AuthOutcome::Forbidden:
      return "forbidden";
    case AuthOutcome::kCount:
      break;
  }
  return "?";
}

std::string_view to_string(AuthzOutcome o) noexcept {
  switch (o) {
    case AuthzOutcome::Allowed:
      return "allowed";
    case AuthzOutcome::Denied:
      return "denied";
    case AuthzOutcome::FailedClosed:
      return "failed_closed";
    case AuthzOutcome::FailedOpen:
      return "failed_open";
    case AuthzOutcome::kCount:
      break;
  }
  return "?";
}

std::string_view to_string(AuthzError e) noexcept {
  switch (e) {
    case AuthzError::Connect:
      return "connect";
    case AuthzError::Timeout:
      return "timeout";
    case AuthzError::Status:
      return "status";
    case AuthzError::BadResponse:
      return "bad_response";
    case AuthzError::kCount:
      break;
  }
  return "?";
}

void Registry::set_auth_reasons(std::vector<std::string> names) {
  std::lock_guard lk(mu_);
  names.resize(std::min(names.size(), kAuthReasons));
  auth_reasons_ = std::move(names);
}

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Registry::Registry() : started_(std::chrono::system_clock::now()) {
  bucket_names_.emplace_back("_none");
}

WorkerMetrics& Registry::add_shard() {
  std::lock_guard lk(mu_);
  shards_.push_back(std::make_unique<WorkerMetrics>());
  return *shards_.back();
}

uint16_t Registry::bucket_slot(std::string_view bucket) {
  std::lock_guard lk(mu_);
  for (std::size_t i = 1; i < bucket_names_.size(); ++i) {
    if (bucket_names_[i] == bucket) {
      return static_cast<uint16_t>(i);
    }
  }
  if (bucket_names_.size() + 1 < kBucketSlots) {
    bucket_names_.emplace_back(bucket);
    return static_cast<uint16_t>(bucket_names_.size() - 1);
  }
  if (bucket_names_.size() + 1 == kBucketSlots) {
    bucket_names_.emplace_back("_other");
  }
  return static_cast<uint16_t>(kBucketSlots - 1);
}

uint16_t Registry::replica_slot(std::string_view bucket, std::string_view replica) {
  std::lock_guard lk(mu_);
  for (std::size_t i = 0; i < replica_names_.size(); ++i) {
    if (replica_names_[i].first == bucket && replica_names_[i].second == replica) {
      return static_cast<uint16_t>(i);
    }
  }
  if (replica_names_.size() + 1 < kReplicaSlots) {
    replica_names_.emplace_back(bucket, replica);
    return static_cast<uint16_t>(replica_names_.size() - 1);
  }
  if (replica_names_.size() + 1 == kReplicaSlots) {
    replica_names_.emplace_back("_other", "_other");
  }
  return static_cast<uint16_t>(kReplicaSlots - 1);
}

void Registry::reload_result(bool ok) noexcept {
  (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
  if (ok) {
    generation_.fetch_add(1, std::memory_order_relaxed);
  }
}

void Registry::record_error(RecentError e) {
  std::lock_guard lk(errors_mu_);
  recent_.push_back(std::move(e));
  while (recent_.size() > kRecentErrors) {
    recent_.pop_front();
  }
}

std::vector<RecentError> Registry::recent_errors() const {
  std::lock_guard lk(errors_mu_);
  return {recent_.rbegin(), recent_.rend()};  // newest first
}

Totals Registry::totals() const {
  std::lock_guard lk(mu_);
  Totals t;
  t.buckets.resize(bucket_names_.size());
  for (std::size_t i = 0; i < bucket_names_.size(); ++i) {
    t.buckets[i].name = bucket_names_[i];
  }
  t.replicas.resize(replica_names_.size());
  for (std::size_t i = 0; i < replica_names_.size(); ++i) {
    t.replicas[i].bucket = replica_names_[i].first;
    t.replicas[i].replica = replica_names_[i].second;
  }
  for (const auto& sp : shards_) {
    const WorkerMetrics& w = *sp;
    uint64_t answered = 0;
    for (const auto& s : w.buckets) {
      for (const auto& by_method : s.requests) {
        for (const auto& c : by_method) {
          answered += c.value();
        }
      }
    }
    t.worker_requests.push_back(answered);
    for (std::size_t b = 0; b < t.buckets.size(); ++b) {
      const auto& s = w.buckets[b];
      auto& o = t.buckets[b];
      for (std::size_t m = 0; m < s.requests.size(); ++m) {
        for (std::size_t k = 0; k < kStatusSlots; ++k) {
          o.requests[m][k] += s.requests[m][k].value();
        }
      }
      o.bytes_sent += s.bytes_sent.value();
      o.aborted_by_client += s.aborted_by_client.value();
      o.aborted_by_upstream += s.aborted_by_upstream.value();
      o.duration.merge(s.duration);
      o.ttfb.merge(s.ttfb);
      for (std::size_t k = 0; k < o.auth.size(); ++k) {
        o.auth[k] += s.auth[k].value();
      }
      for (std::size_t k = 0; k < o.authz.size(); ++k) {
        o.authz[k] += s.authz[k].value();
      }
      o.authz_cache_hits += s.authz_cache_hits.value();
      o.authz_cache_misses += s.authz_cache_misses.value();
      for (std::size_t k = 0; k < o.authz_errors.size(); ++k) {
        o.authz_errors[k] += s.authz_errors[k].value();
      }
      o.authz_latency.merge(s.authz_latency);
      for (std::size_t k = 0; k < o.cache.size(); ++k) {
        o.cache[k] += s.cache[k].value();
      }
      o.retries += s.retries.value();
      o.retry_budget_exhausted += s.retry_budget_exhausted.value();
      o.failovers += s.failovers.value();
      o.circuit_open += s.circuit_open.value();
    }
    for (std::size_t r = 0; r < t.replicas.size(); ++r) {
      const auto& s = w.replicas[r];
      auto& o = t.replicas[r];
      for (std::size_t k = 0; k < kStatusSlots; ++k) {
        o.responses[k] += s.responses[k].value();
      }
      for (std::size_t k = 0; k < o.errors.size(); ++k) {
        o.errors[k] += s.errors[k].value();
      }
      o.latency.merge(s.latency);
    }
    for (std::size_t k = 0; k < t.rejections.size(); ++k) {
      t.rejections[k] += w.rejections[k].value();
    }
    for (std::size_t k = 0; k < t.endpoints.size(); ++k) {
      t.endpoints[k] += w.endpoints[k].value();
    }
    for (std::size_t k = 0; k < t.auth_invalid.size(); ++k) {
      t.auth_invalid[k] += w.auth_invalid[k].value();
    }
    t.connections_accepted += w.connections_accepted.value();
    t.bytes_received += w.bytes_received.value();
    for (std::size_t k = 0; k < t.tls_handshakes.size(); ++k) {
      t.tls_handshakes[k] += w.tls_handshakes[k].value();
    }
    for (std::size_t k = 0; k < t.tls_failures.size(); ++k) {
      t.tls_failures[k] += w.tls_failures[k].value();
    }
  }
  return t;
}

std::string Registry::render(const std::vector<ExternalFamily>& external) const {
  const Totals t = totals();
  Buf out;
  auto it = std::back_inserter(out);

  header(out, "yatagarasu_requests_total", "counter",
         "Requests answered, by bucket (_none: not routed), method and status.");
  for (const auto& b : t.buckets) {
    for (std::size_t m = 0; m < b.requests.size(); ++m) {
      for (std::size_t k = 0; k < kStatusSlots; ++k) {
        if (b.requests[m][k] != 0) {
          fmt::format_to(
              it, "yatagarasu_requests_total{{bucket=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
              escape_label(b.name), to_string(static_cast<Method>(m)), status_label(k),
              b.requests[m][k]);
        }
      }
    }
  }
  header(out, "yatagarasu_request_duration_seconds", "histogram",
         "Time from the request head to the last response byte, by bucket.");
  for (const auto& b : t.buckets) {
    histogram_lines(out, "yatagarasu_request_duration_seconds",
                    fmt::format("bucket=\"{}\"", escape_label(b.name)), b.duration);
  }
  header(out, "yatagarasu_time_to_first_byte_seconds", "histogram",
         "Time from the request head to the first response byte, by bucket.");
  for (const auto& b : t.buckets) {
    histogram_lines(out, "yatagarasu_time_to_first_byte_seconds",
                    fmt::format("bucket=\"{}\"", escape_label(b.name)), b.ttfb);
  }
  header(out, "yatagarasu_response_bytes_total", "counter",
         "Response body bytes written to clients, by bucket.");
  for (const auto& b : t.buckets) {
    fmt::format_to(it, "yatagarasu_response_bytes_total{{bucket=\"{}\"}} {}\n",
                   escape_label(b.name), b.bytes_sent);
  }
  header(out, "yatagarasu_responses_aborted_total", "counter",
         "Responses cut short: by the client leaving, or by S3 failing mid-body.");
  for (const auto& b : t.buckets) {
    fmt::format_to(it, "yatagarasu_responses_aborted_total{{bucket=\"{}\",cause=\"client\"}} {}\n",
                   escape_label(b.name), b.aborted_by_client);
    fmt::format_to(it,
                   "yatagarasu_responses_aborted_total{{bucket=\"{}\",cause=\"upstream\"}} {}\n",
                   escape_label(b.name), b.aborted_by_upstream);
  }
  // OPS-1/OPS-2: one counter per bucket each.
  struct BucketCounter {
    const char* name;
    const char* help;
    uint64_t Totals::Bucket::*value;
  };
  static constexpr BucketCounter kResilience[] = {
      {"yatagarasu_upstream_retries_total",
       "Retries of S3 requests after a backoff (s3.retry), by bucket.", &Totals::Bucket::retries},
      {"yatagarasu_upstream_retry_budget_exhausted_total",
       "Retries not made because the bucket's retry budget was spent.",
       &Totals::Bucket::retry_budget_exhausted},
      {"yatagarasu_upstream_failovers_total",
       "Attempts moved to the next replica after a failed one, by bucket.",
       &Totals::Bucket::failovers},
      {"yatagarasu_circuit_open_rejections_total",
       "Requests answered 503 because every replica's circuit breaker was open.",
       &Totals::Bucket::circuit_open},
  };
  for (const auto& f : kResilience) {
    header(out, f.name, "counter", f.help);
    for (const auto& b : t.buckets) {
      fmt::format_to(it, "{}{{bucket=\"{}\"}} {}\n", f.name, escape_label(b.name), b.*f.value);
    }
  }
  header(out, "yatagarasu_request_bytes_total", "counter",
         "Request head bytes received from clients.");
  fmt::format_to(it, "yatagarasu_request_bytes_total {}\n", t.bytes_received);
  header(out, "yatagarasu_connections_accepted_total", "counter", "Client connections accepted.");
  fmt::format_to(it, "yatagarasu_connections_accepted_total {}\n", t.connections_accepted);
  if (tls_listener_.load()) {
    header(out, "yatagarasu_tls_handshakes_total", "counter",
           "TLS handshakes completed on the main listener, by negotiated version.");
    for (std::size_t k = 0; k < t.tls_handshakes.size(); ++k) {
      fmt::format_to(it, "yatagarasu_tls_handshakes_total{{version=\"{}\"}} {}\n",
                     to_string(static_cast<TlsVersion>(k)), t.tls_handshakes[k]);
    }
    header(out, "yatagarasu_tls_handshake_failures_total", "counter",
           "TLS handshakes on the main listener that failed, by reason.");
    for (std::size_t k = 0; k < t.tls_failures.size(); ++k) {
      fmt::format_to(it, "yatagarasu_tls_handshake_failures_total{{reason=\"{}\"}} {}\n",
                     to_string(static_cast<TlsFailure>(k)), t.tls_failures[k]);
    }
  }

  header(out, "yatagarasu_upstream_responses_total", "counter",
         "S3 responses received, by bucket, replica and S3 status.");
  for (const auto& r : t.replicas) {
    for (std::size_t k = 0; k < kStatusSlots; ++k) {
      if (r.responses[k] != 0) {
        fmt::format_to(it,
                       "yatagarasu_upstream_responses_total{{bucket=\"{}\",replica=\"{}\",status="
                       "\"{}\"}} {}\n",
                       escape_label(r.bucket), escape_label(r.replica), status_label(k),
                       r.responses[k]);
      }
    }
  }
  header(out, "yatagarasu_upstream_errors_total", "counter",
         "Failed S3 exchanges, by bucket, replica and kind.");
  for (const auto& r : t.replicas) {
    for (std::size_t k = 0; k < r.errors.size(); ++k) {
      fmt::format_to(
          it, "yatagarasu_upstream_errors_total{{bucket=\"{}\",replica=\"{}\",kind=\"{}\"}} {}\n",
          escape_label(r.bucket), escape_label(r.replica), to_string(static_cast<UpstreamError>(k)),
          r.errors[k]);
    }
  }
  header(out, "yatagarasu_upstream_request_duration_seconds", "histogram",
         "Time from sending a request to S3 to its response head, by bucket and replica.");
  for (const auto& r : t.replicas) {
    histogram_lines(out, "yatagarasu_upstream_request_duration_seconds",
                    fmt::format("bucket=\"{}\",replica=\"{}\"", escape_label(r.bucket),
                                escape_label(r.replica)),
                    r.latency);
  }

  header(out, "yatagarasu_rejected_requests_total", "counter",
         "Requests refused before reaching a bucket's backend, by reason.");
  for (std::size_t k = 0; k < t.rejections.size(); ++k) {
    fmt::format_to(it, "yatagarasu_rejected_requests_total{{reason=\"{}\"}} {}\n",
                   to_string(static_cast<Rejection>(k)), t.rejections[k]);
  }
  header(out, "yatagarasu_endpoint_requests_total", "counter",
         "Requests to the proxy's own endpoints (/health, /ready, /metrics, /admin).");
  for (std::size_t k = 0; k < t.endpoints.size(); ++k) {
    fmt::format_to(it, "yatagarasu_endpoint_requests_total{{endpoint=\"{}\"}} {}\n",
                   to_string(static_cast<Endpoint>(k)), t.endpoints[k]);
  }
  header(out, "yatagarasu_worker_threads", "gauge", "Worker threads serving requests.");
  fmt::format_to(it, "yatagarasu_worker_threads {}\n", t.worker_requests.size());
  header(out, "yatagarasu_worker_requests_total", "counter",
         "Requests answered for buckets (routed or not; the proxy's own endpoints excluded), by "
         "worker thread (0-based index).");
  for (std::size_t k = 0; k < t.worker_requests.size(); ++k) {
    fmt::format_to(it, "yatagarasu_worker_requests_total{{worker=\"{}\"}} {}\n", k,
                   t.worker_requests[k]);
  }

  std::vector<std::string> reasons;
  {
    std::lock_guard lk(mu_);
    reasons = auth_reasons_;
  }
  if (!reasons.empty()) {
    header(out, "yatagarasu_auth_requests_total", "counter",
           "Requests to protected buckets by authentication outcome (missing/invalid: 401, "
           "forbidden: 403).");
    for (const auto& b : t.buckets) {
      for (std::size_t k = 0; k < b.auth.size(); ++k) {
        if (b.auth[k] != 0) {
          fmt::format_to(it, "yatagarasu_auth_requests_total{{bucket=\"{}\",outcome=\"{}\"}} {}\n",
                         escape_label(b.name), to_string(static_cast<AuthOutcome>(k)), b.auth[k]);
        }
      }
    }
    header(out, "yatagarasu_auth_invalid_tokens_total", "counter",
           "Tokens refused with 401 invalid_token, by reason.");
    for (std::size_t k = 0; k < reasons.size(); ++k) {
      fmt::format_to(it, "yatagarasu_auth_invalid_tokens_total{{reason=\"{}\"}} {}\n", reasons[k],
                     t.auth_invalid[k]);
    }
  }

  // Authorization families list the buckets that asked an engine (or its cache) at least once.
  header(out, "yatagarasu_authz_requests_total", "counter",
         "Authorization outcomes (OPA / OpenFGA) by bucket: allowed, denied (403), "
         "failed_closed (500), failed_open (allowed because the engine could not answer).");
  for (const auto& b : t.buckets) {
    for (std::size_t k = 0; k < b.authz.size(); ++k) {
      if (b.authz[k] != 0) {
        fmt::format_to(it, "yatagarasu_authz_requests_total{{bucket=\"{}\",outcome=\"{}\"}} {}\n",
                       escape_label(b.name), to_string(static_cast<AuthzOutcome>(k)), b.authz[k]);
      }
    }
  }
  header(out, "yatagarasu_cache_requests_total", "counter",
         "Proxied requests by bucket and cache result (X-Cache: hit, miss, bypass, stale, "
         "revalidated).");
  for (const auto& b : t.buckets) {
    uint64_t any = 0;
    for (auto v : b.cache) {
      any += v;
    }
    if (any == 0) {
      continue;
    }
    for (std::size_t k = 0; k < b.cache.size(); ++k) {
      fmt::format_to(it, "yatagarasu_cache_requests_total{{bucket=\"{}\",result=\"{}\"}} {}\n",
                     escape_label(b.name), kCacheResultNames[k], b.cache[k]);
    }
  }
  header(out, "yatagarasu_authz_cache_lookups_total", "counter",
         "Authorization decision cache lookups by bucket and result (hit, miss).");
  for (const auto& b : t.buckets) {
    if (b.authz_cache_hits + b.authz_cache_misses != 0) {
      fmt::format_to(it,
                     "yatagarasu_authz_cache_lookups_total{{bucket=\"{}\",result=\"hit\"}} {}\n",
                     escape_label(b.name), b.authz_cache_hits);
      fmt::format_to(it,
                     "yatagarasu_authz_cache_lookups_total{{bucket=\"{}\",result=\"miss\"}} {}\n",
                     escape_label(b.name), b.authz_cache_misses);
    }
  }
  header(out, "yatagarasu_authz_engine_errors_total", "counter",
         "Failed attempts to ask OPA / OpenFGA (retries included), by bucket and kind.");
  for (const auto& b : t.buckets) {
    for (std::size_t k = 0; k < b.authz_errors.size(); ++k) {
      if (b.authz_errors[k] != 0) {
        fmt::format_to(it, "yatagarasu_authz_engine_errors_total{{bucket=\"{}\",kind=\"{}\"}} {}\n",
                       escape_label(b.name), to_string(static_cast<AuthzError>(k)),
                       b.authz_errors[k]);
      }
    }
  }
  header(out, "yatagarasu_authz_engine_duration_seconds", "histogram",
         "Time spent asking OPA / OpenFGA for one decision (retry included), by bucket.");
  for (const auto& b : t.buckets) {
    if (b.authz_latency.count != 0) {
      histogram_lines(out, "yatagarasu_authz_engine_duration_seconds",
                      fmt::format("bucket=\"{}\"", escape_label(b.name)), b.authz_latency);
    }
  }

  header(out, "yatagarasu_config_reloads_total", "counter", "Configuration reloads, by result.");
  fmt::format_to(it, "yatagarasu_config_reloads_total{{result=\"success\"}} {}\n",
                 reloads_ok_.load());
  fmt::format_to(it, "yatagarasu_config_reloads_total{{result=\"failure\"}} {}\n",
                 reloads_failed_.load());
  header(out, "yatagarasu_config_generation", "gauge",
         "Generation of the running configuration (1 at start, +1 per successful reload).");
  fmt::format_to(it, "yatagarasu_config_generation {}\n", generation_.load());

  for (const auto& f : external) {
    header(out, f.name, f.type, f.help);
    for (const auto& [labels, v] : f.samples) {
      fmt::format_to(it, "{}{} {}\n", f.name, labels, fmt_double(v));
    }
  }

  const auto ps = read_process_stats();
  const auto now = std::chrono::system_clock::now();
  header(out, "yatagarasu_process_resident_memory_bytes", "gauge", "Resident set size.");
  fmt::format_to(it, "yatagarasu_process_resident_memory_bytes {}\n", ps.resident_bytes);
  header(out, "yatagarasu_process_virtual_memory_bytes", "gauge", "Virtual memory size.");
  fmt::format_to(it, "yatagarasu_process_virtual_memory_bytes {}\n", ps.virtual_bytes);
  header(out, "yatagarasu_process_open_fds", "gauge", "Open file descriptors.");
  fmt::format_to(it, "yatagarasu_process_open_fds {}\n", ps.open_fds);
  header(out, "yatagarasu_process_cpu_seconds_total", "counter", "User + system CPU time.");
  fmt::format_to(it, "yatagarasu_process_cpu_seconds_total {}\n", fmt_double(ps.cpu_seconds));
  header(out, "yatagarasu_process_start_time_seconds", "gauge", "Start time, Unix seconds.");
  fmt::format_to(
      it, "yatagarasu_process_start_time_seconds {}\n",
      std::chrono::duration_cast<std::chrono::seconds>(started_.time_since_epoch()).count());
  header(out, "yatagarasu_uptime_seconds", "gauge", "Seconds since start.");
  fmt::format_to(it, "yatagarasu_uptime_seconds {}\n",
                 fmt_double(std::chrono::duration<double>(now - started_).count()));
  header(out, "yatagarasu_build_info", "gauge", "Always 1; the version is a label.");
  fmt::format_to(it, "yatagarasu_build_info{{version=\"{}\"}} 1\n", YG_VERSION);
  return fmt::to_string(out);
}

void Registry::reset_for_test() {
  std::lock_guard lk(mu_);
  shards_.clear();
  bucket_names_.assign(1, "_none");
  replica_names_.clear();
  auth_reasons_.clear();
  {
    std::lock_guard elk(errors_mu_);
    recent_.clear();
  }
  reloads_ok_ = 0;
  reloads_failed_ = 0;
  generation_ = 1;
  tls_listener_ = false;
}

Registry& metrics() {
  static Registry r;
  return r;
}

ProcessStats read_process_stats() {
  ProcessStats s;
  const long page = sysconf(_SC_PAGESIZE);
  if (std::ifstream statm("/proc/self/statm"); statm) {
    uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    s.virtual_bytes = size * static_cast<uint64_t>(page);
    s.resident_bytes = resident * static_cast<uint64_t>(page);
  }
  if (DIR* d = opendir("/proc/self/fd"); d != nullptr) {
    while (const dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') {
        ++s.open_fds;
      }
    }
    closedir(d);
    if (s.open_fds > 0) {
      --s.open_fds;  // the directory stream's own descriptor
    }
  }
  if (std::ifstream stat("/proc/self/stat"); stat) {
    std::string line;
    std::getline(stat, line);
    // Fields after the command name (which may contain spaces) start past the last ')'.
    const auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::vector<std::string> f;
      std::size_t pos = close + 2;
      while (pos < line.size() && f.size() < 15) {
        auto sp = line.find(' ', pos);
        f.push_back(line.substr(pos, sp - pos));
        if (sp == std::string::npos) {
          break;
        }
        pos = sp + 1;
      }
      if (f.size() >= 13) {
        const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
        s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime, stime
      }
    }
  }
  return s;
}

}  // namespace yg::obs
