// libFuzzer target: Range header -> parse_range -> resolve_ranges -> content_range. Traps when
// a parsed set breaks the grammar's invariants or a resolved range leaves [0, size).
// Seeds: tests/fuzz/corpus/fuzz_range/.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "proxy/range.h"

namespace {

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view header(reinterpret_cast<const char*>(data), size);
  auto specs = yg::proxy::parse_range(header);
  if (!specs) {
    return 0;
  }
  check(!specs->empty() && specs->size() <= yg::proxy::kMaxRanges);
  for (const auto& s : *specs) {
    check(s.first.has_value() || s.last.has_value());
    check(!(s.first && s.last) || *s.first <= *s.last);
  }
  // A spread of sizes, including ones the header's own numbers sit next to.
  std::uint64_t sizes[] = {0, 1, 2, 100, 4096, std::numeric_limits<std::uint64_t>::max(), 0, 0};
  const auto& f = specs->front();
  sizes[6] = f.first ? *f.first : (f.last ? *f.last : 0);
  sizes[7] = sizes[6] + 1;  // wraps to 0 for uint64 max, which is fine
  for (const std::uint64_t n : sizes) {
    const auto ranges = yg::proxy::resolve_ranges(*specs, n);
    check(ranges.size() <= specs->size());
    for (const auto& r : ranges) {
      check(r.first <= r.last && r.last < n);
      check(!yg::proxy::content_range(r, n).empty());
    }
  }
  return 0;
}
