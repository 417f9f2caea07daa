#pragma once
// The cache layer interface (FEATURES.md CACHE-1..4): what the tiered engine asks of the memory,
// disk and (issue #7) Redis layers. Layers are dumb stores of complete, immutable entries:
// freshness decisions, ranges, conditionals and coalescing live above them (STYLE.md section 2).
//
// Threads: one backend is shared by every worker. Each operation may be called from any worker
// coroutine at the same time; it completes on the caller's executor. A layer that blocks on
// I/O does that I/O on its own threads, never on the caller's.

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace yg::cache {

// What is kept about one object besides its body (CACHE-3): the HTTP-6 response headers, the
// validators and the freshness times.
struct Meta {
  // The stored response header lines, "Name: value\r\n" each, in S3's order: the HTTP-6 set
  // except Content-Length, Cache-Control, ETag and Last-Modified (kept apart below).
  std::string headers;
  std::string cache_control;  // S3's Cache-Control value, or empty
  std::string etag;           // as S3 sent it, quotes included, or empty
  std::string last_modified;  // HTTP-date as S3 sent it, or empty
  uint64_t size = 0;          // body length in bytes
  SysTime stored{};           // when the response was received (Age, RFC 9111 4.2.3)
  SysTime expires{};          // end of freshness

  bool fresh(SysTime now) const noexcept { return now < expires; }
  std::size_t footprint() const noexcept {
    return headers.size() + cache_control.size() + etag.size() + last_modified.size();
  }
};

// One cached object. Immutable once stored: readers share it (a hit writes `body` straight
// from here) and the layer may evict it meanwhile.
struct Entry {
  Meta meta;
  std::string body;  // the complete body; empty when the body lives in a file (FileBody)

  // Bytes this entry holds against a memory budget (payload plus bookkeeping).
  std::size_t charge() const noexcept { return meta.footprint() + body.size() + kOverhead; }
  static constexpr std::size_t kOverhead = 256;
};
using EntryPtr = std::shared_ptr<const Entry>;

// A body kept in a file (the disk layer): sent with sendfile on plain TCP. The descriptor is
// owned and closed with the last reference, so an evicted (unlinked) file stays readable for
// the hits already holding it.
class FileBody {
 public:
  FileBody(int fd, uint64_t offset, uint64_t size) noexcept
      : fd_(fd), offset_(offset), size_(size) {}
  ~FileBody();
  FileBody(const FileBody&) = delete;
  FileBody& operator=(const FileBody&) = delete;

  int fd() const noexcept { return fd_; }
  uint64_t offset() const noexcept { return offset_; }  // where the body starts in the file
  uint64_t size() const noexcept { return size_; }

 private:
  int fd_;
  uint64_t offset_, size_;
};

// A lookup's answer. `entry` always holds the metadata; the body is `entry->body`, or `file`
// when the layer keeps bodies in files.
struct Hit {
  EntryPtr entry;
  std::shared_ptr<const FileBody> file;

  const Meta& meta() const noexcept { return entry->meta; }
};

struct LayerStats {
  uint64_t hits = 0, misses = 0, inserts = 0, rejected = 0;  // rejected: too large, full, error
  uint64_t evictions = 0, expirations = 0, removals = 0, errors = 0;
  uint64_t items = 0, bytes = 0, capacity_bytes = 0;
};

struct Usage {
  uint64_t items = 0, bytes = 0;
};

class CacheBackend {
 public:
  virtual ~CacheBackend() = default;

  virtual std::string_view name() const noexcept = 0;  // "memory", "disk", "redis"

  // The entry under `key` while now < expires + the layer's stale grace (fresh or stale: the
  // caller decides), else nullopt. A layer that fails counts an error and answers nullopt.
  virtual boost::asio::awaitable<std::optional<Hit>> get(std::string key, SysTime now) = 0;

  // Stores a complete entry under `key`, replacing any older one. false: refused (over the item
  // limit or the whole budget, or an I/O error).
  virtual boost::asio::awaitable<bool> put(std::string key, EntryPtr e) = 0;

  // Removes `key`; true when something was removed.
  virtual boost::asio::awaitable<bool> remove(std::string key) = 0;

  // Removes every entry whose key starts with `prefix` ("" removes everything). Returns how
  // many were removed.
  virtual boost::asio::awaitable<std::size_t> remove_prefix(std::string prefix) = 0;

  // This instance's counters. items/bytes/capacity_bytes are exact for a layer that owns its
  // storage (memory, disk); a shared layer (shared() == true) reports the figures of its last
  // usage("") walk, since other instances change its contents.
  virtual LayerStats stats() const = 0;

  // Items and bytes held under keys starting with `prefix` (admin stats per bucket). May walk
  // the whole index (or, for Redis, SCAN the keyspace): not for the request path.
  virtual boost::asio::awaitable<Usage> usage(std::string prefix) = 0;

  // Whether other instances share this layer's contents (Redis): a purge received from another
  // instance skips it (that instance already purged it), and its capacity is the server's own.
  virtual bool shared() const noexcept { return false; }
};

using BackendPtr = std::shared_ptr<CacheBackend>;

}  // namespace yg::cache
