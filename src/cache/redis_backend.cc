#include "cache/redis_backend.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "core/log.h"
#include "redis/client.h"

namespace yg::cache {

namespace asio = boost::asio;

// ---- value layout ----------------------------------------------------------------------------
//
// The body comes first, so a hit keeps the reply's buffer as the body (one resize, no copy):
//
//   the body, then the headers, Cache-Control, ETag and Last-Modified strings, then 52 bytes:
//    0  u64 body length
//    8  i64 stored, 16 i64 expires (nanoseconds since the epoch)
//   24  u32 headers length, 28 u32 cache-control length, 32 u32 etag length,
//   36  u32 last-modified length
//   40  u32 tail length (the four strings + these 52 bytes)
//   44  u16 reserved (0), 46 u8 flags (0), 47 u8 version (1)
//   48  "YGRC" magic: the value's last four bytes
//
// Integers are little-endian. A value whose lengths do not add up to its size is not ours.

namespace redis_value {
namespace {

constexpr char kMagic[4] = {'Y', 'G', 'R', 'C'};
constexpr uint8_t kVersion = 1;

template <class T>
void put_le(std::string& out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<char>(static_cast<uint64_t>(v) >> (8 * i) & 0xff));
  }
}

template <class T>
T get_le(const char* p) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return static_cast<T>(v);
}

int64_t to_ns(SysTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

SysTime from_ns(int64_t ns) {
  return SysTime(std::chrono::duration_cast<SysTime::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

std::string encode_tail(const Meta& m) {
  const std::size_t tail =
      kTrailer + m.headers.size() + m.cache_control.size() + m.etag.size() + m.last_modified.size();
  std::string out;
  out.reserve(tail);
  out += m.headers;
  out += m.cache_control;
  out += m.etag;
  out += m.last_modified;
  put_le<uint64_t>(out, m.size);
  put_le<int64_t>(out, to_ns(m.stored));
  put_le<int64_t>(out, to_ns(m.expires));
  put_le<uint32_t>(out, static_cast<uint32_t>(m.headers.size()));
  put_le<uint32_t>(out, static_cast<uint32_t>(m.cache_control.size()));
  put_le<uint32_t>(out, static_cast<uint32_t>(m.etag.size()));
  put_le<uint32_t>(out, static_cast<uint32_t>(m.last_modified.size()));
  put_le<uint32_t>(out, static_cast<uint32_t>(tail));
  put_le<uint16_t>(out, 0);
  out.push_back('\0');
  out.push_back(static_cast<char>(kVersion));
  out.append(kMagic, sizeof kMagic);
  return out;
}

EntryPtr decode(std::string value) {
  if (value.size() < kTrailer) {
    return nullptr;
  }
  const char* f = value.data() + value.size() - kTrailer;
  if (std::memcmp(f + 48, kMagic, sizeof kMagic) != 0 || static_cast<uint8_t>(f[47]) != kVersion) {
    return nullptr;
  }
  const uint64_t size = get_le<uint64_t>(f);
  const uint64_t lens[4] = {get_le<uint32_t>(f + 24), get_le<uint32_t>(f + 28),
                            get_le<uint32_t>(f + 32), get_le<uint32_t>(f + 36)};
  const uint64_t tail = get_le<uint32_t>(f + 40);
  if (kTrailer + lens[0] + lens[1] + lens[2] + lens[3] != tail || tail > value.size() ||
      value.size() - tail != size) {
    return nullptr;
  }
  auto e = std::make_shared<Entry>();
  std::size_t at = size;
  std::string* fields[4] = {&e->meta.headers, &e->meta.cache_control, &e->meta.etag,
                            &e->meta.last_modified};
  for (std::size_t i = 0; i < 4; ++i) {
    fields[i]->assign(value, at, lens[i]);
    at += lens[i];
  }
  e->meta.stored = from_ns(get_le<int64_t>(f + 8));
  e->meta.expires = from_ns(get_le<int64_t>(f + 16));
  e->meta.size = size;
  value.resize(size);  // the body stays in the reply's buffer
  e->body = std::move(value);
  return e;
}

}  // namespace redis_value

std::string redis_glob_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out;
}

// ---- the layer -------------------------------------------------------------------------------

namespace {

// Deletes KEYS[1] only while it still ends with ARGV[1] (the trailer of the value read, which
// holds its times): an expired copy found by one instance must not take a fresh one another
// instance just wrote.
constexpr std::string_view kDeleteIfSame =
    "if redis.call('GETRANGE', KEYS[1], -tonumber(ARGV[2]), -1) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";

void log_failure(std::string_view op, const redis::Result& r) {
  log::get("cache")->debug("redis {} failed: {} {}", op, redis::errc_name(r.err), r.detail);
}

}  // namespace

RedisBackend::RedisBackend(RedisBackendOptions o) : o_(std::move(o)) {
  if (!o_.client) {
    throw std::invalid_argument("RedisBackend needs a client");
  }
}

asio::awaitable<std::optional<Hit>> RedisBackend::get(std::string key, SysTime now) {
  const std::string rkey = o_.key_prefix + key;
  auto r = co_await o_.client->exec(redis::Command("GET", rkey));
  if (!r.ok() || r.reply.is_error()) {
    if (r.ok()) {
      r.detail = r.reply.str;
    }
    log_failure("GET", r);
    errors_.fetch_add(1, std::memory_order_relaxed);
    misses_.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  if (!r.reply.is_string()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  std::string value = std::move(r.reply.str);
  // The trailer, kept to delete exactly this value if it turns out expired or foreign.
  const std::size_t n = std::min<std::size_t>(value.size(), redis_value::kTrailer);
  std::string head = value.substr(value.size() - n);
  EntryPtr e = redis_value::decode(std::move(value));
  if (!e || now >= e->meta.expires + o_.stale_grace) {
    redis::Command del("EVAL", kDeleteIfSame, "1", rkey, head);
    del.arg(static_cast<int64_t>(head.size()));
    del.key_index(3);
    auto d = co_await o_.client->exec(std::move(del));
    if (!d.ok() || d.reply.is_error()) {
      errors_.fetch_add(1, std::memory_order_relaxed);
    }
    if (e) {
      expirations_.fetch_add(1, std::memory_order_relaxed);
    } else {
      errors_.fetch_add(1, std::memory_order_relaxed);
      log::get("cache")->warn("redis value under a cache key is not a cache entry; deleted");
    }
    misses_.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  co_return Hit{std::move(e), nullptr};
}

asio::awaitable<bool> RedisBackend::put(std::string key, EntryPtr e) {
  if (e->meta.size > o_.max_item_bytes || e->body.size() != e->meta.size) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    co_return false;
  }
  const auto until = e->meta.expires + o_.stale_grace - SysClock::now();
  auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(until);
  ttl = std::min<std::chrono::milliseconds>(ttl, o_.max_ttl);
  if (ttl.count() <= 0) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    co_return false;
  }
  const std::string tail = redis_value::encode_tail(e->meta);
  redis::Command set("SET", o_.key_prefix + key);
  set.arg_concat({e->body, tail});
  set.arg("PX").arg(static_cast<int64_t>(ttl.count()));
  auto r = co_await o_.client->exec(std::move(set));
  if (!r.ok() || !r.reply.is_ok()) {
    if (r.ok()) {
      r.detail = r.reply.str;
    }
    log_failure("SET", r);
    errors_.fetch_add(1, std::memory_order_relaxed);
    rejected_.fetch_add(1, std::memory_order_relaxed);
    co_return false;
  }
  inserts_.fetch_add(1, std::memory_order_relaxed);
  co_return true;
}

asio::awaitable<bool> RedisBackend::remove(std::string key) {
  auto r = co_await o_.client->exec(redis::Command("DEL", o_.key_prefix + key));
  if (!r.ok() || !r.reply.is_integer()) {
    log_failure("DEL", r);
    errors_.fetch_add(1, std::memory_order_relaxed);
    co_return false;
  }
  if (r.reply.integer > 0) {
    removals_.fetch_add(1, std::memory_order_relaxed);
    co_return true;
  }
  co_return false;
}

template <class Fn>
asio::awaitable<bool> RedisBackend::scan(const std::string& prefix, Fn&& each) {
  // Every cache key starts with the bucket name's length (policy.h), so "[0-9]*" after the key
  // prefix is every entry and nothing else we keep under the prefix (fill locks, the channel).
  const std::string pattern =
      redis_glob_escape(o_.key_prefix + prefix) + (prefix.empty() ? "[0-9]*" : "*");
  bool complete = true;
  for (const auto& node : co_await o_.client->masters()) {
    std::string cursor = "0";
    do {
      redis::Command c("SCAN", cursor, "MATCH", pattern, "COUNT");
      c.arg(static_cast<int64_t>(o_.scan_count)).key_index(-1);
      auto r = co_await o_.client->exec_at(node, std::move(c));
      if (!r.ok() || !r.reply.is_array() || r.reply.elements.size() != 2 ||
          !r.reply.elements[1].is_array()) {
        log_failure("SCAN", r);
        errors_.fetch_add(1, std::memory_order_relaxed);
        complete = false;
        break;
      }
      cursor = std::move(r.reply.elements[0].str);
      std::vector<std::string> keys;
      keys.reserve(r.reply.elements[1].elements.size());
      for (auto& k : r.reply.elements[1].elements) {
        keys.push_back(std::move(k.str));
      }
      if (!keys.empty() && !co_await each(std::move(keys))) {
        complete = false;
      }
    } while (cursor != "0");
  }
  co_return complete;
}

asio::awaitable<std::size_t> RedisBackend::remove_prefix(std::string prefix) {
  std::size_t removed = 0;
  // Named, so the closure outlives every suspension of scan().
  auto unlink = [&](std::vector<std::string> keys) -> asio::awaitable<bool> {
    std::vector<redis::Command> cmds;
    cmds.reserve(keys.size());
    for (const auto& k : keys) {
      cmds.push_back(redis::Command("UNLINK", k));
    }
    bool ok = true;
    for (const auto& r : co_await o_.client->exec_batch(std::move(cmds))) {
      if (r.ok() && r.reply.is_integer()) {
        removed += static_cast<std::size_t>(r.reply.integer);
      } else {
        errors_.fetch_add(1, std::memory_order_relaxed);
        ok = false;
      }
    }
    co_return ok;
  };
  co_await scan(prefix, unlink);
  removals_.fetch_add(removed, std::memory_order_relaxed);
  co_return removed;
}

asio::awaitable<Usage> RedisBackend::usage(std::string prefix) {
  Usage u;
  auto measure = [&](std::vector<std::string> keys) -> asio::awaitable<bool> {
    std::vector<redis::Command> cmds;
    cmds.reserve(keys.size());
    for (const auto& k : keys) {
      cmds.push_back(redis::Command("STRLEN", k));
    }
    bool ok = true;
    for (const auto& r : co_await o_.client->exec_batch(std::move(cmds))) {
      if (r.ok() && r.reply.is_integer()) {
        if (r.reply.integer > 0) {  // 0: expired or deleted since the SCAN
          ++u.items;
          u.bytes += static_cast<uint64_t>(r.reply.integer);
        }
      } else {
        errors_.fetch_add(1, std::memory_order_relaxed);
        ok = false;
      }
    }
    co_return ok;
  };
  const bool complete = co_await scan(prefix, measure);
  if (prefix.empty() && complete) {
    items_.store(u.items, std::memory_order_relaxed);
    bytes_.store(u.bytes, std::memory_order_relaxed);
  }
  co_return u;
}

LayerStats RedisBackend::stats() const {
  LayerStats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.inserts = inserts_.load(std::memory_order_relaxed);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.expirations = expirations_.load(std::memory_order_relaxed);
  s.removals = removals_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  s.items = items_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.capacity_bytes = 0;  // the Redis server's maxmemory, not ours to know
  return s;
}

}  // namespace yg::cache
