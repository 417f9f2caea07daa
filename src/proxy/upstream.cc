#include "proxy/upstream.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <memory>
#include <type_traits>

#include "core/log.h"
#include "net/splice.h"
#include "obs/trace.h"
#include "proxy/conditional.h"
#include "proxy/error_response.h"
#include "proxy/http_util.h"
#include "proxy/range.h"
#include "proxy/respond.h"
#include "resilience/retry.h"
#include "s3/errors.h"

#ifndef YG_VERSION
#define YG_VERSION "0.0.0"
#endif

namespace yg::proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kRelayChunk = 256 * 1024;   // per streaming request; bounds memory
constexpr std::size_t kMaxErrorBody = 64 * 1024;  // S3 error XML we are willing to read
constexpr uint64_t kSpliceMin = 256 * 1024;       // below this a pipe costs more than it saves

// Resets the connection (RST, not FIN; on TLS without close_notify): for an HTTP/1.0 or
// close-delimited body a clean close would read as the normal end of the body.
void abort_connection(net::ClientStream& s) {
  s.abort();
}

SteadyClock::duration bounded(SteadyClock::duration op, SteadyClock::time_point deadline) {
  const auto left = deadline - SteadyClock::now();
  return std::max<SteadyClock::duration>(std::min(op, left), SteadyClock::duration::zero());
}

// The outcome of one attempt on one upstream connection. Failed: nothing reached the client and
// another attempt (the next replica, or a retry) might succeed; the error is in Context::failure.
enum class Attempt { Done, StaleRetry, Failed };

// What an attempt says about the replica's health, for its circuit breaker (OPS-1): connect
// errors, timeouts, resets and 500/502/503/504 count against it; any other answer for it.
enum class Health : uint8_t { Unknown, Healthy, Sick };

struct Context {
  net::ClientStream& client;
  Exchange& ex;
  Worker& w;
  const UpstreamReplica* replica = nullptr;  // the one being tried
  bool keep_alive;
  FetchPlan* plan = nullptr;
  bool client_reusable = false;
  std::optional<Error> failure;  // Attempt::Failed
  Health health = Health::Unknown;
  bool body_failed = false;  // S3 failed after the head was relayed (no retry possible)

  // This replica's series in the worker's shard, or nullptr when metrics are off.
  obs::ReplicaSeries* series() const {
    return ex.runtime->config.metrics_enabled ? &w.metrics.replicas[replica->metrics_slot]
                                              : nullptr;
  }
  void count_error(obs::UpstreamError e) const {
    if (auto* s = series()) {
      s->errors[static_cast<std::size_t>(e)].add();
    }
  }
};

template <class Response>
asio::awaitable<bool> send_response(Context& c, Response& res) {
  co_return co_await write_response(c.client, c.ex, res) && c.keep_alive;
}

// S3 could not answer (CACHE-8 serves a stale copy for these): unreachable, timed out, 5xx.
bool is_upstream_failure(const Error& e) {
  return e.is(errc::upstream_unreachable) || e.is(errc::upstream_timeout) ||
         e.is(errc::upstream_bad_response) || e.is(errc::request_timeout) ||
         e.is(errc::circuit_open);
}

// S3 statuses that mean "this replica cannot answer now" (OPS-2): retried and failed over.
bool is_retryable_status(unsigned status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

Attempt failed(Context& c, Error e) {
  // The request's own deadline cut the attempt short (the replica may have had only what the
  // earlier attempts left): not held against the replica.
  c.health = e.is(errc::request_timeout) ? Health::Unknown : Health::Sick;
  c.failure = e;
  return Attempt::Failed;
}

asio::awaitable<bool> send_error(Context& c, const Error& e) {
  if (c.plan != nullptr && c.plan->defer_errors && is_upstream_failure(e)) {
    // A stale copy may be served instead: the caller answers.
    c.plan->result = FetchPlan::Result::Failed;
    c.plan->error = e;
    c.ex.error = e.message();
    co_return c.keep_alive;
  }
  auto res = make_error_response(e, c.ex.request_id, c.ex.head->version, c.keep_alive,
                                 c.ex.head_only, {}, c.ex.retry_after_s);
  c.ex.error = e.message();
  co_return co_await send_response(c, res);
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

// Object size for a 416: S3's Content-Range ("bytes */N") if sent, else <ActualObjectSize> from
// the error XML.
std::optional<uint64_t> unsatisfied_size(const http::fields& h, std::string_view body) {
  if (auto it = h.find(http::field::content_range); it != h.end()) {
    std::string_view v = it->value();
    if (auto slash = v.rfind('/'); slash != std::string_view::npos) {
      return parse_u64(v.substr(slash + 1));
    }
  }
  constexpr std::string_view kOpen = "<ActualObjectSize>";
  if (auto b = body.find(kOpen); b != std::string_view::npos) {
    auto e = body.find('<', b + kOpen.size());
    if (e != std::string_view::npos) {
      return parse_u64(body.substr(b + kOpen.size(), e - b - kOpen.size()));
    }
  }
  return std::nullopt;
}

void make_private(http::fields& f) {
  auto it = f.find(http::field::cache_control);
  f.set(http::field::cache_control,
        private_cache_control(it == f.end() ? std::string_view{} : std::string_view(it->value())));
}

// After a streamed body: pool the upstream connection only if the whole response was read and
// it may be reused; cut the client connection if S3 failed mid-body, so a truncated body never
// passes for a complete one.
void finish_body(Context& c, net::ConnectionPtr& conn_ptr, bool upstream_ok, bool client_ok,
                 bool upstream_reusable, bool keep_alive) {
  if (!upstream_ok) {
    c.body_failed = true;
    c.ex.aborted_by_upstream = true;
    c.count_error(obs::UpstreamError::BodyTruncated);
  } else if (!client_ok) {
    c.ex.aborted_by_client = true;
  }
  if (upstream_ok && client_ok && upstream_reusable) {
    c.w.pool.give_back(c.replica->target, std::move(conn_ptr), c.ex.bucket->pool_size);
  } else {
    conn_ptr->close();
  }
  if (!upstream_ok) {
    abort_connection(c.client);
  }
  c.client_reusable = upstream_ok && client_ok && keep_alive;
}

template <class Stream>
asio::awaitable<Attempt> exchange_on(Stream& up, net::ConnectionPtr& conn_ptr,
                                     http::request<http::empty_body>& req, Context& c) {
  // `up` lives inside *conn_ptr. Once the connection is given back to the pool (moved out of
  // conn_ptr) neither is touched again.
  net::UpstreamConnection& conn = *conn_ptr;
  auto& lowest = conn.lowest();
  const auto timeout = c.replica->timeout;
  static const auto log = log::get("upstream");  // the registry lookup takes a global lock

  const auto sent_at = SteadyClock::now();
  lowest.expires_after(bounded(timeout, c.ex.deadline));
  auto [wec, wn] = co_await http::async_write(up, req, use_tuple);
  if (wec) {
    conn.close();
    if (conn.reused && wec != beast::error::timeout) {
      co_return Attempt::StaleRetry;
    }
    c.count_error(wec == beast::error::timeout ? obs::UpstreamError::Timeout
                                               : obs::UpstreamError::Io);
    co_return failed(c, Error::of(wec == beast::error::timeout ? errc::upstream_timeout
                                                               : errc::upstream_unreachable,
                                  Source::Upstream, true));
  }

  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (c.ex.head_only) {
    parser.skip(true);
  }
  // First byte: the S3 timeout, bounded by what is left of server.request_timeout.
  lowest.expires_after(bounded(timeout, c.ex.deadline));
  auto [hec, hn] = co_await http::async_read_header(up, conn.buffer, parser, use_tuple);
  if (hec) {
    conn.close();
    if (conn.reused && hn == 0 && net::closed_while_idle(hec)) {
      co_return Attempt::StaleRetry;  // the pooled connection died while idle
    }
    const bool timed_out = hec == beast::error::timeout;
    c.count_error(timed_out ? obs::UpstreamError::Timeout : obs::UpstreamError::Io);
    log->warn("request_id={} bucket={} replica={} S3 {}: {}", c.ex.request_id,
              c.ex.bucket->cfg->name, c.replica->cfg->name, timed_out ? "timed out" : "failed",
              hec.message());
    Error e = Error::of(timed_out ? errc::upstream_timeout : errc::upstream_unreachable,
                        Source::Upstream, true);
    if (timed_out && SteadyClock::now() >= c.ex.deadline) {
      e = Error::of(errc::request_timeout, Source::Internal);
    }
    co_return failed(c, e);
  }

  auto& ures = parser.get();
  const unsigned status = ures.result_int();
  c.ex.upstream = c.replica->cfg->name;
  c.ex.upstream_latency = SteadyClock::now() - sent_at;
  if (auto* s = c.series()) {
    s->responses[obs::status_slot(status)].add();
    s->latency.observe(*c.ex.upstream_latency);
  }
  const bool success = status == 200 || status == 206 || status == 304;
  c.health = is_retryable_status(status) ? Health::Sick : Health::Healthy;

  if (status == 304 && c.plan != nullptr && !c.plan->if_none_match.empty()) {
    // Our revalidation (CACHE-8) succeeded: the cached copy is current. Nothing is relayed.
    c.plan->nm_cache_control = field_value(ures.base(), http::field::cache_control);
    c.plan->nm_expires = field_value(ures.base(), http::field::expires);
    c.plan->nm_date = field_value(ures.base(), http::field::date);
    c.plan->result = FetchPlan::Result::NotModified;
    if (parser.is_done() && parser.keep_alive()) {
      c.w.pool.give_back(c.replica->target, std::move(conn_ptr), c.ex.bucket->pool_size);
    } else {
      conn.close();
    }
    c.client_reusable = c.keep_alive;
    co_return Attempt::Done;
  }

  if (!success) {
    // Read S3's error body (bounded) to learn its code, then answer with our own error.
    std::string body;
    std::unique_ptr<char[]> chunk(new char[kMaxErrorBody]);
    bool body_ok = true;
    while (!parser.is_done() && body.size() < kMaxErrorBody) {
      ures.body().data = chunk.get();
      ures.body().size = kMaxErrorBody - body.size();
      lowest.expires_after(bounded(timeout, c.ex.deadline));
      auto [rec, rn] = co_await http::async_read(up, conn.buffer, parser, use_tuple);
      if (rec && rec != http::error::need_buffer) {
        body_ok = false;
        break;
      }
      body.append(chunk.get(), kMaxErrorBody - body.size() - ures.body().size);
    }
    if (body_ok && parser.is_done() && parser.keep_alive()) {
      c.w.pool.give_back(c.replica->target, std::move(conn_ptr), c.ex.bucket->pool_size);
    } else {
      conn.close();
    }
    auto s3err = s3::parse_error_xml(body);
    Error e = s3::map_s3_error(status, s3err ? std::string_view(s3err->code) : std::string_view{});
    if (e.is(errc::upstream_auth)) {
      c.count_error(obs::UpstreamError::Auth);
    } else if (status >= 500) {
      c.count_error(obs::UpstreamError::Server);
    }
    if (e.is(errc::upstream_auth)) {
      // Loud: the operator must fix credentials or clock; the client cannot.
      log->error("request_id={} bucket={} replica={} S3 refused the proxy's credentials: {} {}",
                 c.ex.request_id, c.ex.bucket->cfg->name, c.replica->cfg->name, status,
                 s3err ? s3err->code : std::string("(no error body)"));
    } else if (!e.is(errc::not_found) && !e.is(errc::range_not_satisfiable) &&
               !e.is(errc::precondition_failed)) {
      log->warn("request_id={} bucket={} replica={} S3 answered {} {}", c.ex.request_id,
                c.ex.bucket->cfg->name, c.replica->cfg->name, status,
                s3err ? s3err->code : std::string());
    }
    if (is_retryable_status(status)) {
      co_return failed(c, e);  // another replica, or a retry, may answer
    }
    if (e.is(errc::range_not_satisfiable)) {
      auto res =
          make_error_response(e, c.ex.request_id, c.ex.head->version, c.keep_alive, c.ex.head_only);
      if (auto size = unsatisfied_size(ures.base(), body)) {
        res.set(http::field::content_range, "bytes */" + std::to_string(*size));
      }
      c.ex.error = e.message();
      c.client_reusable = co_await send_response(c, res);
      co_return Attempt::Done;
    }
    c.client_reusable = co_await send_error(c, e);
    co_return Attempt::Done;
  }

  // HTTP-7: evaluate the client's conditionals against S3's validators ourselves; S3-compatible
  // servers differ on lists, weak tags and "*".
  if (status == 200 || status == 206) {
    std::optional<SysTime> last_modified;
    if (auto it = ures.find(http::field::last_modified); it != ures.end()) {
      last_modified = parse_http_date(std::string_view(it->value()));
    }
    auto etag_it = ures.find(http::field::etag);
    const std::string_view etag =
        etag_it == ures.end() ? std::string_view{} : std::string_view(etag_it->value());
    const auto pre = evaluate_preconditions(c.ex.head->fields, etag, last_modified);
    if (pre != Precondition::Proceed) {
      // The body is not wanted; a GET's unread body makes the connection unusable.
      if (parser.is_done() && parser.keep_alive()) {
        c.w.pool.give_back(c.replica->target, std::move(conn_ptr), c.ex.bucket->pool_size);
      } else {
        conn.close();
      }
      if (pre == Precondition::Failed) {
        c.client_reusable =
            co_await send_error(c, Error::of(errc::precondition_failed, Source::Downstream));
        co_return Attempt::Done;
      }
      // RFC 9110 15.4.5: a 304 carries the validators and caching headers a 200 would.
      http::response<http::empty_body> nm{http::status::not_modified, c.ex.head->version};
      set_common_headers(nm, c.ex.request_id);
      for (auto f : {http::field::etag, http::field::last_modified, http::field::cache_control,
                     http::field::expires, http::field::vary}) {
        if (auto it = ures.find(f); it != ures.end()) {
          nm.set(f, it->value());
        }
      }
      nm.set("X-Cache", to_string(c.ex.cache_status));
      if (c.ex.bucket->auth || c.ex.bucket->authz) {
        make_private(nm.base());
      }
      nm.keep_alive(c.keep_alive);
      c.client_reusable = co_await send_response(c, nm);
      co_return Attempt::Done;
    }
  }

  // CACHE-5: a fill decides at the head whether this answer may be stored.
  Fill* fill = nullptr;
  if (c.plan != nullptr && c.plan->fill != nullptr && !c.ex.head_only) {
    Fill& f = *c.plan->fill;
    cache::ResponseFacts facts;
    facts.method = "GET";
    facts.status = status;
    facts.cache_control = field_value(ures.base(), http::field::cache_control);
    facts.expires = field_value(ures.base(), http::field::expires);
    facts.date = field_value(ures.base(), http::field::date);
    if (auto len = parser.content_length(); len && !parser.chunked()) {
      facts.content_length = *len;
    }
    facts.set_cookie = ures.find(http::field::set_cookie) != ures.end();
    auto d = cache::decide(facts, f.policy);
    if (d.store() && f.budget != nullptr) {
      const uint64_t len = *facts.content_length;
      if (f.budget->used.fetch_add(len) + len > f.budget->limit) {
        f.budget->used.fetch_sub(len);
        d.reason = cache::NoStoreReason::FillBudget;
      } else {
        f.reserved = len;
      }
    }
    f.refused = d.reason;
    if (d.store()) {
      f.meta = stored_meta(ures.base(), *facts.content_length);
      f.meta->stored = f.now;
      f.meta->expires = f.now + d.ttl;
      f.body.reserve(*facts.content_length);
      fill = &f;
      c.ex.cache_status = CacheStatus::Miss;
    } else {
      c.ex.cache_status = CacheStatus::Bypass;
    }
    if (f.on_head) {
      f.on_head(d.store());
    }
  }

  // Success: relay the head, then stream the body with backpressure.
  const unsigned version = c.ex.head->version;
  http::response<http::buffer_body> res{static_cast<http::status>(status), version};
  set_common_headers(res, c.ex.request_id);
  copy_response_headers(ures.base(), res.base());
  if (c.ex.bucket->auth || c.ex.bucket->authz) {
    make_private(res.base());
  }
  res.set("X-Cache", to_string(c.ex.cache_status));
  bool keep_alive = c.keep_alive;
  const auto length = parser.content_length();
  const bool bodyless = c.ex.head_only || status == 304;
  if (bodyless) {
    if (c.ex.head_only && length) {
      res.content_length(*length);  // HEAD: the length a GET would have
    }
  } else if (length) {
    res.content_length(*length);
  } else if (version == 11) {
    res.chunked(true);
  } else {
    keep_alive = false;  // HTTP/1.0 without a length: the close delimits the body
  }
  res.keep_alive(keep_alive);
  c.ex.status = status;

  if (bodyless) {
    // Serialize the head only (a HEAD's Content-Length is not a promise of body bytes).
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    http::serializer<false, http::buffer_body> sr{res};
    c.client.expires_after(kSendTimeout);
    c.ex.mark_first_byte();
    auto [ec, n] = co_await http::async_write_header(c.client, sr, use_tuple);
    c.ex.aborted_by_client = static_cast<bool>(ec);
    if (parser.is_done() && parser.keep_alive()) {
      c.w.pool.give_back(c.replica->target, std::move(conn_ptr), c.ex.bucket->pool_size);
    } else {
      conn.close();
    }
    c.client_reusable = !ec && keep_alive;
    co_return Attempt::Done;
  }

  res.body().data = nullptr;
  res.body().more = true;
  http::serializer<false, http::buffer_body> sr{res};
  c.client.expires_after(kSendTimeout);
  c.ex.mark_first_byte();
  auto [hwec, hwn] = co_await http::async_write_header(c.client, sr, use_tuple);
  if (hwec) {
    conn.close();
    c.ex.aborted_by_client = true;
    c.client_reusable = false;
    co_return Attempt::Done;
  }
  std::unique_ptr<char[]> chunk(new char[kRelayChunk]);

  if (length && !parser.chunked()) {
    // Fast path (S3 always sends Content-Length for objects): past the head the body is raw
    // bytes on both sides, so they go socket -> one buffer -> socket without the parser and
    // serializer in between. Bytes the head read already pulled in go first.
    uint64_t remaining = *length;
    bool upstream_ok = true;
    bool client_ok = true;
    if constexpr (std::is_same_v<Stream, net::PlainStream>) {
      // Plain TCP on both sides: past the bytes already buffered, splice(2) moves the body
      // without copying it through user space (not for a fill: the cache needs the bytes; not
      // to a TLS client: its bytes must be encrypted).
      const auto buffered =
          static_cast<std::size_t>(std::min<uint64_t>(conn.buffer.size(), remaining));
      if (fill == nullptr && !c.client.tls() && remaining - buffered >= kSpliceMin) {
        if (buffered > 0) {
          c.client.expires_after(kSendTimeout);
          auto [wec, wn] = co_await asio::async_write(
              c.client, asio::buffer(conn.buffer.data().data(), buffered), use_tuple);
          conn.buffer.consume(buffered);
          remaining -= buffered;
          c.ex.bytes_sent += wn;
          client_ok = !wec;
        }
        if (client_ok) {
          uint64_t moved = 0;
          const auto outcome = co_await net::splice_relay(up.socket(), c.client.socket(), remaining,
                                                          timeout, kSendTimeout, moved);
          c.ex.bytes_sent += moved;
          if (outcome == net::SpliceOutcome::Done) {
            remaining = 0;
          } else if (outcome == net::SpliceOutcome::ReadFailed) {
            log->warn("request_id={} bucket={} replica={} S3 body failed after {} of {} bytes",
                      c.ex.request_id, c.ex.bucket->cfg->name, c.replica->cfg->name,
                      c.ex.bytes_sent, *length);
            upstream_ok = false;
          } else if (outcome == net::SpliceOutcome::WriteFailed) {
            client_ok = false;
          }
          // Unsupported: nothing moved; the copy loop below does the work.
        }
      }
    }
    while (remaining > 0 && upstream_ok && client_ok) {
      std::size_t n = 0;
      if (conn.buffer.size() > 0) {
        n = static_cast<std::size_t>(
            std::min<uint64_t>({conn.buffer.size(), remaining, kRelayChunk}));
        asio::buffer_copy(asio::buffer(chunk.get(), n), conn.buffer.data());
        conn.buffer.consume(n);
      } else {
        lowest.expires_after(timeout);  // idle read timeout while streaming
        auto [rec, rn] = co_await up.async_read_some(
            asio::buffer(chunk.get(), std::min<uint64_t>(remaining, kRelayChunk)), use_tuple);
        if (rec) {
          log->warn("request_id={} bucket={} replica={} S3 body failed after {} of {} bytes: {}",
                    c.ex.request_id, c.ex.bucket->cfg->name, c.replica->cfg->name,
                    *length - remaining, *length, rec.message());
          upstream_ok = false;
          break;
        }
        n = rn;
      }
      remaining -= n;
      if (fill != nullptr) {
        fill->body.append(chunk.get(), n);
      }
      c.client.expires_after(kSendTimeout);
      auto [wec, wn] =
          co_await asio::async_write(c.client, asio::buffer(chunk.get(), n), use_tuple);
      if (wec) {
        client_ok = false;  // the client went away: stop reading S3 (S3-3)
        break;
      }
      c.ex.bytes_sent += wn;
    }
    if (fill != nullptr) {
      fill->complete = upstream_ok && remaining == 0 && fill->body.size() == *length;
    }
    finish_body(c, conn_ptr, upstream_ok, client_ok, parser.keep_alive() && conn.buffer.size() == 0,
                keep_alive);
    co_return Attempt::Done;
  }

  // General path (chunked or close-delimited upstream body): Beast's parser and serializer.
  bool upstream_ok = true;
  bool client_ok = true;
  while (!sr.is_done()) {
    if (!parser.is_done()) {
      ures.body().data = chunk.get();
      ures.body().size = kRelayChunk;
      lowest.expires_after(timeout);  // idle read timeout while streaming
      // read_some: whatever arrived is passed on at once (a trickling S3 is not held back
      // until the buffer fills, and the idle timeout measures silence, not buffer fill time).
      auto [rec, rn] = co_await http::async_read_some(up, conn.buffer, parser, use_tuple);
      if (rec && rec != http::error::need_buffer) {
        log->warn("request_id={} bucket={} replica={} S3 body failed after {} bytes: {}",
                  c.ex.request_id, c.ex.bucket->cfg->name, c.replica->cfg->name, c.ex.bytes_sent,
                  rec.message());
        upstream_ok = false;
        break;
      }
      const std::size_t got = kRelayChunk - ures.body().size;
      if (got == 0 && !parser.is_done()) {
        // The parser stops after each chunk-size line without body bytes. An empty buffer with
        // more=true would make the serializer write the last-chunk marker and end the body
        // early, so there is nothing to write yet: read on.
        continue;
      }
      res.body().data = got == 0 ? nullptr : chunk.get();
      res.body().size = got;
      res.body().more = !parser.is_done();
    } else {
      res.body().data = nullptr;
      res.body().size = 0;
      res.body().more = false;
    }
    const auto sending = res.body().size;
    c.client.expires_after(kSendTimeout);
    auto [wec2, wn2] = co_await http::async_write(c.client, sr, use_tuple);
    if (wec2 && wec2 != http::error::need_buffer) {
      client_ok = false;  // the client went away: stop reading S3 (S3-3)
      break;
    }
    c.ex.bytes_sent += sending;
  }
  finish_body(c, conn_ptr, upstream_ok, client_ok, parser.is_done() && parser.keep_alive(),
              keep_alive);
  co_return Attempt::Done;
}

}  // namespace

cache::Meta stored_meta(const http::fields& from, uint64_t size) {
  cache::Meta m;
  m.size = size;
  for (const auto& h : from) {
    const auto name = h.name();
    if (name == http::field::cache_control) {
      m.cache_control = h.value();
    } else if (name == http::field::etag) {
      m.etag = h.value();
    } else if (name == http::field::last_modified) {
      m.last_modified = h.value();
    } else if (name != http::field::content_length &&
               is_forwarded_response_header(h.name_string())) {
      m.headers.append(h.name_string()).append(": ").append(h.value()).append("\r\n");
    }
  }
  return m;
}

namespace {

http::request<http::empty_body> build_request(const Exchange& ex, const UpstreamReplica& replica,
                                              const FetchPlan* plan) {
  const auto& h = *ex.head;
  const auto query = s3::forwardable_query(ex.query);
  const auto signed_req =
      s3::build_object_request(ex.head_only ? "HEAD" : "GET", replica.endpoint, replica.cfg->bucket,
                               ex.key, query, *replica.signer, SysClock::now());
  http::request<http::empty_body> req{ex.head_only ? http::verb::head : http::verb::get,
                                      signed_req.target, 11};
  for (const auto& [name, value] : signed_req.headers) {
    req.set(name, value);
  }
  for (const auto& f : h.fields) {
    if (is_forwarded_request_header(f.name())) {
      req.insert(f.name(), f.value());
    }
  }
  // HTTP-8: a valid single range goes to S3; invalid syntax is ignored (full 200, RFC 9110
  // 14.2); multiple ranges are also answered with the full object (S3 serves one range only).
  if (auto it = h.fields.find(http::field::range); it != h.fields.end()) {
    auto specs = parse_range(it->value());
    if (specs && specs->size() == 1) {
      req.set(http::field::range, it->value());
    }
  }
  if (plan != nullptr && !plan->if_none_match.empty()) {
    req.set(http::field::if_none_match, plan->if_none_match);
  }
  req.set(http::field::user_agent, "yatagarasu/" YG_VERSION);
  // W3C trace context: S3 sees the proxy's span as the parent (not signed; S3 ignores it).
  req.set("traceparent", obs::traceparent_header(ex.trace));
  if (!ex.trace.tracestate.empty()) {
    req.set("tracestate", ex.trace.tracestate);
  }
  req.keep_alive(true);
  return req;
}

// One attempt on c.replica: a pooled connection (and a fresh one if that had died while idle),
// or a new connection.
asio::awaitable<Attempt> attempt_on(Context& c) {
  const UpstreamReplica& replica = *c.replica;
  Exchange& ex = c.ex;
  Worker& w = c.w;
  auto req = build_request(ex, replica, c.plan);
  for (int attempt = 0; attempt < 2; ++attempt) {
    net::ConnectionPtr conn = attempt == 0 ? w.pool.take(replica.target) : nullptr;
    if (!conn) {
      auto r = co_await w.pool.connect(replica.target, bounded(replica.timeout, ex.deadline));
      if (!r) {
        log::get("upstream")
            ->warn("request_id={} bucket={} replica={} connect failed: {}", ex.request_id,
                   ex.bucket->cfg->name, replica.cfg->name, r.error().message());
        Error e = r.error();
        c.count_error(e.is(errc::upstream_timeout) ? obs::UpstreamError::Timeout
                                                   : obs::UpstreamError::Connect);
        if (e.is(errc::upstream_timeout) && SteadyClock::now() >= ex.deadline) {
          e = Error::of(errc::request_timeout, Source::Internal);
        }
        co_return failed(c, e);
      }
      conn = std::move(*r);
    }
    // exchange_on either gives the connection back to the pool or leaves it (closed) here.
    Attempt a;
    if (auto* p = std::get_if<net::PlainStream>(&conn->stream)) {
      a = co_await exchange_on(*p, conn, req, c);
    } else {
      a = co_await exchange_on(std::get<net::TlsStream>(conn->stream), conn, req, c);
    }
    if (a != Attempt::StaleRetry) {
      co_return a;
    }
  }
  co_return failed(c, Error::of(errc::upstream_unreachable, Source::Upstream, true));
}

// Tells the replica's breaker how one admitted attempt went, exactly once: report() after the
// attempt, or "no verdict" from the destructor if the attempt never got that far (an
// exception), so a half-open probe slot is never lost.
class Verdict {
 public:
  Verdict(const UpstreamReplica& r, const resilience::CircuitBreaker::Admission& a)
      : r_(r), a_(a) {}
  Verdict(const Verdict&) = delete;
  Verdict& operator=(const Verdict&) = delete;
  ~Verdict() {
    if (!done_ && r_.breaker) {
      r_.breaker->abandon(a_);
    }
  }
  void report(const Context& c) {
    done_ = true;
    if (!r_.breaker) {
      return;
    }
    const auto now = SteadyClock::now();
    if (c.health == Health::Sick || (c.health == Health::Healthy && c.body_failed)) {
      r_.breaker->on_failure(a_, now);  // a body cut short counts against it too
    } else if (c.health == Health::Healthy) {
      r_.breaker->on_success(a_);
    } else {
      r_.breaker->abandon(a_);
    }
  }

 private:
  const UpstreamReplica& r_;
  resilience::CircuitBreaker::Admission a_;
  bool done_ = false;
};

}  // namespace

// OPS-1 / OPS-2: replicas in priority order, skipping those whose breaker is open; a failed
// attempt (nothing sent to the client yet) moves on to the next replica at once; when every
// replica failed, s3.retry allows further passes after a jittered backoff, within the request
// deadline and the bucket's retry budget. The last failure is answered (or, with a stale copy,
// returned to the cache step); when no replica could even be tried, 503 + Retry-After.
asio::awaitable<bool> proxy_to_s3(net::ClientStream& client, Exchange& ex, Worker& w,
                                  bool keep_alive, FetchPlan* plan) {
  Context c{client, ex, w, nullptr, keep_alive, plan};
  const BucketRuntime& b = *ex.bucket;
  const auto& retry = b.cfg->s3.retry;
  const uint32_t passes = retry ? retry->max_attempts : 1;
  obs::BucketSeries* series =
      ex.runtime->config.metrics_enabled ? &w.metrics.buckets[b.metrics_slot] : nullptr;
  if (b.retry_budget) {
    b.retry_budget->on_request(SteadyClock::now());
  }
  static const auto log = log::get("upstream");
  std::optional<Error> last;
  std::optional<SteadyClock::duration> open_for;  // shortest wait among refusing breakers
  for (uint32_t pass = 0; pass < passes; ++pass) {
    if (pass > 0) {
      const auto now = SteadyClock::now();
      const auto delay = resilience::backoff_delay(
          pass, std::chrono::milliseconds(retry->initial_backoff_ms),
          std::chrono::milliseconds(retry->max_backoff_ms), resilience::jitter_unit());
      if (now + delay >= ex.deadline) {
        break;  // no time left for another attempt (and no budget spent on it)
      }
      if (!b.retry_budget->try_retry(now)) {
        if (series != nullptr) {
          series->retry_budget_exhausted.add();
        }
        break;
      }
      asio::steady_timer t(w.io, delay);
      co_await t.async_wait(use_tuple);
      if (series != nullptr) {
        series->retries.add();
      }
    }
    bool tried = false;
    const UpstreamReplica* previous = nullptr;  // failed earlier in this pass
    for (const auto& r : b.replicas) {
      resilience::CircuitBreaker::Admission adm{true, false, {}};
      if (r.breaker) {
        adm = r.breaker->try_acquire(SteadyClock::now());
        if (!adm.allowed) {
          open_for = std::min(open_for.value_or(adm.retry_after), adm.retry_after);
          continue;
        }
      }
      Verdict verdict(r, adm);
      if (SteadyClock::now() >= ex.deadline) {
        last = Error::of(errc::request_timeout, Source::Internal);
        break;
      }
      if (previous != nullptr) {
        if (series != nullptr) {
          series->failovers.add();
        }
        log->info("request_id={} bucket={} failing over from replica {} to {}", ex.request_id,
                  b.cfg->name, previous->cfg->name, r.cfg->name);
      }
      tried = true;
      previous = &r;
      c.replica = &r;
      c.failure.reset();
      c.health = Health::Unknown;
      c.body_failed = false;
      const Attempt a = co_await attempt_on(c);
      verdict.report(c);
      if (a != Attempt::Failed) {
        co_return c.client_reusable;
      }
      last = c.failure;
      if (last && last->is(errc::request_timeout)) {
        break;  // the request's own deadline passed: nothing more to try
      }
    }
    if (!tried || (last && last->is(errc::request_timeout))) {
      break;
    }
  }
  if (!last) {
    // Every replica's breaker was open: none was asked.
    if (series != nullptr) {
      series->circuit_open.add();
    }
    ex.retry_after_s = static_cast<uint32_t>(std::clamp<int64_t>(
        std::chrono::ceil<std::chrono::seconds>(open_for.value_or(std::chrono::seconds(1))).count(),
        1, 86400));
    last = Error::of(errc::circuit_open, Source::Upstream);
  }
  c.client_reusable = co_await send_error(c, *last);
  co_return c.client_reusable;
}

}  // namespace yg::proxy
