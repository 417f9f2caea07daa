// DiskBackend against real files in temp directories: bodies through the FileBody descriptor,
// metadata round trip, exact accounting, LRU eviction, limits, TTL, restart, torn files, write
// failures (a full tmpfs and RLIMIT_FSIZE), purges, concurrency.
#include "cache/disk_backend.h"
#include "support/run_coro.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace yg::cache {
namespace {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using std::chrono::seconds;

// Later than the real clock: the restart scan (which uses it) must not find these expired.
const SysTime t0{std::chrono::hours(24 * 365 * 130)};

using test::run_coro;

class TempDir {
 public:
  TempDir() {
    std::string t = (fs::temp_directory_path() / "yg-disk-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

EntryPtr entry(std::string body, SysTime expires = t0 + seconds(3600)) {
  auto e = std::make_shared<Entry>();
  e->meta.headers = "Content-Type: text/plain\r\nx-amz-meta-a: b\r\n";
  e->meta.cache_control = "max-age=60";
  e->meta.etag = "\"0123abcd\"";
  e->meta.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
  e->meta.size = body.size();
  e->meta.stored = t0 - seconds(1);
  e->meta.expires = expires;
  e->body = std::move(body);
  return e;
}

DiskBackendOptions options(const fs::path& dir, uint64_t capacity = 64 << 20,
                           uint64_t max_item = 8 << 20) {
  DiskBackendOptions o;
  o.dir = dir;
  o.capacity_bytes = capacity;
  o.max_item_bytes = max_item;
  return o;
}

std::string read_body(const Hit& h) {
  std::string out(h.file->size(), '\0');
  const ssize_t r =
      ::pread(h.file->fd(), out.data(), out.size(), static_cast<off_t>(h.file->offset()));
  EXPECT_EQ(r, static_cast<ssize_t>(out.size()));
  return out;
}

// Entry files on disk (not tmp/), and the sum of their sizes.
std::pair<std::size_t, uint64_t> files_on_disk(const fs::path& dir) {
  std::size_t n = 0;
  uint64_t bytes = 0;
  for (const auto& sub : fs::directory_iterator(dir)) {
    if (!sub.is_directory() || sub.path().filename() == "tmp") {
      continue;
    }
    for (const auto& f : fs::directory_iterator(sub.path())) {
      ++n;
      bytes += f.file_size();
    }
  }
  return {n, bytes};
}

std::size_t tmp_files(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir / "tmp"), {}));
}

// A hit returns the metadata in the entry and the body as a descriptor + offset; the caller
// resumes on its own thread.
TEST(DiskBackend, ServesBodyThroughFileDescriptor) {
  TempDir d;
  auto b = DiskBackend::open(options(d.path()));
  EXPECT_EQ(b->name(), "disk");
  const std::string body(100'000, 'q');
  ASSERT_TRUE(run_coro(b->put("/bucket/key", entry(body))));
  asio::io_context io;
  std::thread::id resumed;
  auto fut = asio::co_spawn(
      io,
      [&]() -> asio::awaitable<std::optional<Hit>> {
        auto h = co_await b->get("/bucket/key", t0);
        resumed = std::this_thread::get_id();
        co_return h;
      },
      asio::use_future);
  io.run();
  auto h = fut.get();
  EXPECT_EQ(resumed, std::this_thread::get_id());
  ASSERT_TRUE(h.has_value());
  ASSERT_NE(h->file, nullptr);
  EXPECT_TRUE(h->entry->body.empty());
  EXPECT_EQ(h->file->size(), body.size());
  EXPECT_EQ(read_body(*h), body);
  EXPECT_FALSE(run_coro(b->get("/bucket/other", t0)).has_value());
  const auto st = b->stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.inserts, 1u);
  EXPECT_EQ(st.items, 1u);
}

// Every Meta field comes back as stored, timestamps to the nanosecond; an empty body works.
// The restart scan deletes what it does not recognise: a cache_dir that is neither empty nor
// marked as a cache (a mistake in the config) is refused, and nothing in it is touched.
TEST(DiskBackend, RefusesANonEmptyDirectoryThatIsNotACache) {
  TempDir d;
  fs::create_directories(d.path() / "data");
  { std::ofstream(d.path() / "data" / "precious.txt") << "keep me"; }
  { std::ofstream(d.path() / "notes.txt") << "keep me too"; }
  try {
    DiskBackend::open(options(d.path() / "data"));
    FAIL() << "a non-empty directory without the marker was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not empty"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(d.path() / "data" / "precious.txt"));
  // An empty (or missing) directory becomes a cache and is marked; reopening it works, and a
  // stray file dropped into a marked cache is removed by the scan.
  auto b = DiskBackend::open(options(d.path() / "cache"));
  EXPECT_TRUE(fs::exists(d.path() / "cache" / ".yatagarasu-cache"));
  b.reset();
  { std::ofstream(d.path() / "cache" / "stray.bin") << "x"; }
  b = DiskBackend::open(options(d.path() / "cache"));
  EXPECT_FALSE(fs::exists(d.path() / "cache" / "stray.bin"));
  EXPECT_TRUE(fs::exists(d.path() / "cache" / ".yatagarasu-cache"));
  EXPECT_TRUE(fs::exists(d.path() / "notes.txt"));
}

TEST(DiskBackend, RoundTripsAllMetaFields) {
  TempDir d;
  auto b = DiskBackend::open(options(d.path()));
  auto e = std::make_shared<Entry>(*entry("abc"));
  auto m = std::const_pointer_cast<Entry>(e);
  m->meta.stored = t0 + std::chrono::nanoseconds(123456789);
  m->meta.expires = t0 + seconds(77) + std::chrono::nanoseconds(5);
  ASSERT_TRUE(run_coro(b->put("k", e)));
  auto h = run_coro(b->get("k", t0));
  ASSERT_TRUE(h.has_value());
  const Meta& got = h->meta();
  EXPECT_EQ(got.headers, e->meta.headers);
  EXPECT_EQ(got.cache_control, e->meta.cache_control);
  EXPECT_EQ(got.etag, e->meta.etag);
  EXPECT_EQ(got.last_modified, e->meta.last_modified);
  EXPECT_EQ(got.size, 3u);
  EXPECT_EQ(got.stored, e->meta.stored);
  EXPECT_EQ(got.expires, e->meta.expires);

  auto empty = std::make_shared<Entry>();
  empty->meta.expires = t0 + seconds(5);
  ASSERT_TRUE(run_coro(b->put("empty", empty)));
  auto h2 = run_coro(b->get("empty", t0));
  ASSERT_TRUE(h2.has_value());
  EXPECT_EQ(h2->file->size(), 0u);
  EXPECT_TRUE(h2->meta().headers.empty());
  EXPECT_TRUE(h2->meta().etag.empty());
}

// bytes is the sum of the files' real sizes, through overwrites and removals.
TEST(DiskBackend, AccountsExactFileSizes) {
  TempDir d;
  auto b = DiskBackend::open(options(d.path()));
  ASSERT_TRUE(run_coro(b->put("a", entry(std::string(1000, 'a')))));
  const auto size_a = fs::file_size(b->path_of("a"));
  EXPECT_EQ(b->stats().bytes, size_a);
  ASSERT_TRUE(run_coro(b->put("b", entry(std::string(5000, 'b')))));
  EXPECT_EQ(b->stats().bytes, size_a + fs::file_size(b->path_of("b")));
  ASSERT_TRUE(run_coro(b->put("a", entry(std::string(3000, 'A')))));  // overwrite: counted once
  const auto size_a2 = fs::file_size(b->path_of("a"));
  EXPECT_EQ(size_a2, size_a + 2000);
  EXPECT_EQ(b->stats().bytes, size_a2 + fs::file_size(b->path_of("b")));
  EXPECT_EQ(b->stats().items, 2u);
  EXPECT_EQ(files_on_disk(d.path()).second, b->stats().bytes);
  EXPECT_EQ(read_body(*run_coro(b->get("a", t0))), std::string(3000, 'A'));
  EXPECT_TRUE(run_coro(b->remove("a")));
  EXPECT_FALSE(run_coro(b->remove("a")));
  EXPECT_FALSE(fs::exists(b->path_of("a")));
  EXPECT_EQ(b->stats().bytes, fs::file_size(b->path_of("b")));
  EXPECT_TRUE(run_coro(b->remove("b")));
  EXPECT_EQ(b->stats().bytes, 0u);
  EXPECT_EQ(b->stats().items, 0u);
  EXPECT_EQ(b->stats().removals, 2u);
  EXPECT_EQ(files_on_disk(d.path()).first, 0u);
}

// When full, the least recently used entry goes: a recently read one survives.
TEST(DiskBackend, EvictsLeastRecentlyUsed) {
  TempDir d;
  // Measure one file, then allow exactly three.
  uint64_t one = 0;
  {
    TempDir probe;
    auto p = DiskBackend::open(options(probe.path()));
    ASSERT_TRUE(run_coro(p->put("k0", entry(std::string(4000, 'x')))));
    one = p->stats().bytes;
  }
  auto b = DiskBackend::open(options(d.path(), 3 * one + 10));
  for (const char* k : {"k0", "k1", "k2"}) {
    ASSERT_TRUE(run_coro(b->put(k, entry(std::string(4000, 'x')))));
  }
  ASSERT_TRUE(run_coro(b->get("k0", t0)).has_value());  // k0 is now the most recent
  ASSERT_TRUE(run_coro(b->put("k3", entry(std::string(4000, 'x')))));
  EXPECT_TRUE(run_coro(b->get("k0", t0)).has_value());
  EXPECT_FALSE(run_coro(b->get("k1", t0)).has_value());
  EXPECT_FALSE(fs::exists(b->path_of("k1")));
  EXPECT_TRUE(run_coro(b->get("k2", t0)).has_value());
  EXPECT_TRUE(run_coro(b->get("k3", t0)).has_value());
  const auto st = b->stats();
  EXPECT_EQ(st.evictions, 1u);
  EXPECT_EQ(st.items, 3u);
  EXPECT_LE(st.bytes, st.capacity_bytes);
  EXPECT_EQ(files_on_disk(d.path()).second, st.bytes);
}

// Bodies over the item limit, and files over the whole budget, are refused.
TEST(DiskBackend, RefusesOversizedEntries) {
  TempDir d;
  auto b = DiskBackend::open(options(d.path(), 20'000, 10'000));
  EXPECT_FALSE(run_coro(b->put("big", entry(std::string(10'001, 'x')))));
  EXPECT_TRUE(run_coro(b->put("limit", entry(std::string(10'000, 'x')))));
  auto b2 = DiskBackend::open(options(d.path() / "small", 5'000, 10'000));
  EXPECT_FALSE(run_coro(b2->put("over-capacity", entry(std::string(6'000, 'x')))));
  EXPECT_EQ(b->stats().rejected, 1u);
  EXPECT_EQ(b2->stats().rejected, 1u);
  EXPECT_FALSE(run_coro(b->get("big", t0)).has_value());
  EXPECT_EQ(b2->stats().errors, 0u);
}

// An entry is served until expires + grace, then dropped and counted.
TEST(DiskBackend, ExpiresAfterTtlPlusGrace) {
  TempDir d;
  auto o = options(d.path());
  o.stale_grace = seconds(10);
  auto b = DiskBackend::open(o);
  ASSERT_TRUE(run_coro(b->put("k", entry("body", t0 + seconds(5)))));
  EXPECT_TRUE(run_coro(b->get("k", t0 + seconds(4))).has_value());
  EXPECT_TRUE(run_coro(b->get("k", t0 + seconds(14))).has_value());  // stale, within grace
  EXPECT_FALSE(run_coro(b->get("k", t0 + seconds(15))).has_value());
  const auto st = b->stats();
  EXPECT_EQ(st.expirations, 1u);
  EXPECT_EQ(st.items, 0u);
  EXPECT_EQ(st.bytes, 0u);
  const auto path = b->path_of("k");
  b.reset();  // joins the pool: the posted unlink has run
  EXPECT_FALSE(fs::exists(path));
}

// A restart rebuilds the same index (entries, bytes) from the files.
TEST(DiskBackend, RestartRebuildsIndex) {
  TempDir d;
  LayerStats before;
  {
    auto b = DiskBackend::open(options(d.path()));
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(run_coro(
          b->put("/b/key" + std::to_string(i), entry(std::string(100 + i, 'a' + i % 26)))));
    }
    before = b->stats();
  }
  auto b = DiskBackend::open(options(d.path()));
  const auto& r = b->startup_report();
  EXPECT_EQ(r.loaded, 50u);
  EXPECT_EQ(r.torn_removed + r.orphans_removed + r.expired_removed, 0u);
  EXPECT_GE(r.seconds, 0.0);
  EXPECT_EQ(b->stats().items, 50u);
  EXPECT_EQ(b->stats().bytes, before.bytes);
  for (int i = 0; i < 50; ++i) {
    auto h = run_coro(b->get("/b/key" + std::to_string(i), t0));
    ASSERT_TRUE(h.has_value()) << i;
    EXPECT_EQ(read_body(*h), std::string(100 + i, 'a' + i % 26));
    EXPECT_EQ(h->meta().etag, "\"0123abcd\"");
  }
  EXPECT_EQ(b->usage_now("/b/").items, 50u);
  EXPECT_EQ(b->usage_now("/b/").bytes, before.bytes);
}

void corrupt(const fs::path& p, uint64_t off) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(off));
  char c = 0;
  f.read(&c, 1);
  f.seekp(static_cast<std::streamoff>(off));
  c = static_cast<char>(c ^ 0x5a);
  f.write(&c, 1);
}

// Torn files (short, bad header byte, bad trailer, misnamed copy), temp files, foreign files
// and expired entries are removed at start and counted; good entries load.
TEST(DiskBackend, StartupDropsTornOrphanAndExpiredFiles) {
  TempDir d;
  const SysTime past = SysClock::now() - std::chrono::hours(1);
  const SysTime future = SysClock::now() + std::chrono::hours(1);
  fs::path truncated, bad_header, bad_trailer, good, expired;
  {
    auto b = DiskBackend::open(options(d.path()));
    for (const char* k : {"truncated", "bad-header", "bad-trailer", "good"}) {
      ASSERT_TRUE(run_coro(b->put(k, entry(std::string(3000, 'z'), future))));
    }
    ASSERT_TRUE(run_coro(b->put("expired", entry("old", past))));
    truncated = b->path_of("truncated");
    bad_header = b->path_of("bad-header");
    bad_trailer = b->path_of("bad-trailer");
    good = b->path_of("good");
    expired = b->path_of("expired");
  }
  fs::resize_file(truncated, fs::file_size(truncated) - 100);
  corrupt(bad_header, 50);  // inside the stored time: the checksum no longer matches
  corrupt(bad_trailer, fs::file_size(bad_trailer) - 3);
  // A copy of a good file under another (well-formed) name: its key does not hash to it.
  const auto sub = good.parent_path();
  const fs::path misnamed = sub / (sub.filename().string() + std::string(30, '0'));
  fs::copy_file(good, misnamed);
  std::ofstream(d.path() / "tmp" / "123.tmp") << "half a write";
  std::ofstream(sub / "notes.txt") << "foreign";
  std::ofstream(d.path() / "README") << "foreign";
  fs::create_directory(d.path() / "someone-elses-dir");

  auto b = DiskBackend::open(options(d.path()));
  const auto& r = b->startup_report();
  EXPECT_EQ(r.loaded, 1u);
  EXPECT_EQ(r.torn_removed, 4u);
  EXPECT_EQ(r.orphans_removed, 3u);
  EXPECT_EQ(r.expired_removed, 1u);
  for (const auto& p : {truncated, bad_header, bad_trailer, misnamed, expired}) {
    EXPECT_FALSE(fs::exists(p)) << p;
  }
  EXPECT_TRUE(fs::exists(good));
  EXPECT_TRUE(fs::exists(d.path() / "someone-elses-dir"));
  EXPECT_EQ(tmp_files(d.path()), 0u);
  EXPECT_EQ(b->stats().bytes, fs::file_size(good));
  auto h = run_coro(b->get("good", SysClock::now()));
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(read_body(*h), std::string(3000, 'z'));
}

// kill -9 while puts are being written leaves at worst temp files: the restart removes them,
// finds no torn entry, and every loaded entry reads back whole.
TEST(DiskBackend, SurvivesKillDuringWrites) {
  TempDir d;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    auto b = DiskBackend::open(options(d.path(), 1ull << 30, 8 << 20));
    for (int i = 0;; ++i) {
      run_coro(b->put("k" + std::to_string(i % 64), entry(std::string(256 * 1024, 'a' + i % 26))));
      if (i == 8) {
        (void)!::write(ready[1], "x", 1);
      }
    }
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));

  auto b = DiskBackend::open(options(d.path(), 1ull << 30, 8 << 20));
  const auto& r = b->startup_report();
  EXPECT_EQ(r.torn_removed, 0u);
  EXPECT_GE(r.loaded, 9u);
  EXPECT_EQ(tmp_files(d.path()), 0u);
  EXPECT_EQ(files_on_disk(d.path()).second, b->stats().bytes);
  for (int i = 0; i < 64; ++i) {
    if (auto h = run_coro(b->get("k" + std::to_string(i), t0))) {
      const std::string body = read_body(*h);
      ASSERT_EQ(body.size(), 256u * 1024);
      EXPECT_EQ(body.find_first_not_of(body[0]), std::string::npos) << i;
    }
  }
}

// A file damaged after start is detected on the hit: a miss, an error, and the entry leaves.
TEST(DiskBackend, DetectsFileDamagedAtRuntime) {
  TempDir d;
  auto b = DiskBackend::open(options(d.path()));
  ASSERT_TRUE(run_coro(b->put("k", entry(std::string(2000, 'k')))));
  fs::resize_file(b->path_of("k"), 500);
  EXPECT_FALSE(run_coro(b->get("k", t0)).has_value());
  EXPECT_EQ(b->stats().errors, 1u);
  EXPECT_EQ(b->stats().items, 0u);
  EXPECT_EQ(b->stats().bytes, 0u);
  EXPECT_FALSE(fs::exists(b->path_of("k")));
}

// An evicted or removed file stays readable through a descriptor a hit already holds.
TEST(DiskBackend, HitSurvivesRemoval) {
  TempDir d;
  auto b = DiskBackend::open(options(d.path()));
  ASSERT_TRUE(run_coro(b->put("k", entry(std::string(9000, 'r')))));
  auto h = run_coro(b->get("k", t0));
  ASSERT_TRUE(h.has_value());
  ASSERT_TRUE(run_coro(b->remove("k")));
  EXPECT_FALSE(fs::exists(b->path_of("k")));
  EXPECT_EQ(read_body(*h), std::string(9000, 'r'));
}

// Checks that a failed put leaves nothing behind and the backend keeps serving.
void expect_failed_put_is_harmless(DiskBackend& b, const fs::path& dir, std::string big) {
  ASSERT_TRUE(run_coro(b.put("small", entry("small body"))));
  const auto bytes = b.stats().bytes;
  EXPECT_FALSE(run_coro(b.put("big", entry(std::move(big)))));
  const auto st = b.stats();
  EXPECT_EQ(st.errors, 1u);
  EXPECT_EQ(st.rejected, 1u);
  EXPECT_EQ(st.items, 1u);
  EXPECT_EQ(st.bytes, bytes);
  EXPECT_EQ(tmp_files(dir), 0u);
  EXPECT_FALSE(fs::exists(b.path_of("big")));
  EXPECT_FALSE(run_coro(b.get("big", t0)).has_value());
  auto h = run_coro(b.get("small", t0));
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(read_body(*h), "small body");
  EXPECT_TRUE(run_coro(b.put("small2", entry("still works"))));
  EXPECT_TRUE(run_coro(b.get("small2", t0)).has_value());
}

// ENOSPC on a full 256 KiB tmpfs (we run as root); falls back to EFBIG via RLIMIT_FSIZE when
// mounting is not allowed, so the failure path is always exercised.
TEST(DiskBackend, FullDiskFailsThePutOnly) {
  TempDir mnt;
  const bool mounted = ::mount("tmpfs", mnt.path().c_str(), "tmpfs", 0, "size=256k") == 0;
  {
    auto b = DiskBackend::open(options(mnt.path() / "cache"));
    if (mounted) {
      expect_failed_put_is_harmless(*b, mnt.path() / "cache", std::string(512 * 1024, 'x'));
    } else {
      rlimit old{};
      ::getrlimit(RLIMIT_FSIZE, &old);
      auto prev = std::signal(SIGXFSZ, SIG_IGN);
      rlimit small = old;
      small.rlim_cur = 64 * 1024;
      ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
      expect_failed_put_is_harmless(*b, mnt.path() / "cache", std::string(128 * 1024, 'x'));
      ::setrlimit(RLIMIT_FSIZE, &old);
      std::signal(SIGXFSZ, prev);
    }
  }
  if (mounted) {
    EXPECT_EQ(::umount2(mnt.path().c_str(), MNT_DETACH), 0);
  }
}

// EFBIG (a file size limit) is handled the same way.
TEST(DiskBackend, FileSizeLimitFailsThePutOnly) {
  TempDir d;
  auto b = DiskBackend::open(options(d.path()));
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto prev = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  expect_failed_put_is_harmless(*b, d.path(), std::string(128 * 1024, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, prev);
}

// remove_prefix removes matching keys (files too) and says how many; "" removes everything.
TEST(DiskBackend, RemovesByPrefix) {
  TempDir d;
  auto b = DiskBackend::open(options(d.path()));
  for (const char* k : {"/b1/x", "/b1/y", "/b2/z", "/b10/w"}) {
    ASSERT_TRUE(run_coro(b->put(k, entry(k))));
  }
  EXPECT_EQ(b->usage_now("/b1/").items, 2u);
  EXPECT_EQ(run_coro(b->remove_prefix("/b1/")), 2u);
  EXPECT_FALSE(run_coro(b->get("/b1/x", t0)).has_value());
  EXPECT_TRUE(run_coro(b->get("/b10/w", t0)).has_value());
  EXPECT_EQ(files_on_disk(d.path()).first, 2u);
  EXPECT_EQ(b->usage_now("").bytes, b->stats().bytes);
  EXPECT_EQ(run_coro(b->remove_prefix("")), 2u);
  EXPECT_EQ(b->stats().items, 0u);
  EXPECT_EQ(b->stats().bytes, 0u);
  EXPECT_EQ(b->stats().removals, 4u);
  EXPECT_EQ(files_on_disk(d.path()).first, 0u);
}

// The directory must be creatable: the error names it.
TEST(DiskBackend, OpenFailsWithThePathInTheMessage) {
  TempDir d;
  std::ofstream(d.path() / "file") << "x";
  const fs::path bad = d.path() / "file" / "cache";
  try {
    DiskBackend::open(options(bad));
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
}

// Four threads put, read and overwrite overlapping keys under a tight budget: every hit's
// body belongs to its key, the budget holds, and the accounting matches the files.
TEST(DiskBackend, ConcurrentGetsAndPuts) {
  TempDir d;
  auto b = DiskBackend::open(options(d.path(), 200 * 1024, 64 * 1024));
  std::atomic<int> bad{0}, hits{0};
  auto body_of = [](int k, int version) {
    const std::string tag = "k" + std::to_string(k) + "-";
    std::string s;
    while (s.size() < static_cast<std::size_t>(500 + (k * 37 + version * 101) % 3000)) {
      s += tag;
    }
    return s;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      asio::io_context io;
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            std::mt19937 rng(static_cast<uint32_t>(t));
            for (int i = 0; i < 400; ++i) {
              const int k = static_cast<int>(rng() % 100);
              const std::string key = "/b/" + std::to_string(k);
              if (rng() % 3 == 0) {
                co_await b->put(key, entry(body_of(k, static_cast<int>(rng() % 5))));
              } else if (auto h = co_await b->get(key, t0)) {
                ++hits;
                std::string body(h->file->size(), '\0');
                if (::pread(h->file->fd(), body.data(), body.size(),
                            static_cast<off_t>(h->file->offset())) !=
                        static_cast<ssize_t>(body.size()) ||
                    body.rfind("k" + std::to_string(k) + "-", 0) != 0) {
                  ++bad;
                }
              }
            }
          },
          asio::use_future);
      io.run();
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(hits.load(), 0);
  const auto st = b->stats();
  EXPECT_LE(st.bytes, st.capacity_bytes);
  EXPECT_EQ(st.errors, 0u);
  b.reset();
  // After a restart the index is exactly what was on disk.
  auto b2 = DiskBackend::open(options(d.path(), 200 * 1024, 64 * 1024));
  EXPECT_EQ(b2->stats().items, st.items);
  EXPECT_EQ(b2->stats().bytes, st.bytes);
  EXPECT_EQ(files_on_disk(d.path()), std::make_pair(std::size_t{st.items}, st.bytes));
}

}  // namespace
}  // namespace yg::cache
