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

std::shared_ptr<CacheBackend> open_disk(const fs::path& dir, const SuiteOptions& o) {
  DiskBackendOptions d;
  d.dir = dir / "cache";  // a directory open() has to create
  d.capacity_bytes = o.capacity_bytes;
  d.max_item_bytes = o.max_item_bytes;
  d.stale_grace = o.stale_grace;
  d.fsync = false;
  d.io_threads = 2;
  return DiskBackend::open(d);
}

BackendFactory disk_factory() {
  auto dirs = std::make_shared<TempDirs>();
  BackendFactory f;
  f.name = "disk";
  f.make = [dirs](const SuiteOptions& o) { return open_disk(dirs->make(), o); };
  f.cleanup = [dirs] { dirs->remove_all(); };
  f.supports_reopen = true;
  f.reopen = [dirs](const SuiteOptions& o) -> std::shared_ptr<CacheBackend> {
    if (dirs->made.empty()) {
      throw std::logic_error("reopen before make");
    }
    return open_disk(dirs->made.back(), o);
  };
  f.global_eviction_order = true;  // one LRU across the index's shards
  return f;
}

INSTANTIATE_TEST_SUITE_P(Disk, CacheBackendConformance, ::testing::Values(disk_factory()),
                         BackendFactoryName{});

}  // namespace
}  // namespace yg::cache::conformance
