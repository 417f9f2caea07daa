#pragma once
// The disk layer (FEATURES.md CACHE-3): one file per entry under `dir`, an in-memory index
// rebuilt from the files at start, byte-bounded with exact accounting, LRU eviction, atomic
// writes (temp file + rename, optional fsync), hits served as a FileBody (an open descriptor
// and the body's offset) so the caller can sendfile it.
//
// File format (version 1, all integers little-endian). The file of `key` is
// `<dir>/<h[0..2)>/<h>` where h is the first 32 hex digits of SHA-256(key):
//
//   off  size  field
//     0     8  magic "YGDCACHE"
//     8     4  format version (1)
//    12     4  CRC-32 (IEEE) of the 64 header bytes (this field zeroed), key and meta
//    16     4  key length
//    20     4  headers length          (Meta::headers)
//    24     4  cache_control length
//    28     4  etag length
//    32     4  last_modified length
//    36     4  flags (0)
//    40     8  body size
//    48     8  stored, int64 nanoseconds since the Unix epoch
//    56     8  expires, int64 nanoseconds since the Unix epoch
//    64        key, headers, cache_control, etag, last_modified   (the "prefix" ends here)
//              body                                                (at body_offset)
//              trailer magic "YGDCEND\n" (8 bytes)
//
// The stored key detects hash collisions and foreign files; the lengths give the exact file
// size, so a short or long file is torn; the trailer catches a file whose tail never reached
// the disk. The body is not checksummed (that would mean reading it on every hit or at start):
// a crash of the process (kill -9) loses nothing written before rename, only an unsynced power
// loss with `fsync: false` can leave zeroed blocks inside a body.
//
// Index: 16 shards (mutex + unordered_map + LRU list); a miss or an expiry is answered from it
// without I/O, a get never takes a global lock. The index keeps sizes, expiry and LRU position,
// not the metadata: a hit reads the metadata from the file it opened, so what it returns always
// matches that file even if a put replaced it meanwhile.
//
// Accounting: `bytes` is the sum of the indexed files' sizes (header + key + meta + body +
// trailer). A put evicts least-recently-used entries (by last hit or insert, across all shards)
// until it fits, under one admission mutex that only puts take.
//
// Threads: one DiskBackend is shared by all workers; every method may be called from any
// thread. All file I/O runs on the backend's own thread pool; get/put/remove complete on the
// caller's executor. A removed or evicted entry leaves the index at once; its file is unlinked
// on the pool (a hit that already opened it keeps reading through its descriptor). The
// destructor waits for the pool's pending work; callers keep the backend alive while awaiting.

#include <array>
#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/backend.h"

namespace yg::cache {

struct DiskBackendOptions {
  std::filesystem::path dir;
  uint64_t capacity_bytes = 0;  // bound on the sum of file sizes
  uint64_t max_item_bytes = 0;  // bound on one body
  std::chrono::seconds stale_grace{0};
  bool fsync = false;  // fdatasync each file and fsync its directory before a put completes
  std::size_t io_threads = 2;
  // Bodies up to this size come back in memory (Hit::entry->body, no FileBody): one trip to a
  // pool thread per hit. Larger ones come back as a FileBody (sendfile).
  uint64_t inline_body_bytes = 0;
};

// What open() found on disk.
struct DiskStartupReport {
  std::size_t loaded = 0;           // entries indexed
  std::size_t torn_removed = 0;     // short, bad magic/trailer/checksum/length, wrong key hash
  std::size_t orphans_removed = 0;  // temp files and files outside the naming scheme
  std::size_t expired_removed = 0;  // past expires + stale grace at scan time
  double seconds = 0;               // wall time of the scan
};

class DiskBackend final : public CacheBackend {
 public:
  // Creates `o.dir` if missing, checks it is writable, clears its temp files and rebuilds the
  // index from the entry files (blocking: run it before the workers start). Throws
  // std::runtime_error naming the path when the directory cannot be created or written.
  static std::shared_ptr<DiskBackend> open(const DiskBackendOptions& o);

  ~DiskBackend() override;
  DiskBackend(const DiskBackend&) = delete;
  DiskBackend& operator=(const DiskBackend&) = delete;

  std::string_view name() const noexcept override { return "disk"; }
  boost::asio::awaitable<std::optional<Hit>> get(std::string key, SysTime now) override;
  boost::asio::awaitable<bool> put(std::string key, EntryPtr e) override;
  boost::asio::awaitable<bool> remove(std::string key) override;
  boost::asio::awaitable<std::size_t> remove_prefix(std::string prefix) override;
  LayerStats stats() const override;
  boost::asio::awaitable<Usage> usage(std::string prefix) override;
  // Walks the in-memory index (no file I/O), synchronously.
  Usage usage_now(std::string_view prefix) const;

  const DiskStartupReport& startup_report() const noexcept { return report_; }
  // The file that holds (or would hold) `key`.
  std::filesystem::path path_of(std::string_view key) const;

 private:
  struct Token {};  // open() is the only way in

 public:
  DiskBackend(Token, const DiskBackendOptions& o);

 private:
  struct Digest {
    std::array<uint8_t, 16> b{};  // the first 128 bits of SHA-256(key)
  };
  struct Node;
  using Lru = std::list<Node*>;  // most recent first
  struct Node {
    uint64_t file_size = 0;
    int64_t expires_ns = 0;  // meta.expires, to answer an expiry without I/O
    uint64_t gen = 0;        // unique per committed file: a late drop only removes its own file
    uint64_t tick = 0;       // last hit or insert; larger is more recent
    Digest digest;
    const std::string* key = nullptr;  // the map's key
    Lru::iterator lru;                 // position in Shard::lru
  };
  using Map = std::unordered_map<std::string, Node>;
  struct alignas(64) Shard {
    mutable std::mutex mu;
    Map map;
    Lru lru;
    std::atomic<uint64_t> hits{0}, misses{0}, expirations{0}, removals{0};
  };
  // An entry that left the index and whose file is to be unlinked.
  struct Victim {
    std::string key;
    Digest digest;
  };
  Shard& shard_of(std::string_view key) const;
  uint64_t next_tick() const noexcept;
  // Removes `it` from its shard (held) and from the byte count.
  void erase_locked(Shard& s, Map::iterator it);
  // Removes `key` if it is still the file `gen`; returns whether it did.
  bool drop_if_gen(const std::string& key, uint64_t gen);
  // Evicts the least recently used entry of the whole index; false when it is empty.
  bool evict_one(std::vector<Victim>& out);
  // Unlinks each victim's file unless its key was stored again meanwhile (pool thread).
  void unlink_victims(const std::vector<Victim>& v);
  void post_unlink(std::vector<Victim> v);

  // Pool-side coroutines (run on pool_ by co_spawn).
  boost::asio::awaitable<std::optional<Hit>> open_hit_task(std::string key, Digest d, uint64_t gen,
                                                           SysTime now);
  boost::asio::awaitable<bool> write_task(std::string key, EntryPtr e);
  boost::asio::awaitable<void> unlink_task(std::vector<Victim> v);

  std::optional<Hit> open_hit(const std::string& key, const Digest& d, uint64_t gen,
                              SysTime now);                       // pool thread
  bool write_and_commit(const std::string& key, const Entry& e);  // pool thread
  void scan();                                                    // open() only

  static Digest digest_of(std::string_view key);
  static std::string rel_path(const Digest& d);  // "ab/ab01..." relative to the directory

  DiskBackendOptions opt_;
  SysTime::duration grace_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::array<std::mutex, 256> stripes_;  // by the digest's first byte: rename vs unlink
  std::mutex admit_mu_;                  // put commits: evict + rename + insert
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> inserts_{0}, rejected_{0}, evictions_{0}, errors_{0};
  std::atomic<uint64_t> next_gen_{1};
  std::atomic<uint64_t> tmp_seq_{0};
  SteadyClock::time_point tick_epoch_;
  uint64_t tick_base_ = 1;
  int dir_fd_ = -1;
  DiskStartupReport report_;
  boost::asio::thread_pool pool_;  // last member: joined first, in the destructor body
};

}  // namespace yg::cache
