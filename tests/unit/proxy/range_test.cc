#include "proxy/range.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace yg::proxy {

// gtest printers, found by ADL, so failures show the values.
void PrintTo(const RangeSpec& s, std::ostream* os) {
  *os << '{' << (s.first ? std::to_string(*s.first) : "_") << ','
      << (s.last ? std::to_string(*s.last) : "_") << '}';
}
void PrintTo(const ByteRange& r, std::ostream* os) {
  *os << '[' << r.first << ',' << r.last << ']';
}

namespace {

constexpr auto kNone = std::nullopt;

struct ParseCase {
  std::string header;
  std::vector<RangeSpec> specs;  // empty: the header is invalid and must be ignored
};

void PrintTo(const ParseCase& c, std::ostream* os) {
  *os << '"' << c.header << '"';
}

class ParseRange : public testing::TestWithParam<ParseCase> {};

// Valid headers parse into their specs; invalid ones yield nullopt so the caller serves 200.
TEST_P(ParseRange, FollowsRfc9110Grammar) {
  const auto& c = GetParam();
  auto r = parse_range(c.header);
  if (c.specs.empty()) {
    EXPECT_FALSE(r.has_value());
    return;
  }
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, c.specs);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110Examples, ParseRange,
    testing::Values(ParseCase{"bytes=0-499", {{0, 499}}}, ParseCase{"bytes=500-999", {{500, 999}}},
                    ParseCase{"bytes=-500", {{kNone, 500}}},
                    ParseCase{"bytes=9500-", {{9500, kNone}}},
                    ParseCase{"bytes=0-0,-1", {{0, 0}, {kNone, 1}}},
                    ParseCase{"bytes=500-600,601-999", {{500, 600}, {601, 999}}},
                    ParseCase{"bytes=500-700,601-999", {{500, 700}, {601, 999}}}));

INSTANTIATE_TEST_SUITE_P(
    Lenient, ParseRange,
    testing::Values(ParseCase{"bytes= 0-1 , 5-6", {{0, 1}, {5, 6}}},
                    ParseCase{"bytes=0-1,\t5-6", {{0, 1}, {5, 6}}},
                    ParseCase{"  bytes=0-1  ", {{0, 1}}}, ParseCase{"BYTES=0-1", {{0, 1}}},
                    ParseCase{"Bytes=0-1", {{0, 1}}}, ParseCase{"bytes=0-1,,2-3", {{0, 1}, {2, 3}}},
                    ParseCase{"bytes=,0-1,", {{0, 1}}}, ParseCase{"bytes=5-5", {{5, 5}}},
                    ParseCase{"bytes=-0", {{kNone, 0}}}, ParseCase{"bytes=007-010", {{7, 10}}},
                    ParseCase{"bytes=18446744073709551615-",
                              {{std::numeric_limits<std::uint64_t>::max(), kNone}}}));

INSTANTIATE_TEST_SUITE_P(
    Invalid, ParseRange,
    testing::Values(ParseCase{"bytes=5-1", {}}, ParseCase{"bytes=abc", {}},
                    ParseCase{"items=0-1", {}}, ParseCase{"bytes=", {}}, ParseCase{"bytes=-", {}},
                    ParseCase{"bytes=--1", {}}, ParseCase{"bytes=,", {}}, ParseCase{"", {}},
                    ParseCase{"bytes", {}}, ParseCase{"bytes 0-1", {}}, ParseCase{"=0-1", {}},
                    ParseCase{"bytes =0-1", {}}, ParseCase{"byte=0-1", {}},
                    ParseCase{"bytesx=0-1", {}}, ParseCase{"bytes=0 - 1", {}},
                    ParseCase{"bytes=0-1-2", {}}, ParseCase{"bytes=+1-2", {}},
                    ParseCase{"bytes=1-+2", {}}, ParseCase{"bytes=-+2", {}},
                    ParseCase{"bytes=0x1-2", {}}, ParseCase{"bytes=1-2;3-4", {}},
                    ParseCase{"bytes=0-1,abc", {}}, ParseCase{"bytes=0-1,5-1", {}},
                    ParseCase{"bytes=18446744073709551616-", {}},  // uint64 max + 1
                    ParseCase{"bytes=0-99999999999999999999999", {}},
                    ParseCase{"bytes=-18446744073709551616", {}}));

// At most kMaxRanges specs are accepted; one more makes the whole header ignored.
TEST(ParseRange, CapsTheNumberOfRanges) {
  std::string header = "bytes=0-0";
  for (std::size_t i = 1; i < kMaxRanges; ++i) {
    header += "," + std::to_string(i) + "-" + std::to_string(i);
  }
  auto ok = parse_range(header);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->size(), kMaxRanges);
  EXPECT_FALSE(parse_range(header + ",1000-1001").has_value());
}

struct ResolveCase {
  std::vector<RangeSpec> specs;
  std::uint64_t size;
  std::vector<ByteRange> ranges;
};

class ResolveRanges : public testing::TestWithParam<ResolveCase> {};

// Specs resolve against the size: clamped, suffixes counted from the end, unsatisfiable dropped.
TEST_P(ResolveRanges, StayWithinSize) {
  const auto& c = GetParam();
  EXPECT_EQ(resolve_ranges(c.specs, c.size), c.ranges);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ResolveRanges,
    testing::Values(ResolveCase{{{0, 499}}, 10000, {{0, 499}}},
                    ResolveCase{{{kNone, 500}}, 10000, {{9500, 9999}}},
                    ResolveCase{{{9500, kNone}}, 10000, {{9500, 9999}}},
                    ResolveCase{{{0, 0}, {kNone, 1}}, 10000, {{0, 0}, {9999, 9999}}},
                    ResolveCase{{{0, 999999}}, 100, {{0, 99}}},   // last beyond end is clamped
                    ResolveCase{{{kNone, 500}}, 100, {{0, 99}}},  // suffix longer than size: all
                    ResolveCase{{{99, kNone}}, 100, {{99, 99}}},  // last byte
                    ResolveCase{{{100, kNone}}, 100, {}},         // first == size: unsatisfiable
                    ResolveCase{{{100, 200}}, 100, {}},
                    ResolveCase{{{kNone, 0}}, 100, {}},  // zero suffix: unsatisfiable
                    ResolveCase{{{0, 1}}, 0, {}},        // empty representation
                    ResolveCase{{{kNone, 5}}, 0, {}},
                    ResolveCase{{{200, 300}, {0, 9}}, 100, {{0, 9}}},  // keeps the satisfiable ones
                    ResolveCase{{{5, 9}, {0, 9}}, 100, {{5, 9}, {0, 9}}},  // order and overlap kept
                    ResolveCase{{{std::numeric_limits<std::uint64_t>::max(), kNone}}, 100, {}},
                    ResolveCase{{{kNone, std::numeric_limits<std::uint64_t>::max()}},
                                std::numeric_limits<std::uint64_t>::max(),
                                {{0, std::numeric_limits<std::uint64_t>::max() - 1}}},
                    ResolveCase{{}, 100, {}}));

// Content-Range values follow RFC 9110 section 14.4.
TEST(ContentRange, FormatsPartAndUnsatisfied) {
  EXPECT_EQ(content_range({0, 9}, 100), "bytes 0-9/100");
  EXPECT_EQ(content_range({42, 42}, 43), "bytes 42-42/43");
  EXPECT_EQ(content_range_unsatisfied(100), "bytes */100");
  EXPECT_EQ(content_range_unsatisfied(0), "bytes */0");
}

// Parsing and resolving together: a header that parses but selects nothing means 416.
TEST(ParseRange, UnsatisfiableSetResolvesEmpty) {
  auto specs = parse_range("bytes=1000-2000,-0");
  ASSERT_TRUE(specs.has_value());
  EXPECT_TRUE(resolve_ranges(*specs, 1000).empty());
}

}  // namespace
}  // namespace yg::proxy
