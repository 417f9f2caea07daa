#include "cache/disk_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <latch>
#include <limits>
#include <stdexcept>

#include "core/hex.h"

namespace yg::cache {
namespace asio = boost::asio;

namespace {

constexpr char kMagic[8] = {'Y', 'G', 'D', 'C', 'A', 'C', 'H', 'E'};
constexpr char kTrailer[8] = {'Y', 'G', 'D', 'C', 'E', 'N', 'D', '\n'};
constexpr uint32_t kVersion = 1;
constexpr std::size_t kHeaderSize = 64;
constexpr std::size_t kTrailerSize = sizeof(kTrailer);
constexpr std::size_t kCrcOffset = 12;
constexpr uint64_t kMaxKey = 64 * 1024;     // longer keys are refused (S3 keys are <= 1 KiB)
constexpr uint64_t kMaxMeta = 1024 * 1024;  // key + header fields; a bigger prefix is torn
constexpr std::size_t kFirstRead = 4096;    // one pread covers a small file entirely
constexpr std::size_t kHexName = 32;        // file name: 32 hex digits of SHA-256(key)

// CRC-32 (IEEE 802.3, reflected, as zlib computes it), table-driven.
constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

uint32_t crc32_update(uint32_t crc, const char* p, std::size_t n) {
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) {
    crc = kCrcTable[(crc ^ static_cast<uint8_t>(p[i])) & 0xff] ^ (crc >> 8);
  }
  return ~crc;
}

void put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}
void put_u64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}
uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}

int64_t to_ns(SysTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
SysTime from_ns(int64_t ns) {
  return SysTime(std::chrono::duration_cast<SysTime::duration>(std::chrono::nanoseconds(ns)));
}
int64_t sat_add(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return r;
}

// The header fields of one file, as parsed and checked by read_prefix().
struct Layout {
  uint32_t key_len = 0, headers_len = 0, cc_len = 0, etag_len = 0, lm_len = 0;
  uint64_t body_size = 0;
  int64_t stored_ns = 0, expires_ns = 0;
  uint64_t body_offset = 0;  // kHeaderSize + key + meta
  uint64_t file_size = 0;    // body_offset + body + trailer
};

// The header + key + meta of an entry (everything before the body), checksum included.
std::string encode_prefix(std::string_view key, const Meta& m, uint64_t body_size) {
  std::string out(kHeaderSize, '\0');
  char* h = out.data();
  std::memcpy(h, kMagic, sizeof(kMagic));
  put_u32(h + 8, kVersion);
  put_u32(h + 16, static_cast<uint32_t>(key.size()));
  put_u32(h + 20, static_cast<uint32_t>(m.headers.size()));
  put_u32(h + 24, static_cast<uint32_t>(m.cache_control.size()));
  put_u32(h + 28, static_cast<uint32_t>(m.etag.size()));
  put_u32(h + 32, static_cast<uint32_t>(m.last_modified.size()));
  put_u64(h + 40, body_size);
  put_u64(h + 48, static_cast<uint64_t>(to_ns(m.stored)));
  put_u64(h + 56, static_cast<uint64_t>(to_ns(m.expires)));
  out.reserve(kHeaderSize + key.size() + m.footprint());
  out.append(key).append(m.headers).append(m.cache_control).append(m.etag).append(m.last_modified);
  put_u32(out.data() + kCrcOffset, crc32_update(0, out.data(), out.size()));
  return out;
}

bool pread_full(int fd, char* p, std::size_t n, uint64_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return false;
    }
    p += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return true;
}

bool writev_full(int fd, iovec* iov, int cnt) {
  while (cnt > 0) {
    const ssize_t w = ::writev(fd, iov, cnt);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    if (w <= 0) {
      if (w == 0) {
        errno = EIO;
      }
      return false;
    }
    auto left = static_cast<std::size_t>(w);
    while (cnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --cnt;
    }
    if (cnt > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

// Reads and checks everything before the body of the file open on `fd` (size `st_size`):
// magic, version, sane lengths, exact file size, checksum, trailer. `buf` receives the prefix.
// false: the file is torn or not ours.
bool read_prefix(int fd, uint64_t st_size, std::string& buf, Layout& l) {
  if (st_size < kHeaderSize + kTrailerSize) {
    return false;
  }
  const auto first = static_cast<std::size_t>(std::min<uint64_t>(st_size, kFirstRead));
  buf.resize(first);
  if (!pread_full(fd, buf.data(), first, 0)) {
    return false;
  }
  const char* h = buf.data();
  if (std::memcmp(h, kMagic, sizeof(kMagic)) != 0 || get_u32(h + 8) != kVersion) {
    return false;
  }
  l.key_len = get_u32(h + 16);
  l.headers_len = get_u32(h + 20);
  l.cc_len = get_u32(h + 24);
  l.etag_len = get_u32(h + 28);
  l.lm_len = get_u32(h + 32);
  l.body_size = get_u64(h + 40);
  l.stored_ns = static_cast<int64_t>(get_u64(h + 48));
  l.expires_ns = static_cast<int64_t>(get_u64(h + 56));
  const uint64_t meta = uint64_t{l.key_len} + l.headers_len + l.cc_len + l.etag_len + l.lm_len;
  if (l.key_len == 0 || l.key_len > kMaxKey || meta > kMaxMeta) {
    return false;
  }
  l.body_offset = kHeaderSize + meta;
  if (l.body_size > st_size) {
    return false;
  }
  l.file_size = l.body_offset + l.body_size + kTrailerSize;
  if (l.file_size != st_size) {
    return false;
  }
  if (l.body_offset > first) {
    buf.resize(static_cast<std::size_t>(l.body_offset));
    if (!pread_full(fd, buf.data() + first, buf.size() - first, first)) {
      return false;
    }
  }
  const uint32_t want = get_u32(buf.data() + kCrcOffset);
  put_u32(buf.data() + kCrcOffset, 0);
  const uint32_t got = crc32_update(0, buf.data(), static_cast<std::size_t>(l.body_offset));
  put_u32(buf.data() + kCrcOffset, want);
  if (got != want) {
    return false;
  }
  char tail[kTrailerSize];
  const uint64_t tail_off = l.file_size - kTrailerSize;
  if (tail_off + kTrailerSize <= first) {
    std::memcpy(tail, buf.data() + tail_off, kTrailerSize);
  } else if (!pread_full(fd, tail, kTrailerSize, tail_off)) {
    return false;
  }
  return std::memcmp(tail, kTrailer, kTrailerSize) == 0;
}

std::string_view key_in(const std::string& buf, const Layout& l) {
  return std::string_view(buf).substr(kHeaderSize, l.key_len);
}

bool is_hex_name(std::string_view n, std::size_t len) {
  return n.size() == len && std::all_of(n.begin(), n.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Marks a directory as this layer's (see the constructor).
constexpr const char* kMarker = ".yatagarasu-cache";

[[noreturn]] void fail_dir(const std::filesystem::path& p, const char* what, int err) {
  throw std::runtime_error("disk cache: cannot " + std::string(what) + " " + p.string() + ": " +
                           std::strerror(err));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction and the restart scan

std::shared_ptr<DiskBackend> DiskBackend::open(const DiskBackendOptions& o) {
  auto b = std::make_shared<DiskBackend>(Token{}, o);
  b->scan();
  return b;
}

DiskBackend::DiskBackend(Token, const DiskBackendOptions& o)
    : opt_(o),
      grace_(o.stale_grace),
      tick_epoch_(SteadyClock::now()),
      pool_(std::max<std::size_t>(1, o.io_threads)) {
  shards_.reserve(16);
  for (int i = 0; i < 16; ++i) {
    shards_.push_back(std::make_unique<Shard>());
  }
  std::error_code ec;
  std::filesystem::create_directories(opt_.dir, ec);
  if (ec) {
    pool_.join();
    fail_dir(opt_.dir, "create", ec.value());
  }
  dir_fd_ = ::open(opt_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) {
    const int err = errno;
    pool_.join();
    fail_dir(opt_.dir, "open", err);
  }
  auto fail = [&](const std::filesystem::path& p, const char* what) {
    const int err = errno;
    pool_.join();
    ::close(dir_fd_);
    fail_dir(p, what, err);
  };
  // The restart scan deletes what it does not recognise, so it only works in a directory this
  // layer made its own: an empty one (then marked) or one with the marker. A cache_dir pointed
  // at anything else by mistake is refused, never wiped.
  if (::faccessat(dir_fd_, kMarker, F_OK, 0) != 0) {
    std::error_code iec;
    const bool empty = std::filesystem::is_empty(opt_.dir, iec);
    if (iec || !empty) {
      pool_.join();
      ::close(dir_fd_);
      throw std::runtime_error(
          "disk cache: " + opt_.dir.string() + " is not empty and has no " + kMarker +
          " file: refusing to use it (the cache deletes files it does not recognise); point "
          "cache.disk.cache_dir at an empty or dedicated directory");
    }
    const int m = ::openat(dir_fd_, kMarker, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (m < 0) {
      fail(opt_.dir / kMarker, "create");
    }
    ::close(m);
  }
  if (::mkdirat(dir_fd_, "tmp", 0755) != 0 && errno != EEXIST) {
    fail(opt_.dir / "tmp", "create");
  }
  // A probe write: a directory we cannot write would otherwise refuse every put silently.
  const int probe = ::openat(dir_fd_, "tmp/.probe", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (probe < 0 || ::write(probe, "x", 1) != 1) {
    if (probe >= 0) {
      ::close(probe);
    }
    fail(opt_.dir / "tmp", "write to");
  }
  ::close(probe);
  ::unlinkat(dir_fd_, "tmp/.probe", 0);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 0; i < 256; ++i) {
    const char sub[3] = {kDigits[i >> 4], kDigits[i & 15], '\0'};
    if (::mkdirat(dir_fd_, sub, 0755) != 0 && errno != EEXIST) {
      fail(opt_.dir / sub, "create");
    }
  }
}

DiskBackend::~DiskBackend() {
  pool_.join();
  if (dir_fd_ >= 0) {
    ::close(dir_fd_);
  }
}

void DiskBackend::scan() {
  const auto t_start = SteadyClock::now();
  const int64_t now_ns = to_ns(SysClock::now());
  const int64_t grace_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(grace_).count();

  // Temp files are writes that never committed (a crash mid-put): all of them go.
  if (const int tfd = ::openat(dir_fd_, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC); tfd >= 0) {
    if (DIR* d = ::fdopendir(tfd)) {
      while (const dirent* de = ::readdir(d)) {
        const std::string_view n = de->d_name;
        if (n != "." && n != ".." && ::unlinkat(tfd, de->d_name, 0) == 0) {
          ++report_.orphans_removed;
        }
      }
      ::closedir(d);
    } else {
      ::close(tfd);
    }
  }
  // Top level: only tmp/ and the 256 subdirectories belong here; stray files are orphans.
  // Foreign directories are left alone (never delete a tree we did not write).
  if (const int tfd = ::dup(dir_fd_); tfd >= 0) {
    if (DIR* d = ::fdopendir(tfd)) {
      ::rewinddir(d);
      while (const dirent* de = ::readdir(d)) {
        struct stat st {};
        if (::fstatat(dir_fd_, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode) ||
            std::string_view(de->d_name) == kMarker) {
          continue;
        }
        if (::unlinkat(dir_fd_, de->d_name, 0) == 0) {
          ++report_.orphans_removed;
        }
      }
      ::closedir(d);
    } else {
      ::close(tfd);
    }
  }

  // The 256 subdirectories, shared out between the pool threads and this one.
  struct Found {
    std::string key;
    Node node;
    int64_t mtime_ns = 0;
  };
  struct Part {
    std::vector<Found> found;
    std::size_t torn = 0, orphans = 0, expired = 0;
  };
  const std::size_t workers = std::max<std::size_t>(1, opt_.io_threads) + 1;
  std::vector<Part> parts(workers);
  std::atomic<int> next_sub{0};
  auto work = [&](Part& part) {
    std::string buf;
    static constexpr char kDigits[] = "0123456789abcdef";
    for (int i = next_sub.fetch_add(1); i < 256; i = next_sub.fetch_add(1)) {
      const char sub[3] = {kDigits[i >> 4], kDigits[i & 15], '\0'};
      const int sfd = ::openat(dir_fd_, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (sfd < 0) {
        continue;
      }
      const int lfd = ::dup(sfd);
      DIR* d = lfd >= 0 ? ::fdopendir(lfd) : nullptr;
      if (d == nullptr) {
        if (lfd >= 0) {
          ::close(lfd);
        }
        ::close(sfd);
        continue;
      }
      while (const dirent* de = ::readdir(d)) {
        const std::string_view n = de->d_name;
        if (n == "." || n == "..") {
          continue;
        }
        if (de->d_type == DT_DIR) {
          continue;
        }
        if (!is_hex_name(n, kHexName) || n.substr(0, 2) != std::string_view(sub, 2) ||
            (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)) {
          if (::unlinkat(sfd, de->d_name, 0) == 0) {
            ++part.orphans;
          }
          continue;
        }
        const int fd = ::openat(sfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
          continue;
        }
        struct stat st {};
        Layout l;
        bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                  read_prefix(fd, static_cast<uint64_t>(st.st_size), buf, l);
        ::close(fd);
        Digest dg;
        if (ok) {
          // The name must be the key's hash: a file copied or renamed by hand is not ours.
          dg = digest_of(key_in(buf, l));
          std::string hex;
          append_hex(hex, dg.b.data(), dg.b.size());
          ok = hex == n;
        }
        if (!ok) {
          if (::unlinkat(sfd, de->d_name, 0) == 0) {
            ++part.torn;
          }
          continue;
        }
        if (now_ns >= sat_add(l.expires_ns, grace_ns)) {
          if (::unlinkat(sfd, de->d_name, 0) == 0) {
            ++part.expired;
          }
          continue;
        }
        Found f;
        f.key.assign(key_in(buf, l));
        f.node.file_size = l.file_size;
        f.node.expires_ns = l.expires_ns;
        f.node.digest = dg;
        f.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
        part.found.push_back(std::move(f));
      }
      ::closedir(d);
      ::close(sfd);
    }
  };
  std::latch done(static_cast<std::ptrdiff_t>(workers - 1));
  for (std::size_t w = 1; w < workers; ++w) {
    asio::post(pool_, [&, w] {
      work(parts[w]);
      done.count_down();
    });
  }
  work(parts[0]);
  done.wait();

  // Index the survivors in write order, so the LRU starts with the oldest files at its end.
  std::vector<Found> all;
  for (auto& p : parts) {
    report_.torn_removed += p.torn;
    report_.orphans_removed += p.orphans;
    report_.expired_removed += p.expired;
    std::move(p.found.begin(), p.found.end(), std::back_inserter(all));
  }
  std::sort(all.begin(), all.end(),
            [](const Found& a, const Found& b) { return a.mtime_ns < b.mtime_ns; });
  uint64_t tick = 0;
  uint64_t total = 0;
  for (auto& f : all) {
    Shard& s = shard_of(f.key);
    f.node.gen = next_gen_++;
    f.node.tick = ++tick;
    auto [it, inserted] = s.map.try_emplace(std::move(f.key), f.node);
    if (!inserted) {
      continue;  // impossible: one file per key
    }
    it->second.key = &it->first;
    s.lru.push_front(&it->second);
    it->second.lru = s.lru.begin();
    total += f.node.file_size;
  }
  bytes_ = total;
  tick_base_ = tick + 1;
  report_.loaded = all.size();
  report_.seconds = std::chrono::duration<double>(SteadyClock::now() - t_start).count();
}

// ---------------------------------------------------------------------------------------------
// Index helpers

DiskBackend::Digest DiskBackend::digest_of(std::string_view key) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Digest d;
  if (EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr) == 1 && len >= 16) {
    std::memcpy(d.b.data(), md, d.b.size());
  }
  return d;
}

std::string DiskBackend::rel_path(const Digest& d) {
  std::string hex;
  append_hex(hex, d.b.data(), d.b.size());
  std::string out = hex.substr(0, 2);
  out += '/';
  out += hex;
  return out;
}

std::filesystem::path DiskBackend::path_of(std::string_view key) const {
  return opt_.dir / rel_path(digest_of(key));
}

DiskBackend::Shard& DiskBackend::shard_of(std::string_view key) const {
  return *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

uint64_t DiskBackend::next_tick() const noexcept {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - tick_epoch_);
  return tick_base_ + static_cast<uint64_t>(ns.count());
}

void DiskBackend::erase_locked(Shard& s, Map::iterator it) {
  s.lru.erase(it->second.lru);
  bytes_.fetch_sub(it->second.file_size);
  s.map.erase(it);
}

bool DiskBackend::drop_if_gen(const std::string& key, uint64_t gen) {
  Shard& s = shard_of(key);
  std::lock_guard lk(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end() || it->second.gen != gen) {
    return false;
  }
  erase_locked(s, it);
  return true;
}

bool DiskBackend::evict_one(std::vector<Victim>& out) {
  // Global LRU: every shard's list is ordered by tick, so the oldest entry is one of the tails.
  Shard* best = nullptr;
  uint64_t best_tick = std::numeric_limits<uint64_t>::max();
  for (auto& sp : shards_) {
    std::lock_guard lk(sp->mu);
    if (!sp->lru.empty() && sp->lru.back()->tick < best_tick) {
      best_tick = sp->lru.back()->tick;
      best = sp.get();
    }
  }
  if (best == nullptr) {
    return false;
  }
  std::lock_guard lk(best->mu);
  if (best->lru.empty()) {
    return true;  // emptied meanwhile: the caller looks again
  }
  Node* n = best->lru.back();
  out.push_back(Victim{*n->key, n->digest});
  erase_locked(*best, best->map.find(*n->key));
  evictions_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void DiskBackend::unlink_victims(const std::vector<Victim>& v) {
  for (const auto& x : v) {
    // Under the stripe lock a commit renames and indexes together: if the key is indexed
    // again, the path already holds the newer file (which replaced the victim's).
    std::lock_guard stripe(stripes_[x.digest.b[0]]);
    {
      Shard& s = shard_of(x.key);
      std::lock_guard lk(s.mu);
      if (s.map.contains(x.key)) {
        continue;
      }
    }
    if (::unlinkat(dir_fd_, rel_path(x.digest).c_str(), 0) != 0 && errno != ENOENT) {
      errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void DiskBackend::post_unlink(std::vector<Victim> v) {
  asio::post(pool_, [this, v = std::move(v)] { unlink_victims(v); });
}

// The pool-side halves of get/put/remove. Named coroutines, not capturing lambdas: with GCC 12
// and Boost 1.81, co_awaiting co_spawn(pool, <lambda with a by-value std::string capture>,
// use_awaitable) frees the string through a pointer into a coroutine frame when co_spawn's
// frame is destroyed (reproduced alone under ASan: "free on address which was not malloc()-ed").
asio::awaitable<std::optional<Hit>> DiskBackend::open_hit_task(std::string key, Digest d,
                                                               uint64_t gen, SysTime now) {
  co_return open_hit(key, d, gen, now);
}

asio::awaitable<bool> DiskBackend::write_task(std::string key, EntryPtr e) {
  co_return write_and_commit(key, *e);
}

asio::awaitable<void> DiskBackend::unlink_task(std::vector<Victim> v) {
  unlink_victims(v);
  co_return;
}

// ---------------------------------------------------------------------------------------------
// get

asio::awaitable<std::optional<Hit>> DiskBackend::get(std::string key, SysTime now) {
  Shard& s = shard_of(key);
  const int64_t now_ns = to_ns(now);
  const int64_t grace_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(grace_).count();
  enum { Miss, Expired, Found } state = Miss;
  Digest d;
  uint64_t gen = 0;
  {
    std::lock_guard lk(s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) {
      state = Miss;
    } else if (now_ns >= sat_add(it->second.expires_ns, grace_ns)) {
      state = Expired;
      d = it->second.digest;
      erase_locked(s, it);
    } else {
      state = Found;
      Node& n = it->second;
      n.tick = next_tick();
      s.lru.splice(s.lru.begin(), s.lru, n.lru);
      d = n.digest;
      gen = n.gen;
    }
  }
  if (state != Found) {
    s.misses.fetch_add(1, std::memory_order_relaxed);
    if (state == Expired) {
      s.expirations.fetch_add(1, std::memory_order_relaxed);
      post_unlink({Victim{std::move(key), d}});
    }
    co_return std::nullopt;
  }
  co_return co_await asio::co_spawn(
      pool_.get_executor(), open_hit_task(std::move(key), d, gen, now), asio::use_awaitable);
}

std::optional<Hit> DiskBackend::open_hit(const std::string& key, const Digest& d, uint64_t gen,
                                         SysTime now) {
  Shard& s = shard_of(key);
  const int fd = ::openat(dir_fd_, rel_path(d).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // ENOENT: removed after our lookup (fine), or deleted behind our back (an error).
    if (errno != ENOENT || drop_if_gen(key, gen)) {
      errors_.fetch_add(1, std::memory_order_relaxed);
    }
    s.misses.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  struct stat st {};
  std::string buf;
  Layout l;
  const bool ok =
      ::fstat(fd, &st) == 0 && read_prefix(fd, static_cast<uint64_t>(st.st_size), buf, l);
  if (!ok || key_in(buf, l) != key) {
    // Torn or replaced by hand: drop it. A key mismatch is a hash collision, whose file
    // belongs to the other key: only our index entry goes.
    ::close(fd);
    errors_.fetch_add(1, std::memory_order_relaxed);
    if (drop_if_gen(key, gen) && !ok) {
      unlink_victims({Victim{key, d}});
    }
    s.misses.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  const int64_t grace_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(grace_).count();
  if (to_ns(now) >= sat_add(l.expires_ns, grace_ns)) {
    ::close(fd);  // replaced by an already expired copy since the lookup: the index decides later
    s.misses.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  auto e = std::make_shared<Entry>();
  const char* p = buf.data() + kHeaderSize + l.key_len;
  e->meta.headers.assign(p, l.headers_len);
  p += l.headers_len;
  e->meta.cache_control.assign(p, l.cc_len);
  p += l.cc_len;
  e->meta.etag.assign(p, l.etag_len);
  p += l.etag_len;
  e->meta.last_modified.assign(p, l.lm_len);
  e->meta.size = l.body_size;
  e->meta.stored = from_ns(l.stored_ns);
  e->meta.expires = from_ns(l.expires_ns);
  if (opt_.inline_body_bytes > 0 && l.body_size <= opt_.inline_body_bytes) {
    // Small body: read it here (bytes the prefix read already holds, then the rest), so the
    // hit needs no second trip to a pool thread and holds no descriptor.
    const uint64_t have = buf.size() > l.body_offset
                              ? std::min<uint64_t>(buf.size() - l.body_offset, l.body_size)
                              : 0;
    e->body.resize(l.body_size);
    if (have > 0) {
      std::memcpy(e->body.data(), buf.data() + l.body_offset, have);
    }
    const bool read = have == l.body_size || pread_full(fd, e->body.data() + have,
                                                        l.body_size - have, l.body_offset + have);
    ::close(fd);
    if (!read) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      s.misses.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    s.hits.fetch_add(1, std::memory_order_relaxed);
    return Hit{std::move(e), nullptr};
  }
  s.hits.fetch_add(1, std::memory_order_relaxed);
  return Hit{std::move(e), std::make_shared<const FileBody>(fd, l.body_offset, l.body_size)};
}

// ---------------------------------------------------------------------------------------------
// put

asio::awaitable<bool> DiskBackend::put(std::string key, EntryPtr e) {
  const uint64_t meta = e == nullptr ? 0 : key.size() + e->meta.footprint();
  if (e == nullptr || key.empty() || key.size() > kMaxKey || meta > kMaxMeta ||
      e->body.size() > opt_.max_item_bytes ||
      kHeaderSize + meta + e->body.size() + kTrailerSize > opt_.capacity_bytes) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    co_return false;
  }
  co_return co_await asio::co_spawn(pool_.get_executor(), write_task(std::move(key), std::move(e)),
                                    asio::use_awaitable);
}

bool DiskBackend::write_and_commit(const std::string& key, const Entry& e) {
  const Digest d = digest_of(key);
  const std::string rel = rel_path(d);
  std::string prefix = encode_prefix(key, e.meta, e.body.size());
  const uint64_t file_size = prefix.size() + e.body.size() + kTrailerSize;

  auto fail = [&](const std::string& tmp) {
    if (!tmp.empty()) {
      ::unlinkat(dir_fd_, tmp.c_str(), 0);
    }
    errors_.fetch_add(1, std::memory_order_relaxed);
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
  };

  // 1. The whole file under tmp/, invisible to readers and to the restart scan's index.
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 4 && fd < 0; ++attempt) {
    tmp = "tmp/" + std::to_string(tmp_seq_.fetch_add(1)) + ".tmp";
    fd = ::openat(dir_fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) {
      break;
    }
  }
  if (fd < 0) {
    return fail({});
  }
  iovec iov[3] = {{prefix.data(), prefix.size()},
                  {const_cast<char*>(e.body.data()), e.body.size()},
                  {const_cast<char*>(kTrailer), kTrailerSize}};
  bool ok = writev_full(fd, iov, 3);
  if (ok && opt_.fsync) {
    ok = ::fdatasync(fd) == 0;
  }
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    return fail(tmp);
  }

  // 2. Commit: make room, rename into place and index, atomically with respect to other
  // commits (admit_mu_) and to unlinks of the same path (the stripe).
  std::vector<Victim> victims;
  bool renamed = false;
  {
    std::lock_guard admit(admit_mu_);
    {
      Shard& s = shard_of(key);
      std::lock_guard lk(s.mu);
      if (auto it = s.map.find(key); it != s.map.end()) {
        victims.push_back(Victim{key, it->second.digest});  // the version being replaced
        erase_locked(s, it);
      }
    }
    while (bytes_.load() + file_size > opt_.capacity_bytes && evict_one(victims)) {
    }
    std::lock_guard stripe(stripes_[d.b[0]]);
    renamed = ::renameat(dir_fd_, tmp.c_str(), dir_fd_, rel.c_str()) == 0;
    if (!renamed && errno == ENOENT) {
      // The subdirectory went missing (removed by hand): recreate it once.
      ::mkdirat(dir_fd_, rel.substr(0, 2).c_str(), 0755);
      renamed = ::renameat(dir_fd_, tmp.c_str(), dir_fd_, rel.c_str()) == 0;
    }
    if (renamed) {
      Shard& s = shard_of(key);
      std::lock_guard lk(s.mu);
      auto [it, inserted] = s.map.try_emplace(key);
      Node& n = it->second;
      if (!inserted) {  // not expected: only commits insert, and they hold admit_mu_
        s.lru.erase(n.lru);
        bytes_.fetch_sub(n.file_size);
      }
      n.file_size = file_size;
      n.expires_ns = to_ns(e.meta.expires);
      n.gen = next_gen_.fetch_add(1);
      n.digest = d;
      n.key = &it->first;
      n.tick = next_tick();
      s.lru.push_front(&n);
      n.lru = s.lru.begin();
      bytes_.fetch_add(file_size);
    }
  }
  if (!renamed) {
    unlink_victims(victims);  // also the replaced version: the index no longer has the key
    return fail(tmp);
  }
  if (opt_.fsync) {
    const int dfd = ::openat(dir_fd_, rel.substr(0, 2).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::fsync(dfd) != 0) {
      errors_.fetch_add(1, std::memory_order_relaxed);  // the entry is in place; only durability
    }
    if (dfd >= 0) {
      ::close(dfd);
    }
  }
  inserts_.fetch_add(1, std::memory_order_relaxed);
  unlink_victims(victims);
  return true;
}

// ---------------------------------------------------------------------------------------------
// remove, stats

asio::awaitable<bool> DiskBackend::remove(std::string key) {
  std::vector<Victim> v;
  {
    Shard& s = shard_of(key);
    std::lock_guard lk(s.mu);
    if (auto it = s.map.find(key); it != s.map.end()) {
      v.push_back(Victim{key, it->second.digest});
      erase_locked(s, it);
      s.removals.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (v.empty()) {
    co_return false;
  }
  co_await asio::co_spawn(pool_.get_executor(), unlink_task(std::move(v)), asio::use_awaitable);
  co_return true;
}

asio::awaitable<std::size_t> DiskBackend::remove_prefix(std::string prefix) {
  std::vector<Victim> v;
  for (auto& sp : shards_) {
    std::lock_guard lk(sp->mu);
    std::size_t n = 0;
    for (auto it = sp->map.begin(); it != sp->map.end();) {
      if (std::string_view(it->first).starts_with(prefix)) {
        v.push_back(Victim{it->first, it->second.digest});
        erase_locked(*sp, it++);
        ++n;
      } else {
        ++it;
      }
    }
    sp->removals.fetch_add(n, std::memory_order_relaxed);
  }
  const std::size_t count = v.size();
  if (count > 0) {
    co_await asio::co_spawn(pool_.get_executor(), unlink_task(std::move(v)), asio::use_awaitable);
  }
  co_return count;
}

LayerStats DiskBackend::stats() const {
  LayerStats l;
  for (const auto& sp : shards_) {
    l.hits += sp->hits.load(std::memory_order_relaxed);
    l.misses += sp->misses.load(std::memory_order_relaxed);
    l.expirations += sp->expirations.load(std::memory_order_relaxed);
    l.removals += sp->removals.load(std::memory_order_relaxed);
    std::lock_guard lk(sp->mu);
    l.items += sp->map.size();
  }
  l.inserts = inserts_.load(std::memory_order_relaxed);
  l.rejected = rejected_.load(std::memory_order_relaxed);
  l.evictions = evictions_.load(std::memory_order_relaxed);
  l.errors = errors_.load(std::memory_order_relaxed);
  l.bytes = bytes_.load();
  l.capacity_bytes = opt_.capacity_bytes;
  return l;
}

asio::awaitable<Usage> DiskBackend::usage(std::string prefix) {
  co_return usage_now(prefix);
}

Usage DiskBackend::usage_now(std::string_view prefix) const {
  Usage u;
  for (const auto& sp : shards_) {
    std::lock_guard lk(sp->mu);
    for (const auto& [k, n] : sp->map) {
      if (std::string_view(k).starts_with(prefix)) {
        ++u.items;
        u.bytes += n.file_size;
      }
    }
  }
  return u;
}

}  // namespace yg::cache
