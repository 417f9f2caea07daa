// The memory layer (cache/memory_backend.h) under the conformance suite, twice: with one shard,
// where S3-FIFO's eviction order is global and checked, and with the default shard count, as
// the proxy runs it (eviction order is per shard there; every other case applies).
#include "cache/memory_backend.h"
#include "conformance/cache_backend_suite.h"

namespace yg::cache::conformance {
namespace {

BackendFactory memory_factory(std::string name, std::size_t shards, bool global_order) {
  BackendFactory f;
  f.name = std::move(name);
  f.make = [shards](const SuiteOptions& o) -> std::shared_ptr<CacheBackend> {
    MemoryBackendOptions m;
    m.capacity_bytes = o.capacity_bytes;
    m.max_item_bytes = o.max_item_bytes;
    m.shards = shards;
    m.stale_grace = o.stale_grace;
    return std::make_shared<MemoryBackend>(m);
  };
  f.global_eviction_order = global_order;
  return f;
}

INSTANTIATE_TEST_SUITE_P(Memory, CacheBackendConformance,
                         ::testing::Values(memory_factory("one_shard", 1, true),
                                           memory_factory("sharded", MemoryBackendOptions{}.shards,
                                                          false)),
                         BackendFactoryName{});

}  // namespace
}  // namespace yg::cache::conformance
