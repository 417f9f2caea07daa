#include "proxy/cache_phase.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <ctime>
#include <limits>

#include "cache/disk_backend.h"
#include "cache/memory_backend.h"
#include "cache/policy.h"
#include "cache/redis_backend.h"
#include "core/log.h"
#include "net/sendfile.h"
#include "proxy/conditional.h"
#include "proxy/error_response.h"
#include "proxy/http_util.h"
#include "proxy/range.h"
#include "proxy/respond.h"
#include "proxy/upstream.h"
#include "router/path.h"

namespace yg::proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr int kMaxRounds = 4;  // lookups per request: a follower re-checks after each flight
constexpr uint64_t kMiB = 1024 * 1024;
constexpr std::chrono::seconds kRevalidationWindow{3600};

// asio::async_write's default condition moves at most 64 KiB per write call; a hit is one
// gather write of head + body, so let the kernel take all of it at once.
struct TransferAllAtOnce {
  std::size_t operator()(const boost::system::error_code& ec, std::size_t) const {
    return ec ? 0 : std::numeric_limits<std::size_t>::max() / 2;
  }
};

bool cache_enabled_for(const Exchange& ex) {
  const auto& bc = ex.bucket->cfg->cache;
  const bool global = ex.runtime->config.cache.enabled;
  return bc && bc->enabled ? *bc->enabled && global : global;
}

// The bucket's TTL and item limit; the limit never exceeds what the layers were built with.
cache::StorePolicy policy_for(const Exchange& ex, const CacheRuntime& cr) {
  const auto& g = ex.runtime->config.cache.memory;
  const auto& bc = ex.bucket->cfg->cache;
  cache::StorePolicy p;
  p.ttl = std::chrono::seconds(bc && bc->ttl_seconds ? *bc->ttl_seconds : g.default_ttl_seconds);
  const uint64_t layer_limit = cr.cfg.memory.max_item_size_mb * kMiB;
  p.max_item_bytes =
      (bc && bc->max_item_size_mb ? *bc->max_item_size_mb : g.max_item_size_mb) * kMiB;
  p.max_item_bytes = std::min(p.max_item_bytes, layer_limit);
  return p;
}

// The query the cache keys on: versionId only. Anything else S3 would act on (response-*
// overrides) changes the answer: such requests bypass the cache.
// A versionId given twice or empty also bypasses: the key must name exactly what S3 is asked
// for (S3 gets the first occurrence), or one version could be stored under another's key.
std::optional<std::string_view> cacheable_version(const Exchange& ex) {
  std::optional<std::string_view> version;
  for (const auto& [k, v] : ex.query) {
    if (k == "versionId") {
      if (version || v.empty()) {
        return std::nullopt;
      }
      version = v;
    } else if (k.starts_with("response-")) {
      return std::nullopt;
    }
  }
  return version.value_or(std::string_view{});
}

bool has_conditionals(const net::RequestHead& h) {
  for (auto f : {http::field::if_match, http::field::if_none_match, http::field::if_modified_since,
                 http::field::if_unmodified_since}) {
    if (h.fields.find(f) != h.fields.end()) {
      return true;
    }
  }
  return false;
}

// A GET whose answer is the whole object as S3 has it: the only kind that fills the cache.
bool is_plain_get(const net::RequestHead& h) {
  return h.method == http::verb::get && !has_conditionals(h) &&
         h.fields.find(http::field::range) == h.fields.end() &&
         h.fields.find(http::field::if_range) == h.fields.end();
}

// Calls f(name, value) for each "Name: value\r\n" line of a stored header block.
template <class F>
void for_each_line(std::string_view block, F f) {
  while (!block.empty()) {
    const auto eol = block.find("\r\n");
    const std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view{} : block.substr(eol + 2);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      f(line.substr(0, colon), trim_ows(line.substr(colon + 1)));
    }
  }
}

void append_line(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_number(std::string& out, std::string_view name, uint64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  append_line(out, name, std::string_view(buf, static_cast<std::size_t>(p - buf)));
}

// The response head for a cached object: status line, the per-response headers, the stored
// header block as it was serialized at fill time, validators, framing, Age and X-Cache.
std::string hit_head(const Exchange& ex, const cache::Meta& m, http::status status, CacheStatus cs,
                     bool keep_alive, bool with_entity_headers) {
  std::string h;
  h.reserve(256 + m.footprint());
  const unsigned version = ex.head->version;
  h.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  h.append(std::to_string(static_cast<unsigned>(status))).append(" ");
  h.append(http::obsolete_reason(status)).append("\r\n");
  append_line(h, "Date", http_date_now());
  append_line(h, "Server", "yatagarasu");
  append_line(h, "X-Request-ID", ex.request_id);
  if (with_entity_headers) {
    h.append(m.headers);
  } else {
    // A 304 carries the headers a 200 would for caches (RFC 9110 15.4.5), not the entity ones.
    for_each_line(m.headers, [&](std::string_view name, std::string_view value) {
      if (iequals_ascii(name, "expires") || iequals_ascii(name, "vary")) {
        append_line(h, name, value);
      }
    });
  }
  const bool protect = ex.bucket->auth || ex.bucket->authz;
  if (protect) {
    append_line(h, "Cache-Control", private_cache_control(m.cache_control));
  } else if (!m.cache_control.empty()) {
    append_line(h, "Cache-Control", m.cache_control);
  }
  if (!m.etag.empty()) {
    append_line(h, "ETag", m.etag);
  }
  if (!m.last_modified.empty()) {
    append_line(h, "Last-Modified", m.last_modified);
  }
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(SysClock::now() - m.stored);
  append_number(h, "Age", static_cast<uint64_t>(std::max<int64_t>(0, age.count())));
  append_line(h, "X-Cache", to_string(cs));
  if (!keep_alive && version == 11) {
    append_line(h, "Connection", "close");
  } else if (keep_alive && version == 10) {
    append_line(h, "Connection", "keep-alive");
  }
  return h;
}

asio::awaitable<bool> write_error_from_cache(net::ClientStream& stream, Exchange& ex,
                                             const Error& e, bool keep_alive,
                                             std::string_view content_range = {}) {
  auto res = make_error_response(e, ex.request_id, ex.head->version, keep_alive, ex.head_only);
  res.set("X-Cache", to_string(ex.cache_status));
  if (!content_range.empty()) {
    res.set(http::field::content_range, content_range);
  }
  ex.error = e.message();
  co_return co_await write_response(stream, ex, res) && keep_alive;
}

// sendfile(2) writes file bytes to the socket as they are: never on a TLS connection, whose
// disk hits are read like small ones (the same bytes, encrypted on the way out).
bool will_sendfile(const CacheRuntime& cr, uint64_t size, const net::ClientStream& stream) {
  const auto& sf = cr.cfg.disk.sendfile;
  return sf.enabled && size >= sf.threshold_bytes && !stream.tls();
}

// Writes a cached object (CACHE-2, CACHE-6): conditionals, then HEAD / range / full body.
asio::awaitable<bool> serve_hit(net::ClientStream& stream, Exchange& ex, const CacheRuntime& cr,
                                cache::Hit hit, CacheStatus cs, bool keep_alive) {
  ex.cache_status = cs;
  const cache::Meta& m = hit.meta();
  const net::RequestHead& h = *ex.head;

  // Most hits carry no conditionals: skip the date parsing and list matching then.
  Precondition pre = Precondition::Proceed;
  if (has_conditionals(h)) {
    std::optional<SysTime> last_modified;
    if (!m.last_modified.empty()) {
      last_modified = parse_http_date(m.last_modified);
    }
    pre = evaluate_preconditions(h.fields, m.etag, last_modified);
  }
  if (pre == Precondition::Failed) {
    co_return co_await write_error_from_cache(
        stream, ex, Error::of(errc::precondition_failed, Source::Downstream), keep_alive);
  }
  if (pre == Precondition::NotModified) {
    std::string head = hit_head(ex, m, http::status::not_modified, cs, keep_alive, false);
    head.append("\r\n");
    ex.status = 304;
    ex.mark_first_byte();
    stream.expires_after(kSendTimeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(head), use_tuple);
    co_return !ec && keep_alive;
  }

  // Ranges (RFC 9110 14): one satisfiable range -> 206; none -> 416; several -> the whole
  // object, as on a miss. If-Range with another validator -> the whole object.
  uint64_t first = 0;
  uint64_t length = m.size;
  http::status status = http::status::ok;
  std::string range_header;
  if (auto range = field_value(h.fields, http::field::range); !range.empty() && !ex.head_only) {
    const auto if_range = field_value(h.fields, http::field::if_range);
    const bool range_applies =
        if_range.empty() ||
        (!m.etag.empty() && if_range == m.etag && !if_range.starts_with("W/")) ||
        (!m.last_modified.empty() && if_range == m.last_modified);
    auto specs = range_applies ? parse_range(range) : std::nullopt;
    if (specs) {
      auto ranges = resolve_ranges(*specs, m.size);
      if (ranges.empty()) {
        co_return co_await write_error_from_cache(
            stream, ex, Error::of(errc::range_not_satisfiable, Source::Downstream), keep_alive,
            content_range_unsatisfied(m.size));
      }
      if (ranges.size() == 1) {
        first = ranges[0].first;
        length = ranges[0].last - ranges[0].first + 1;
        status = http::status::partial_content;
        range_header = content_range(ranges[0], m.size);
      }
    }
  }

  std::string head = hit_head(ex, m, status, cs, keep_alive, true);
  if (!range_header.empty()) {
    append_line(head, "Content-Range", range_header);
  }
  append_number(head, "Content-Length", length);
  head.append("\r\n");
  ex.status = static_cast<unsigned>(status);
  ex.mark_first_byte();
  stream.expires_after(kSendTimeout);

  if (ex.head_only || length == 0) {
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(head), use_tuple);
    co_return !ec && keep_alive;
  }

  if (hit.file) {
    if (will_sendfile(cr, m.size, stream)) {
      // CACHE-3: a disk hit goes file -> socket without passing through user space.
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(head), use_tuple);
      if (ec) {
        ex.aborted_by_client = true;
        co_return false;
      }
      uint64_t moved = 0;
      const auto out = co_await net::sendfile_to(
          stream.socket(), hit.file->fd(), hit.file->offset() + first, length, kSendTimeout, moved);
      ex.bytes_sent += moved;
      if (out == net::SendfileOutcome::Done) {
        co_return keep_alive;
      }
      if (out == net::SendfileOutcome::ReadFailed) {
        // The head promised more bytes than we can send: cut the connection so the client
        // never takes the short body for the whole object.
        ex.aborted_by_upstream = true;
        log::get("cache")->error("request_id={} disk cache file ended early after {} of {} bytes",
                                 ex.request_id, moved, length);
        stream.abort();
      } else {
        ex.aborted_by_client = true;
      }
      co_return false;
    }
    // Small (or sendfile off): read on the engine's threads, then one gather write.
    auto loaded = co_await cr.engine->load_body(hit);
    if (!loaded) {
      co_return co_await write_error_from_cache(
          stream, ex, Error::of(errc::internal, Source::Internal), keep_alive);
    }
    hit.entry = std::move(loaded);
    hit.file.reset();
  }

  const std::string& body = hit.entry->body;
  const std::array<asio::const_buffer, 2> bufs{asio::buffer(head),
                                               asio::buffer(body.data() + first, length)};
  auto [ec, n] = co_await asio::async_write(stream, bufs, TransferAllAtOnce{}, use_tuple);
  if (ec) {
    ex.aborted_by_client = true;
    ex.bytes_sent += n > head.size() ? n - head.size() : 0;
    co_return false;
  }
  ex.bytes_sent += length;
  co_return keep_alive;
}

// RFC 9111 4.3.4: a 304 to our revalidation renews the stored copy's freshness from the new
// answer's Cache-Control / Expires / Date (S3's own headers when the 304 has none).
cache::EntryPtr refreshed(const cache::Entry& old, const FetchPlan& plan,
                          const cache::StorePolicy& policy, SysTime now) {
  cache::ResponseFacts facts;
  facts.method = "GET";
  facts.status = 200;
  facts.cache_control = plan.nm_cache_control.empty() ? std::string_view(old.meta.cache_control)
                                                      : std::string_view(plan.nm_cache_control);
  std::string stored_expires;
  for_each_line(old.meta.headers, [&](std::string_view name, std::string_view value) {
    if (iequals_ascii(name, "expires")) {
      stored_expires = value;
    }
  });
  // The 304's own headers win; without them the stored ones still hold (RFC 9111 4.3.4).
  facts.expires = plan.nm_expires.empty() && plan.nm_cache_control.empty()
                      ? std::string_view(stored_expires)
                      : std::string_view(plan.nm_expires);
  facts.date = plan.nm_date;
  facts.content_length = old.meta.size;
  const auto d = cache::decide(facts, policy);
  auto e = std::make_shared<cache::Entry>(old);
  e->meta.stored = now;
  e->meta.expires = d.store() ? now + d.ttl : now;
  if (!plan.nm_cache_control.empty()) {
    e->meta.cache_control = plan.nm_cache_control;
  }
  return e;
}

}  // namespace

std::shared_ptr<CacheRuntime> make_cache_runtime(const config::Config& cfg) {
  const auto& c = cfg.cache;
  if (!c.enabled) {
    return nullptr;
  }
  auto cr = std::make_shared<CacheRuntime>();
  cr->cfg = c;
  // Expired entries are kept for revalidation (If-None-Match) at least kRevalidationWindow, and
  // for stale-if-error as long as its grace.
  cr->stale_grace = std::chrono::seconds(c.stale_if_error_seconds);
  const auto grace = std::max<std::chrono::seconds>(cr->stale_grace, kRevalidationWindow);
  const uint64_t item = c.memory.max_item_size_mb * kMiB;
  std::vector<cache::BackendPtr> layers;
  for (const auto& name : c.cache_layers) {
    if (name == "memory") {
      cache::MemoryBackendOptions o;
      o.capacity_bytes = c.memory.max_cache_size_mb * kMiB;
      o.max_item_bytes = item;
      o.stale_grace = grace;
      layers.push_back(std::make_shared<cache::MemoryBackend>(o));
    } else if (name == "disk") {
      cache::DiskBackendOptions o;
      o.dir = c.disk.cache_dir;
      o.capacity_bytes = c.disk.max_disk_cache_size_mb * kMiB;
      o.max_item_bytes = item;
      o.stale_grace = grace;
      o.fsync = c.disk.fsync;
      // What would not be sent with sendfile is read by the disk layer's own hit task.
      const auto& sf = c.disk.sendfile;
      o.inline_body_bytes = !sf.enabled              ? item
                            : sf.threshold_bytes > 0 ? sf.threshold_bytes - 1
                                                     : 0;
      auto disk = cache::DiskBackend::open(o);
      const auto& r = disk->startup_report();
      log::get("cache")->info(
          "disk cache {}: {} entries loaded in {:.3f} s ({} torn, {} orphan, {} expired files "
          "removed)",
          c.disk.cache_dir, r.loaded, r.seconds, r.torn_removed, r.orphans_removed,
          r.expired_removed);
      layers.push_back(std::move(disk));
    } else if (name == "redis") {
      cr->redis = redis::Client::create(redis_client_options(c.redis));
      cache::RedisBackendOptions o;
      o.client = cr->redis;
      o.key_prefix = c.redis.redis_key_prefix;
      o.max_ttl = std::chrono::seconds(c.redis.redis_ttl_seconds);
      o.max_item_bytes = std::min<uint64_t>(item, c.redis.max_value_size_mb * kMiB);
      o.stale_grace = grace;
      const auto& ro = cr->redis->options();
      log::get("cache")->info("redis layer: {} {} node(s), first {}, db {}, prefix '{}'{}",
                              ro.cluster ? "cluster with" : "standalone,", ro.nodes.size(),
                              ro.nodes.front().to_string(), ro.db, o.key_prefix,
                              ro.tls ? ", TLS" : "");
      layers.push_back(std::make_shared<cache::RedisBackend>(std::move(o)));
    }
  }
  cr->engine = std::make_unique<cache::TieredCache>(std::move(layers));
  if (cr->redis && c.redis.purge_propagation) {
    cr->purge_bus = std::make_unique<PurgeBus>(cr->redis, c.redis, *cr->engine);
  }
  if (cr->redis && c.redis.fill_lock_ms > 0) {
    cr->fill_lock = std::make_unique<FillLock>(cr->redis, c.redis.redis_key_prefix,
                                               std::chrono::milliseconds(c.redis.fill_lock_ms));
  }
  // Fills in progress may hold a quarter of the memory budget (at least 64 MiB and a few items,
  // at most 1 GiB): beyond that, answers stream through uncached.
  cr->fill_budget.limit =
      std::max<uint64_t>({64 * kMiB, 4 * item,
                          std::min<uint64_t>(c.memory.max_cache_size_mb * kMiB / 4, 1024 * kMiB)});
  return cr;
}

namespace {

// Another instance holds the fill lock on `key`: look the key up until it appears (fresh), the
// lock goes away, or `until`. nullopt: fetch it ourselves.
asio::awaitable<std::optional<cache::Lookup>> wait_for_other_instance(
    CacheRuntime& cr, std::string key, SteadyClock::time_point until) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto pause = std::chrono::milliseconds(5);
  while (SteadyClock::now() < until) {
    timer.expires_after(std::min<SteadyClock::duration>(pause, until - SteadyClock::now()));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::milliseconds(50));
    const bool still_held = co_await cr.fill_lock->held(key);
    const auto now = SysClock::now();
    auto found = co_await cr.engine->get(key, now);
    if (found && !found->hit.file && found->hit.meta().fresh(now)) {
      co_return found;
    }
    if (!still_held) {
      break;  // the holder gave up (or finished without storing)
    }
  }
  co_return std::nullopt;
}

asio::awaitable<void> release_fill_lock(FillLock* lock, std::string key, std::string token) {
  co_await lock->release(std::move(key), std::move(token));
}

}  // namespace

asio::awaitable<bool> serve_via_cache(net::ClientStream& stream, Exchange& ex, Worker& w,
                                      bool keep_alive) {
  ex.cache_step = true;
  CacheRuntime* cr = w.shared.cache.get();
  const auto version = cacheable_version(ex);
  if (cr == nullptr || !cache_enabled_for(ex) || !version) {
    ex.cache_status = CacheStatus::Bypass;
    co_return co_await proxy_to_s3(stream, ex, w, keep_alive);
  }
  const net::RequestHead& h = *ex.head;
  const std::string key = cache::cache_key(ex.bucket->cfg->name, ex.key, *version);
  const bool plain = is_plain_get(h);
  const bool coalesce = ex.runtime->config.server.coalescing;

  std::optional<cache::Lookup> found;
  cache::Permit permit;
  for (int round = 0;; ++round) {
    const auto now = SysClock::now();
    found = co_await cr->engine->get(key, now);
    if (found && found->hit.file && !will_sendfile(*cr, found->hit.meta().size, stream)) {
      // Small disk hits are served from memory: read now, and a file that cannot be read is a
      // miss rather than an error.
      if (auto loaded = co_await cr->engine->load_body(found->hit)) {
        found->hit.entry = std::move(loaded);
        found->hit.file.reset();
      } else {
        found.reset();
      }
    }
    if (found && found->hit.meta().fresh(now)) {
      co_return co_await serve_hit(stream, ex, *cr, std::move(found->hit), CacheStatus::Hit,
                                   keep_alive);
    }
    if (!coalesce || round + 1 >= kMaxRounds) {
      break;
    }
    // CACHE-7: a plain GET leads a fill or follows the one in progress; other requests (HEAD,
    // ranges, conditionals) cannot fill but may wait for one.
    std::shared_ptr<cache::Flight> flight;
    if (plain) {
      auto j = cr->coalescer.join(key);
      if (j.lead) {
        permit = std::move(j.lead);
        break;
      }
      flight = std::move(j.follow);
    } else {
      flight = cr->coalescer.find(key);
      if (!flight) {
        break;
      }
    }
    // Wait at most half of what is left of the request's budget: a leader streaming to a slow
    // client must not make its followers time out; past that they fetch on their own.
    const auto left = ex.deadline - SteadyClock::now();
    const auto outcome = co_await flight->wait(SteadyClock::now() + left / 2);
    if (outcome == cache::FlightOutcome::Stored) {
      ++cr->coalesced_hit;
      continue;  // look up again: the fill is there
    }
    if (outcome == cache::FlightOutcome::Failed) {
      continue;  // the leader gave up: look again, perhaps lead
    }
    if (outcome == cache::FlightOutcome::Pending) {
      ++cr->coalesced_timeout;
    } else {
      ++cr->coalesced_released;
    }
    break;
  }

  // A true miss this instance leads: other instances sharing Redis may be fetching it already.
  std::string lock_token;
  if (permit && !found && cr->fill_lock) {
    auto a = co_await cr->fill_lock->acquire(key);
    if (a.state == FillLock::State::Acquired) {
      lock_token = std::move(a.token);
    } else if (a.state == FillLock::State::Held) {
      const auto left = ex.deadline - SteadyClock::now();
      const auto until =
          SteadyClock::now() + std::min<SteadyClock::duration>(left / 2, cr->fill_lock->ttl());
      if (auto other = co_await wait_for_other_instance(*cr, key, until)) {
        ++cr->fill_lock->hit;
        permit.finish(cache::FlightOutcome::Stored);
        co_return co_await serve_hit(stream, ex, *cr, std::move(other->hit), CacheStatus::Hit,
                                     keep_alive);
      }
      ++cr->fill_lock->fetched;
    }
  }

  // Miss, or an expired copy (kept for revalidation and stale-if-error): ask S3.
  const bool stale = found.has_value();
  Fill fill;
  FetchPlan plan;
  // RFC 9111 4.2.4: must-revalidate, proxy-revalidate and s-maxage forbid serving stale.
  if (stale) {
    const auto cc = cache::parse_cache_control(found->hit.meta().cache_control);
    plan.defer_errors = !cc.must_revalidate && !cc.proxy_revalidate && !cc.s_maxage;
  }
  if (plain) {
    fill.policy = policy_for(ex, *cr);
    fill.budget = &cr->fill_budget;
    fill.now = SysClock::now();
    // Not storable: release the followers at once rather than after the whole body.
    fill.on_head = [&permit, &lock_token, cr, &key, exec = stream.get_executor()](bool storable) {
      if (!storable) {
        permit.finish(cache::FlightOutcome::NotStored);
        if (!lock_token.empty()) {
          // Instances waiting on our lock fetch for themselves now, not at its expiry.
          asio::co_spawn(exec, release_fill_lock(cr->fill_lock.get(), key, std::move(lock_token)),
                         asio::detached);
          lock_token.clear();
        }
      }
    };
    plan.fill = &fill;
    if (stale && !found->hit.meta().etag.empty()) {
      plan.if_none_match = found->hit.meta().etag;
    }
  }
  ex.cache_status = CacheStatus::Miss;
  const bool again = co_await proxy_to_s3(stream, ex, w, keep_alive, &plan);

  switch (plan.result) {
    case FetchPlan::Result::NotModified: {
      // CACHE-8: S3 confirmed the expired copy; renew it and serve it.
      cache::Hit hit = std::move(found->hit);
      if (hit.file) {
        auto loaded = co_await cr->engine->load_body(hit);
        if (loaded) {
          hit.entry = std::move(loaded);
          hit.file.reset();
        }
      }
      if (!hit.file) {
        hit.entry = refreshed(*hit.entry, plan, fill.policy, SysClock::now());
        const bool stored = co_await cr->engine->put(key, hit.entry);
        permit.finish(stored ? cache::FlightOutcome::Stored : cache::FlightOutcome::NotStored);
      }
      co_return co_await serve_hit(stream, ex, *cr, std::move(hit), CacheStatus::Revalidated,
                                   keep_alive);
    }
    case FetchPlan::Result::Failed:
      // CACHE-8: S3 failed. Within the stale grace the expired copy is served; past it (it was
      // kept only for revalidation) the client gets the error S3's failure means.
      permit.finish(cache::FlightOutcome::NotStored);
      if (SysClock::now() >= found->hit.meta().expires + cr->stale_grace) {
        const Error e = plan.error ? *plan.error : Error::of(errc::upstream_unreachable);
        ex.cache_status = CacheStatus::Miss;
        co_return co_await write_error_from_cache(stream, ex, e, keep_alive);
      }
      log::get("cache")->warn("request_id={} bucket={} S3 failed ({}); serving a stale copy",
                              ex.request_id, ex.bucket->cfg->name,
                              plan.error ? plan.error->message() : std::string("error"));
      ex.error.clear();
      co_return co_await serve_hit(stream, ex, *cr, std::move(found->hit), CacheStatus::Stale,
                                   keep_alive);
    case FetchPlan::Result::Responded:
      break;
  }
  if (fill.meta && fill.complete) {
    auto e = std::make_shared<cache::Entry>();
    e->meta = std::move(*fill.meta);
    e->body = std::move(fill.body);
    // Holding the cross-instance fill lock: the other instances wait for the object in Redis, so
    // it is written there before the lock goes (not through the background queue).
    const bool stored =
        co_await cr->engine->put(key, std::move(e),
                                 lock_token.empty() ? cache::TieredCache::Write::Behind
                                                    : cache::TieredCache::Write::Through);
    ++cr->fills_committed;
    permit.finish(stored ? cache::FlightOutcome::Stored : cache::FlightOutcome::NotStored);
    if (!lock_token.empty()) {
      co_await cr->fill_lock->release(key, std::move(lock_token));
    }
  } else {
    if (!lock_token.empty()) {
      co_await cr->fill_lock->release(key, std::move(lock_token));  // nothing for waiters to find
    }
    if (fill.meta) {
      ++cr->fills_aborted;  // never stored: the body was incomplete or the client left
      permit.finish(cache::FlightOutcome::Failed);
    } else {
      if (plain && fill.refused != cache::NoStoreReason::None) {
        ++cr->fills_refused;
      }
      permit.finish(cache::FlightOutcome::NotStored);
      if (stale && (ex.status == 404 || (ex.status == 200 && plain))) {
        // Gone from S3, or replaced by an answer that may not be stored: the old copy must not
        // be served later (as STALE or after a revalidation).
        co_await cr->engine->remove(key);
      }
    }
  }
  co_return again;
}

}  // namespace yg::proxy

namespace yg::proxy {
namespace {

std::string rfc3339(SysTime t) {
  const std::time_t tt = SysClock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

boost::json::object layer_json(const cache::LayerStats& s) {
  boost::json::object o;
  o["hits"] = s.hits;
  o["misses"] = s.misses;
  o["inserts"] = s.inserts;
  o["rejected"] = s.rejected;
  o["evictions"] = s.evictions;
  o["expirations"] = s.expirations;
  o["removals"] = s.removals;
  o["errors"] = s.errors;
  o["items"] = s.items;
  o["bytes"] = s.bytes;
  o["capacity_bytes"] = s.capacity_bytes;
  return o;
}

// Copies the counts: a coroutine must not hold a pointer into a Totals snapshot across a
// suspension it does not own.
asio::awaitable<boost::json::object> bucket_json(const CacheRuntime* cr,
                                                 std::array<uint64_t, obs::kCacheResults> counts,
                                                 std::string name) {
  boost::json::object o;
  for (std::size_t k = 0; k < obs::kCacheResults; ++k) {
    o[obs::kCacheResultNames[k]] = counts[k];
  }
  boost::json::object layers;
  if (cr != nullptr) {
    const auto prefix = cache::bucket_prefix(name);
    for (const auto& l : cr->engine->layers()) {
      const auto u = co_await l->usage(prefix);
      boost::json::object lo;
      lo["items"] = u.items;
      lo["bytes"] = u.bytes;
      layers[l->name()] = std::move(lo);
    }
  }
  o["layers"] = std::move(layers);
  co_return o;
}

std::array<uint64_t, obs::kCacheResults> bucket_counts(const obs::Totals& t,
                                                       std::string_view name) {
  for (const auto& b : t.buckets) {
    if (b.name == name) {
      return b.cache;
    }
  }
  return {};
}

boost::json::object purge_json(std::string_view scope, const cache::LayerCounts& counts) {
  boost::json::object o;
  o["scope"] = scope;
  boost::json::object purged;
  uint64_t total = 0;
  for (const auto& [layer, n] : counts) {
    purged[layer] = n;
    total += n;
  }
  o["purged"] = std::move(purged);
  o["total"] = total;
  return o;
}

asio::awaitable<bool> reply_error(net::ClientStream& stream, Exchange& ex, errc code,
                                  bool keep_alive) {
  auto res = make_error_response(Error::of(code, Source::Downstream), ex.request_id,
                                 ex.head->version, keep_alive, ex.head_only);
  ex.error = Error::of(code).message();
  co_return co_await write_response(stream, ex, res) && keep_alive;
}

}  // namespace

namespace {
asio::awaitable<void> purge_buckets(CacheRuntime& c, std::vector<std::string> names) {
  for (const auto& n : names) {
    co_await c.engine->remove_prefix(cache::bucket_prefix(n));
  }
}
}  // namespace

std::vector<std::string> purge_changed_origins(CacheRuntime& cr, const Runtime& before,
                                               const Runtime& after) {
  auto origin = [](const config::BucketConfig& b) {
    std::vector<std::string> o;
    for (const auto& r : b.s3.replicas) {
      o.push_back(r.endpoint + '\n' + r.region + '\n' + r.bucket);
    }
    return o;
  };
  std::vector<std::string> changed;
  for (const auto& nb : after.config.buckets) {
    for (const auto& ob : before.config.buckets) {
      if (ob.name == nb.name && origin(ob) != origin(nb)) {
        changed.push_back(nb.name);
      }
    }
  }
  if (changed.empty()) {
    return changed;
  }
  asio::io_context io;
  // Stopped when done: the Redis layer's pooled connections on this context would keep run()
  // waiting forever.
  asio::co_spawn(io, purge_buckets(cr, changed), [&io](std::exception_ptr) { io.stop(); });
  io.run();
  return changed;
}

asio::awaitable<boost::json::object> cache_stats_json(const CacheRuntime* cr,
                                                      std::shared_ptr<const Runtime> rt) {
  boost::json::object o;
  o["enabled"] = cr != nullptr;
  boost::json::object layers;
  if (cr != nullptr) {
    for (const auto& l : cr->engine->layers()) {
      if (l->shared()) {
        co_await l->usage("");  // a shared layer's items/bytes come from a walk of its keys
      }
      auto lj = layer_json(l->stats());
      lj["position"] = layers.size();
      layers[l->name()] = std::move(lj);
    }
    boost::json::object q;
    q["pending"] = cr->engine->write_queue_pending();
    q["dropped"] = cr->engine->write_queue_dropped();
    o["write_queue"] = std::move(q);
    o["promotions"] = cr->engine->promotions();
    o["coalesced"] =
        cr->coalesced_hit.load() + cr->coalesced_released.load() + cr->coalesced_timeout.load();
    boost::json::object fills;
    fills["committed"] = cr->fills_committed.load();
    fills["aborted"] = cr->fills_aborted.load();
    fills["refused"] = cr->fills_refused.load();
    o["fills"] = std::move(fills);
  }
  o["layers"] = std::move(layers);
  const auto totals = obs::metrics().totals();
  boost::json::object buckets;
  for (const auto& b : rt->buckets) {
    buckets[b.cfg->name] =
        co_await bucket_json(cr, bucket_counts(totals, b.cfg->name), b.cfg->name);
  }
  o["buckets"] = std::move(buckets);
  co_return o;
}

asio::awaitable<std::optional<bool>> serve_cache_admin(net::ClientStream& stream, Exchange& ex,
                                                       Worker& w, std::string_view path,
                                                       bool keep_alive) {
  CacheRuntime* cr = w.shared.cache.get();
  const bool post = ex.head->method == http::verb::post;
  const auto& rt = *ex.runtime;
  auto known_bucket = [&](std::string_view name) {
    for (const auto& b : rt.buckets) {
      if (b.cfg->name == name) {
        return true;
      }
    }
    return false;
  };

  constexpr std::string_view kPurge = "/admin/cache/purge";
  constexpr std::string_view kStats = "/admin/cache/stats";
  if (path == kPurge || path.starts_with(std::string(kPurge) + "/")) {
    if (!post) {
      co_return co_await reply_error(stream, ex, errc::method_not_allowed, keep_alive);
    }
    std::string_view rest = path.substr(kPurge.size());
    if (!rest.empty()) {
      rest.remove_prefix(1);
    }
    std::string bucket, key;
    if (path.ends_with("/") || path.find("//") != std::string_view::npos) {
      // "/purge/" or "/purge/b/" must not widen to everything or a whole bucket.
      co_return co_await reply_error(stream, ex, errc::bad_request, keep_alive);
    }
    if (!rest.empty()) {
      auto decoded = router::decode_path("/" + std::string(rest));
      if (!decoded) {
        co_return co_await reply_error(stream, ex, errc::bad_path, keep_alive);
      }
      std::string_view d = std::string_view(*decoded).substr(1);
      const auto slash = d.find('/');
      bucket = d.substr(0, slash);
      if (slash != std::string_view::npos) {
        key = d.substr(slash + 1);
      }
    }
    std::string prefix;
    std::string_view scope = "all";
    if (!bucket.empty() && !key.empty()) {
      prefix = cache::cache_key(bucket, key);  // and its versions ("...?v=")
      scope = "object";
    } else if (!bucket.empty()) {
      prefix = cache::bucket_prefix(bucket);
      scope = "bucket";
    }
    cache::LayerCounts counts;
    if (cr != nullptr) {
      counts = co_await cr->engine->remove_prefix(prefix);
      if (cr->purge_bus) {
        co_await cr->purge_bus->publish(prefix);  // the other instances' memory and disk layers
      }
    }
    auto o = purge_json(scope, counts);
    if (!bucket.empty()) {
      o["bucket"] = bucket;
    }
    if (!key.empty()) {
      o["key"] = key;
    }
    log::get("cache")->info("request_id={} cache purge scope={} bucket={} key={}: {} removed",
                            ex.request_id, scope, bucket, key, o["total"].as_uint64());
    co_return co_await serve_json(stream, ex, http::status::ok, o, keep_alive);
  }
  if (post) {
    co_return co_await reply_error(stream, ex, errc::method_not_allowed, keep_alive);
  }
  if (path == kStats) {
    auto o = co_await cache_stats_json(cr, ex.runtime);
    co_return co_await serve_json(stream, ex, http::status::ok, o, keep_alive);
  }
  if (path.starts_with(std::string(kStats) + "/")) {
    const std::string bucket(path.substr(kStats.size() + 1));
    if (!known_bucket(bucket)) {
      co_return co_await reply_error(stream, ex, errc::no_route, keep_alive);
    }
    const auto totals = obs::metrics().totals();
    auto o = co_await bucket_json(cr, bucket_counts(totals, bucket), bucket);
    o["bucket"] = bucket;
    co_return co_await serve_json(stream, ex, http::status::ok, o, keep_alive);
  }
  if (path == "/admin/cache/info") {
    std::string_view spec;
    for (const auto& [k, v] : ex.query) {
      if (k == "key") {
        spec = v;
      }
    }
    const auto colon = spec.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == spec.size()) {
      co_return co_await reply_error(stream, ex, errc::bad_request, keep_alive);
    }
    const std::string bucket(spec.substr(0, colon));
    const std::string key(spec.substr(colon + 1));
    boost::json::object layers;
    if (cr != nullptr) {
      const auto now = SysClock::now();
      const std::string ck = cache::cache_key(bucket, key);
      for (const auto& l : cr->engine->layers()) {
        auto hit = co_await l->get(ck, now);
        if (!hit) {
          continue;
        }
        const auto& m = hit->meta();
        boost::json::object lo;
        lo["size"] = m.size;
        lo["etag"] = m.etag;
        lo["last_modified"] = m.last_modified;
        lo["cache_control"] = m.cache_control;
        lo["stored"] = rfc3339(m.stored);
        lo["expires"] = rfc3339(m.expires);
        lo["fresh"] = m.fresh(now);
        layers[l->name()] = std::move(lo);
      }
    }
    if (layers.empty()) {
      co_return co_await reply_error(stream, ex, errc::not_found, keep_alive);
    }
    boost::json::object o;
    o["bucket"] = bucket;
    o["key"] = key;
    o["layers"] = std::move(layers);
    co_return co_await serve_json(stream, ex, http::status::ok, o, keep_alive);
  }
  co_return std::nullopt;
}

}  // namespace yg::proxy
