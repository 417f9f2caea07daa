#pragma once
// HTTP Range requests, RFC 9110 section 14 (FEATURES.md HTTP-8). Pure functions, any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace yg::proxy {

// One range-spec of a "bytes" Range header (RFC 9110 section 14.1.1):
//   first and last  -> int-range "a-b"
//   first only      -> open int-range "a-"
//   last only       -> suffix-range "-n" (the last n bytes)
struct RangeSpec {
  std::optional<std::uint64_t> first;
  std::optional<std::uint64_t> last;

  friend bool operator==(const RangeSpec&, const RangeSpec&) = default;
};

// The most range-specs we accept in one header. More is treated as abuse (RFC 9110 section
// 14.2 lets a server ignore such sets), so the header is ignored and the whole object served.
inline constexpr std::size_t kMaxRanges = 100;

// Parses a Range header value. nullopt means "not a valid bytes range set": the caller ignores
// the header and answers 200 with the whole representation (RFC 9110 section 14.2). Invalid:
// another unit (the unit is matched case-insensitively), no range-spec at all, "a-b" with
// a > b, a number that does not fit uint64, anything that is not the grammar, or more than
// kMaxRanges specs. Accepted leniencies: optional whitespace after '=' and around commas, and
// empty list elements ("0-1,,2-3"), which RFC 9110 section 5.6.1.2 asks recipients to accept.
std::optional<std::vector<RangeSpec>> parse_range(std::string_view header_value);

// An inclusive byte range that lies within [0, size).
struct ByteRange {
  std::uint64_t first;
  std::uint64_t last;

  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

// Resolves parsed specs against the representation size, in request order (RFC 9110 section
// 14.1.2/14.1.3). Unsatisfiable specs are dropped: "a-" or "a-b" with a >= size, the suffix
// "-0", and anything on an empty representation. A "last" beyond the end is clamped, a suffix
// longer than the representation selects all of it. An empty result means the caller answers
// 416 with content_range_unsatisfied(size). Overlapping ranges are returned as they are.
std::vector<ByteRange> resolve_ranges(const std::vector<RangeSpec>& specs, std::uint64_t size);

// Content-Range value for a 206 part (RFC 9110 section 14.4): "bytes 0-9/100".
std::string content_range(ByteRange r, std::uint64_t size);

// Content-Range value for a 416 response (RFC 9110 section 14.4): "bytes */100".
std::string content_range_unsatisfied(std::uint64_t size);

}  // namespace yg::proxy
