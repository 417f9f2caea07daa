#include "proxy/observe.h"

#include <boost/json/array.hpp>

#include "core/log.h"
#include "obs/request_log.h"
#include "proxy/cache_phase.h"

#ifndef YG_VERSION
#define YG_VERSION "0.0.0"
#endif

namespace yg::proxy {
namespace {

double ms_of(SteadyClock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::string_view header_or_empty(const net::RequestHead& h, boost::beast::http::field f) {
  auto it = h.fields.find(f);
  return it == h.fields.end() ? std::string_view{} : std::string_view(it->value());
}

void record_metrics(const Exchange& ex, Worker& w, SteadyClock::duration duration) {
  obs::WorkerMetrics& m = w.metrics;
  if (ex.rejection) {
    m.rejections[static_cast<std::size_t>(*ex.rejection)].add();
  }
  if (ex.endpoint) {
    m.endpoints[static_cast<std::size_t>(*ex.endpoint)].add();
    if (ex.auth == obs::AuthOutcome::Invalid && ex.auth_error < obs::kAuthReasons) {
      m.auth_invalid[ex.auth_error].add();  // admin API tokens
    }
    return;
  }
  auto& b = m.buckets[ex.bucket != nullptr ? ex.bucket->metrics_slot : obs::kNoBucket];
  const auto method = obs::method_of(ex.head->method_string);
  b.requests[static_cast<std::size_t>(method)][obs::status_slot(ex.status)].add();
  b.bytes_sent.add(ex.bytes_sent);
  b.duration.observe(duration);
  if (ex.first_byte) {
    b.ttfb.observe(*ex.first_byte - ex.start);
  }
  if (ex.aborted_by_client) {
    b.aborted_by_client.add();
  }
  if (ex.aborted_by_upstream) {
    b.aborted_by_upstream.add();
  }
  if (ex.auth) {
    b.auth[static_cast<std::size_t>(*ex.auth)].add();
    if (*ex.auth == obs::AuthOutcome::Invalid && ex.auth_error < obs::kAuthReasons) {
      m.auth_invalid[ex.auth_error].add();
    }
  }
  if (ex.cache_step) {
    b.cache[static_cast<std::size_t>(ex.cache_status)].add();
  }
  if (ex.authz) {
    const auto& r = ex.authz_result;
    b.authz[static_cast<std::size_t>(*ex.authz)].add();
    if (r.cached) {
      b.authz_cache_hits.add();
    } else if (r.asked && ex.bucket->authz->cache()) {
      b.authz_cache_misses.add();
    }
    for (std::size_t k = 0; k < r.errors.size(); ++k) {
      if (r.errors[k] != 0) {
        b.authz_errors[k].add(r.errors[k]);
      }
    }
    if (r.asked) {
      b.authz_latency.observe(r.engine_time);
    }
  }
}

}  // namespace

void finish_exchange(Exchange& ex, Worker& w) {
  const auto now = SteadyClock::now();
  const auto duration = now - ex.start;
  const auto& cfg = ex.runtime->config;
  if (cfg.metrics_enabled) {
    record_metrics(ex, w, duration);
  }
  // Refusals (503 overloaded) are counted, not listed: under overload they would flood the list.
  if ((ex.status >= 500 && !ex.rejection) || ex.aborted_by_upstream) {
    obs::metrics().record_error(obs::RecentError{
        std::chrono::duration_cast<std::chrono::milliseconds>(ex.wall_start.time_since_epoch())
            .count(),
        ex.request_id, ex.bucket != nullptr ? ex.bucket->cfg->name : std::string(), ex.status,
        ex.aborted_by_upstream ? "S3 failed mid-body" : ex.error});
  }

  const bool want_access = cfg.logging.access_log;
  const bool want_audit = w.shared.audit != nullptr && !ex.endpoint;
  const bool slow =
      cfg.observability.slow_query.enabled &&
      duration >= std::chrono::milliseconds(cfg.observability.slow_query.threshold_ms);
  if (!want_access && !want_audit && !slow) {
    return;
  }
  static const auto access_log = log::get_structured("access");
  // Probes and scrapes would drown the access log: their lines are at debug level.
  const auto level = ex.endpoint ? spdlog::level::debug : spdlog::level::info;
  if (!want_audit && !slow && !access_log->should_log(level)) {
    return;
  }

  const net::RequestHead& h = *ex.head;
  const std::string client_ip = ex.client_ip.to_string();
  const std::string trace_id = obs::trace_id_hex(ex.trace);
  const std::string_view target = h.target;
  const std::string_view path = target.substr(0, target.find('?'));
  obs::RequestRecord r;
  r.time = ex.wall_start;
  r.request_id = ex.request_id;
  r.trace_id = trace_id;
  r.client_ip = client_ip;
  r.bucket = ex.bucket != nullptr ? std::string_view(ex.bucket->cfg->name) : std::string_view{};
  r.key = ex.key;
  r.method = h.method_string;
  r.path = path;
  r.status = ex.status;
  r.bytes_sent = ex.bytes_sent;
  r.duration_ms = ms_of(duration);
  if (ex.first_byte) {
    r.ttfb_ms = ms_of(*ex.first_byte - ex.start);
  }
  if (ex.upstream_latency) {
    r.upstream_ms = ms_of(*ex.upstream_latency);
  }
  r.cache_status = log_name(ex.cache_status);
  r.replica = ex.upstream;
  r.user_agent = header_or_empty(h, boost::beast::http::field::user_agent);
  // A Referer may be a presigned URL or carry ?token=: only its part before the query.
  const std::string_view referer = header_or_empty(h, boost::beast::http::field::referer);
  r.referer = referer.substr(0, referer.find_first_of("?#"));
  r.error = ex.error;
  r.user = ex.user;
  r.aborted = ex.aborted_by_client || ex.aborted_by_upstream;

  if (want_access && access_log->should_log(level)) {
    access_log->log(level, log::format() == log::Format::Json ? obs::access_json_members(r)
                                                              : obs::access_text(r));
  }
  if (want_audit) {
    w.shared.audit->submit(obs::audit_json(r));
  }
  if (slow) {
    static const auto slow_log = log::get("slow");
    const auto& sq = cfg.observability.slow_query;
    const auto lvl = spdlog::level::from_str(sq.log_level);
    if (sq.include_breakdown) {
      slow_log->log(lvl,
                    "request_id={} bucket={} status={} took {:.1f} ms (threshold {} ms): time to "
                    "first byte {:.1f} ms, S3 response head {:.1f} ms, {} body bytes",
                    ex.request_id, r.bucket, ex.status, r.duration_ms, sq.threshold_ms,
                    r.ttfb_ms.value_or(0), r.upstream_ms.value_or(0), ex.bytes_sent);
    } else {
      slow_log->log(lvl, "request_id={} bucket={} status={} took {:.1f} ms (threshold {} ms)",
                    ex.request_id, r.bucket, ex.status, r.duration_ms, sq.threshold_ms);
    }
  }
}

namespace {
// CACHE-*: per-layer operations and occupancy, the write-behind queue, coalescing and fills.
void append_cache_families(const CacheRuntime& cr, std::vector<obs::ExternalFamily>& ext) {
  obs::ExternalFamily ops{"yatagarasu_cache_layer_operations_total",
                          "Cache layer operations by layer and op (hit, miss, insert, rejected, "
                          "eviction, expiration, removal, error).",
                          "counter",
                          {}};
  obs::ExternalFamily items{
      "yatagarasu_cache_items", "Entries held by a cache layer.", "gauge", {}};
  obs::ExternalFamily bytes{
      "yatagarasu_cache_bytes", "Bytes a cache layer holds against its budget.", "gauge", {}};
  obs::ExternalFamily capacity{
      "yatagarasu_cache_capacity_bytes", "A cache layer's configured budget.", "gauge", {}};
  for (const auto& l : cr.engine->layers()) {
    const auto st = l->stats();
    const std::string layer = "layer=\"" + std::string(l->name()) + "\"";
    const std::pair<std::string_view, uint64_t> by_op[] = {
        {"hit", st.hits},          {"miss", st.misses},        {"insert", st.inserts},
        {"rejected", st.rejected}, {"eviction", st.evictions}, {"expiration", st.expirations},
        {"removal", st.removals},  {"error", st.errors}};
    for (const auto& [op, v] : by_op) {
      ops.samples.emplace_back("{" + layer + ",op=\"" + std::string(op) + "\"}",
                               static_cast<double>(v));
    }
    items.samples.emplace_back("{" + layer + "}", static_cast<double>(st.items));
    bytes.samples.emplace_back("{" + layer + "}", static_cast<double>(st.bytes));
    capacity.samples.emplace_back("{" + layer + "}", static_cast<double>(st.capacity_bytes));
  }
  ext.push_back(std::move(ops));
  ext.push_back(std::move(items));
  ext.push_back(std::move(bytes));
  ext.push_back(std::move(capacity));
  ext.push_back({"yatagarasu_cache_write_queue_pending",
                 "Background writes to the slower cache layers waiting or running.",
                 "gauge",
                 {{"", static_cast<double>(cr.engine->write_queue_pending())}}});
  ext.push_back({"yatagarasu_cache_write_queue_dropped_total",
                 "Background cache writes dropped because the queue was full.",
                 "counter",
                 {{"", static_cast<double>(cr.engine->write_queue_dropped())}}});
  ext.push_back({"yatagarasu_cache_coalesced_total",
                 "Requests that waited for another request's fill, by how the wait ended.",
                 "counter",
                 {{"{outcome=\"hit\"}", static_cast<double>(cr.coalesced_hit.load())},
                  {"{outcome=\"released\"}", static_cast<double>(cr.coalesced_released.load())},
                  {"{outcome=\"timeout\"}", static_cast<double>(cr.coalesced_timeout.load())}}});
  ext.push_back({"yatagarasu_cache_fills_total",
                 "Cache fills by outcome (committed, aborted: incomplete or client left, "
                 "refused: not storable).",
                 "counter",
                 {{"{outcome=\"committed\"}", static_cast<double>(cr.fills_committed.load())},
                  {"{outcome=\"aborted\"}", static_cast<double>(cr.fills_aborted.load())},
                  {"{outcome=\"refused\"}", static_cast<double>(cr.fills_refused.load())}}});
  if (cr.redis) {
    const auto rs = cr.redis->stats();
    ext.push_back({"yatagarasu_redis_connections",
                   "Open connections to Redis (all workers and nodes).",
                   "gauge",
                   {{"", static_cast<double>(rs.connections_open)}}});
    const std::pair<std::string_view, uint64_t> events[] = {
        {"connect", rs.connects},
        {"connect_failure", rs.connect_failures},
        {"disconnect", rs.disconnects},
        {"timeout", rs.timeouts},
        {"fast_failure", rs.fast_failures},
        {"moved", rs.moved},
        {"ask", rs.ask},
        {"topology_refresh", rs.topology_refreshes}};
    obs::ExternalFamily ev{"yatagarasu_redis_events_total",
                           "Redis client events: connects, connect failures, disconnects, command "
                           "timeouts, commands refused during a reconnect backoff, cluster "
                           "redirections and slot map refreshes.",
                           "counter",
                           {}};
    for (const auto& [name, v] : events) {
      ev.samples.emplace_back("{event=\"" + std::string(name) + "\"}", static_cast<double>(v));
    }
    ext.push_back(std::move(ev));
  }
  if (cr.fill_lock) {
    const auto& l = *cr.fill_lock;
    ext.push_back({"yatagarasu_cache_fill_lock_total",
                   "Cross-instance fill locks by outcome: acquired (this instance fetched), hit "
                   "(waited for another instance and served its copy from Redis), fetched "
                   "(waited, then fetched itself), unavailable (Redis could not be asked).",
                   "counter",
                   {{"{outcome=\"acquired\"}", static_cast<double>(l.acquired.load())},
                    {"{outcome=\"hit\"}", static_cast<double>(l.hit.load())},
                    {"{outcome=\"fetched\"}", static_cast<double>(l.fetched.load())},
                    {"{outcome=\"unavailable\"}", static_cast<double>(l.unavailable.load())}}});
  }
  if (cr.purge_bus) {
    const auto& b = *cr.purge_bus;
    ext.push_back({"yatagarasu_redis_subscribed",
                   "1 while the purge channel subscription is live.",
                   "gauge",
                   {{"", b.subscribed() ? 1.0 : 0.0}}});
    ext.push_back({"yatagarasu_cache_purge_propagation_total",
                   "Admin purges sent to (published, publish_failed) and received from "
                   "(received, applied) the other instances sharing Redis.",
                   "counter",
                   {{"{direction=\"published\"}", static_cast<double>(b.published())},
                    {"{direction=\"publish_failed\"}", static_cast<double>(b.publish_failed())},
                    {"{direction=\"received\"}", static_cast<double>(b.received())},
                    {"{direction=\"applied\"}", static_cast<double>(b.applied())}}});
  }
}
}  // namespace

std::string render_metrics(const Shared& shared) {
  std::vector<obs::ExternalFamily> ext;
  const auto rt = shared.runtime.load();
  if (!rt->jwks_users.empty()) {
    obs::ExternalFamily fetches{"yatagarasu_jwks_fetches_total",
                                "JWKS fetches by JWT configuration (global or bucket) and result.",
                                "counter",
                                {}};
    obs::ExternalFamily refetch{"yatagarasu_jwks_refetches_total",
                                "JWKS refetches caused by a token naming an unknown kid.",
                                "counter",
                                {}};
    obs::ExternalFamily keys{"yatagarasu_jwks_keys", "Keys in the current JWK Set.", "gauge", {}};
    obs::ExternalFamily ready{"yatagarasu_jwks_ready",
                              "1 once a JWK Set was fetched (tokens needing it get 401 before).",
                              "gauge",
                              {}};
    for (const auto& [name, a] : rt->jwks_users) {
      const auto st = a->jwks()->stats();
      const std::string jwt = "jwt=\"" + obs::escape_label(name) + "\"";
      fetches.samples.emplace_back("{" + jwt + ",result=\"ok\"}",
                                   static_cast<double>(st.fetches_ok));
      fetches.samples.emplace_back("{" + jwt + ",result=\"failed\"}",
                                   static_cast<double>(st.fetches_failed));
      refetch.samples.emplace_back("{" + jwt + "}",
                                   static_cast<double>(st.refetches_on_unknown_kid));
      keys.samples.emplace_back("{" + jwt + "}", static_cast<double>(st.keys));
      ready.samples.emplace_back("{" + jwt + "}", st.ready ? 1.0 : 0.0);
    }
    for (auto* f : {&fetches, &refetch, &keys, &ready}) {
      ext.push_back(std::move(*f));
    }
  }
  {
    obs::ExternalFamily entries{"yatagarasu_authz_cache_entries",
                                "Decisions held in a bucket's authorization decision cache.",
                                "gauge",
                                {}};
    for (const auto& b : rt->buckets) {
      if (b.authz && b.authz->cache()) {
        entries.samples.emplace_back("{bucket=\"" + obs::escape_label(b.cfg->name) + "\"}",
                                     static_cast<double>(b.authz->cache()->size()));
      }
    }
    if (!entries.samples.empty()) {
      ext.push_back(std::move(entries));
    }
  }
  {
    // OPS-1: every replica breaker of the current configuration.
    obs::ExternalFamily state{"yatagarasu_circuit_breaker_state",
                              "Replica circuit breaker: 0 closed, 1 open, 2 half-open.",
                              "gauge",
                              {}};
    obs::ExternalFamily opened{
        "yatagarasu_circuit_breaker_opened_total",
        "Times a replica's breaker opened (kept across reloads that leave the replica as it was).",
        "counter",
        {}};
    const auto now = SteadyClock::now();
    for (const auto& b : rt->buckets) {
      for (const auto& r : b.replicas) {
        if (!r.breaker) {
          continue;
        }
        const std::string labels = "{bucket=\"" + obs::escape_label(b.cfg->name) + "\",replica=\"" +
                                   obs::escape_label(r.cfg->name) + "\"}";
        state.samples.emplace_back(labels, static_cast<double>(r.breaker->state(now)));
        opened.samples.emplace_back(labels, static_cast<double>(r.breaker->opened_total()));
      }
    }
    if (!state.samples.empty()) {
      ext.push_back(std::move(state));
      ext.push_back(std::move(opened));
    }
  }
  if (rt->ip_limit) {
    ext.push_back({"yatagarasu_rate_limit_tracked_clients",
                   "Client addresses holding a per-IP rate-limit bucket (at most "
                   "server.rate_limit.max_tracked_ips).",
                   "gauge",
                   {{"", static_cast<double>(rt->ip_limit->size())}}});
    ext.push_back({"yatagarasu_rate_limit_evictions_total",
                   "Per-IP buckets still in use dropped to stay within max_tracked_ips.",
                   "counter",
                   {{"", static_cast<double>(rt->ip_limit->evicted_active())}}});
  }
  ext.push_back({"yatagarasu_active_connections",
                 "Open client connections.",
                 "gauge",
                 {{"", static_cast<double>(shared.sessions.load())}}});
  ext.push_back({"yatagarasu_inflight_requests",
                 "Requests being handled (streams included; probes excluded).",
                 "gauge",
                 {{"", static_cast<double>(shared.inflight.load())}}});
  ext.push_back({"yatagarasu_log_lines_dropped_total",
                 "Log lines overwritten because the async log queue was full.",
                 "counter",
                 {{"", static_cast<double>(log::dropped())}}});
  if (shared.audit != nullptr) {
    // One lane per sink: a slow disk drops file lines without touching syslog's, and back.
    obs::ExternalFamily written{
        "yatagarasu_audit_records_written_total", "Audit lines written, by sink.", "counter", {}};
    obs::ExternalFamily dropped{"yatagarasu_audit_records_dropped_total",
                                "Audit lines dropped because the sink's queue was full.",
                                "counter",
                                {}};
    obs::ExternalFamily errors{"yatagarasu_audit_write_errors_total",
                               "Audit lines a sink failed to write (lost).",
                               "counter",
                               {}};
    obs::ExternalFamily queued{"yatagarasu_audit_queue_length",
                               "Audit lines waiting for the sink's writer thread.",
                               "gauge",
                               {}};
    for (const auto& st : shared.audit->sink_stats()) {
      const std::string label = "{sink=\"" + st.sink + "\"}";
      written.samples.emplace_back(label, static_cast<double>(st.written));
      dropped.samples.emplace_back(label, static_cast<double>(st.dropped));
      errors.samples.emplace_back(label, static_cast<double>(st.write_errors));
      queued.samples.emplace_back(label, static_cast<double>(st.queued));
    }
    for (auto* f : {&written, &dropped, &errors, &queued}) {
      ext.push_back(std::move(*f));
    }
  }
  if (shared.cache) {
    append_cache_families(*shared.cache, ext);
  }
  return obs::metrics().render(ext);
}

namespace {

boost::json::array histogram_json(const obs::Histogram::Snapshot& h) {
  boost::json::array a;
  for (auto c : h.counts) {
    a.push_back(c);
  }
  return a;
}

}  // namespace

boost::json::object stats_json(const Shared& shared) {
  const auto t = obs::metrics().totals();
  boost::json::object o;
  o["version"] = YG_VERSION;
  o["time_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(SysClock::now().time_since_epoch())
          .count();
  o["uptime_seconds"] = std::chrono::duration<double>(SteadyClock::now() - shared.started).count();
  o["config_generation"] = obs::metrics().config_generation();
  o["active_connections"] = shared.sessions.load();
  o["inflight_requests"] = shared.inflight.load();
  o["connections_accepted"] = t.connections_accepted;

  boost::json::array bounds;
  for (double b : obs::kLatencyBounds) {
    bounds.push_back(b);
  }
  o["latency_bounds_seconds"] = std::move(bounds);

  obs::Histogram::Snapshot all_duration, all_ttfb;
  uint64_t total = 0, bytes = 0;
  std::array<uint64_t, 6> classes{};  // index = status / 100
  boost::json::array buckets;
  for (const auto& b : t.buckets) {
    uint64_t n = 0, errors = 0;
    for (const auto& by_status : b.requests) {
      for (std::size_t k = 0; k < obs::kStatusSlots; ++k) {
        const unsigned code = k < obs::kStatusCodes.size() ? obs::kStatusCodes[k] : 599;
        n += by_status[k];
        classes[std::min<unsigned>(code / 100, 5)] += by_status[k];
        if (code >= 500) {
          errors += by_status[k];
        }
      }
    }
    total += n;
    bytes += b.bytes_sent;
    for (std::size_t i = 0; i < obs::Histogram::kBuckets; ++i) {
      all_duration.counts[i] += b.duration.counts[i];
      all_ttfb.counts[i] += b.ttfb.counts[i];
    }
    all_duration.count += b.duration.count;
    all_duration.sum_ns += b.duration.sum_ns;
    all_ttfb.count += b.ttfb.count;
    all_ttfb.sum_ns += b.ttfb.sum_ns;
    boost::json::object bo;
    bo["name"] = b.name;
    bo["requests"] = n;
    bo["server_errors"] = errors;
    bo["bytes_sent"] = b.bytes_sent;
    bo["aborted"] = b.aborted_by_client + b.aborted_by_upstream;
    buckets.push_back(std::move(bo));
  }
  o["requests_total"] = total;
  o["bytes_sent_total"] = bytes;
  boost::json::object by_class;
  for (unsigned c = 1; c <= 5; ++c) {
    by_class[std::to_string(c) + "xx"] = classes[c];
  }
  o["requests_by_class"] = std::move(by_class);
  o["request_duration"] = histogram_json(all_duration);
  o["time_to_first_byte"] = histogram_json(all_ttfb);
  o["buckets"] = std::move(buckets);

  boost::json::array replicas;
  for (const auto& r : t.replicas) {
    uint64_t responses = 0, errors = 0;
    for (auto v : r.responses) {
      responses += v;
    }
    boost::json::object eo;
    for (std::size_t k = 0; k < r.errors.size(); ++k) {
      errors += r.errors[k];
      eo[obs::to_string(static_cast<obs::UpstreamError>(k))] = r.errors[k];
    }
    boost::json::object ro;
    ro["bucket"] = r.bucket;
    ro["replica"] = r.replica;
    ro["responses"] = responses;
    ro["errors"] = errors;
    ro["errors_by_kind"] = std::move(eo);
    ro["latency"] = histogram_json(r.latency);
    replicas.push_back(std::move(ro));
  }
  o["replicas"] = std::move(replicas);

  boost::json::object rej;
  for (std::size_t k = 0; k < t.rejections.size(); ++k) {
    rej[obs::to_string(static_cast<obs::Rejection>(k))] = t.rejections[k];
  }
  o["rejections"] = std::move(rej);

  // Cache layers in lookup order (the page charts each layer's hit rate) and the replicas'
  // circuit breakers. The page says "not configured" for empty lists.
  boost::json::object cache;
  cache["enabled"] = shared.cache != nullptr;
  boost::json::array layers;
  if (shared.cache) {
    for (const auto& l : shared.cache->engine->layers()) {
      const auto st = l->stats();
      boost::json::object lo;
      lo["name"] = l->name();
      lo["hits"] = st.hits;
      lo["misses"] = st.misses;
      lo["items"] = st.items;
      lo["bytes"] = st.bytes;
      layers.push_back(std::move(lo));
    }
  }
  cache["layers"] = std::move(layers);
  o["cache"] = std::move(cache);
  boost::json::array breakers;
  {
    const auto rt = shared.runtime.load();
    const auto now = SteadyClock::now();
    for (const auto& b : rt->buckets) {
      for (const auto& r : b.replicas) {
        if (r.breaker) {
          boost::json::object bo;
          bo["bucket"] = b.cfg->name;
          bo["replica"] = r.cfg->name;
          bo["state"] = resilience::to_string(r.breaker->state(now));
          bo["opened_total"] = r.breaker->opened_total();
          breakers.push_back(std::move(bo));
        }
      }
    }
  }
  o["breakers"] = std::move(breakers);

  boost::json::array recent;
  for (const auto& e : obs::metrics().recent_errors()) {
    boost::json::object eo;
    eo["time_ms"] = e.unix_ms;
    eo["request_id"] = e.request_id;
    eo["bucket"] = e.bucket;
    eo["status"] = e.status;
    eo["what"] = e.what;
    recent.push_back(std::move(eo));
  }
  o["recent_errors"] = std::move(recent);

  const auto ps = obs::read_process_stats();
  boost::json::object proc;
  proc["resident_bytes"] = ps.resident_bytes;
  proc["open_fds"] = ps.open_fds;
  proc["cpu_seconds"] = ps.cpu_seconds;
  o["process"] = std::move(proc);
  if (shared.audit != nullptr) {
    const auto st = shared.audit->stats();
    boost::json::object a;
    a["written"] = st.written;
    a["dropped"] = st.dropped;
    a["write_errors"] = st.write_errors;
    a["queued"] = st.queued;
    o["audit"] = std::move(a);
  }
  return o;
}

}  // namespace yg::proxy
