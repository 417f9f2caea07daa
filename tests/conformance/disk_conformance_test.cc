// The disk layer (cache/disk_backend.h) under the conformance suite: a fresh temporary directory
// for every make(), reopen() over the most recent one, all of them removed after each case.
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "cache/disk_backend.h"
#include "conformance/cache_backend_suite.h"

namespace yg::cache::conformance {
namespace {

namespace fs = std::filesystem;

struct TempDirs {
  std::vector<fs::path> made;

  fs::path make() {
    std::string templ = (fs::temp_directory_path() / "yg-disk-conformance-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed under " + fs::temp_directory_path().string());
    }
    made.emplace_back(templ);
    return made.back();
  }
  void remove_all() {
    for (const auto& d : made) {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
    made.clear();
  }
};

std::shared_ptr<CacheBackend> open_disk(const fs::path& dir, const SuiteOptions& o,
                                        uint64_t inline_body_bytes) {
  DiskBackendOptions d;
  d.dir = dir / "cache";  // a directory open() has to create
  d.capacity_bytes = o.capacity_bytes;
  d.max_item_bytes = o.max_item_bytes;
  d.stale_grace = o.stale_grace;
  d.fsync = false;
  d.io_threads = 2;
  d.inline_body_bytes = inline_body_bytes;
  return DiskBackend::open(d);
}

// inline_body_bytes 0: every hit is a FileBody; a large value: bodies come back in memory (what
// the proxy uses below the sendfile threshold).
BackendFactory disk_factory(std::string name, uint64_t inline_body_bytes) {
  auto dirs = std::make_shared<TempDirs>();
  BackendFactory f;
  f.name = std::move(name);
  f.make = [dirs, inline_body_bytes](const SuiteOptions& o) {
    return open_disk(dirs->make(), o, inline_body_bytes);
  };
  f.cleanup = [dirs] { dirs->remove_all(); };
  f.supports_reopen = true;
  f.reopen = [dirs, inline_body_bytes](const SuiteOptions& o) -> std::shared_ptr<CacheBackend> {
    if (dirs->made.empty()) {
      throw std::logic_error("reopen before make");
    }
    return open_disk(dirs->made.back(), o, inline_body_bytes);
  };
  f.global_eviction_order = true;  // one LRU across the index's shards
  return f;
}

INSTANTIATE_TEST_SUITE_P(Disk, CacheBackendConformance,
                         ::testing::Values(disk_factory("disk_file_bodies", 0),
                                           disk_factory("disk_inline_bodies", 1 << 20)),
                         BackendFactoryName{});

}  // namespace
}  // namespace yg::cache::conformance
