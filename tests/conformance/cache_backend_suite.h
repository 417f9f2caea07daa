#pragma once
// The cache backend conformance suite (FEATURES.md CACHE-1..3, STYLE.md section 1): one set of
// cases every CacheBackend must pass, written against the interface only. A layer joins with
// one line in its own small file:
//
//   INSTANTIATE_TEST_SUITE_P(Memory, CacheBackendConformance,
//                            ::testing::Values(memory_factory()), BackendFactoryName{});
//
// The cases drive the coroutines on an io_context owned by the test and read bodies either from
// `Hit::entry->body` or, when `Hit::file` is set, from the file with pread, so file-backed
// layers are held to the same bytes.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "cache/backend.h"

namespace yg::cache::conformance {

// What a case asks of the backend it is given. The factory maps these onto the layer's own
// options; a layer that cannot honour one exactly (say, a minimum capacity) fails the cases
// that depend on it, which is the point.
struct SuiteOptions {
  uint64_t capacity_bytes = 1 << 20;
  uint64_t max_item_bytes = 64 << 10;
  std::chrono::seconds stale_grace{0};
};

struct BackendFactory {
  std::string name;  // the instantiation's name suffix: letters, digits and '_' only
  // An independent, empty backend. May be called more than once in one case (for example to
  // compare accounting against a fresh backend); each call gets its own storage.
  std::function<std::shared_ptr<CacheBackend>(const SuiteOptions&)> make;
  // Called after every case (also a failed one): removes what `make` created (temp dirs, keys).
  std::function<void()> cleanup;
  // A persistent layer: `reopen` opens a new backend over the storage of the most recent `make`
  // after the suite has dropped its last reference to the old one.
  bool supports_reopen = false;
  std::function<std::shared_ptr<CacheBackend>(const SuiteOptions&)> reopen;
  // Whether eviction order is one policy over the whole capacity. A sharded layer evicts within
  // the shard of the incoming key, so "the oldest entry goes first" holds per shard only; such
  // an instantiation skips the two eviction-order cases (the capacity bound still applies).
  bool global_eviction_order = true;
  // Whether the layer owns its storage and accounts for it exactly in stats() (memory, disk).
  // A shared layer (Redis) keeps its data in a server with its own capacity and eviction: the
  // cases about capacity and eviction order are skipped for it, and items/bytes are checked
  // through usage("") (a walk of its keys) instead of stats().
  bool owns_storage = true;
};

// Test names: "<instantiation>/CacheBackendConformance.<case>/<factory name>".
struct BackendFactoryName {
  std::string operator()(const ::testing::TestParamInfo<BackendFactory>& info) const {
    return info.param.name;
  }
};

// Keeps gtest from dumping the std::function members as bytes.
inline void PrintTo(const BackendFactory& f, std::ostream* os) {
  *os << f.name;
}

class CacheBackendConformance : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;
};

}  // namespace yg::cache::conformance
