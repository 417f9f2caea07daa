#include "router/router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "router/path.h"

namespace yg::router {
namespace {

struct RouteCase {
  std::string path;
  std::optional<std::size_t> bucket;  // nullopt: no route
  std::string key;
};

void PrintTo(const RouteCase& c, std::ostream* os) {
  *os << c.path;
}

// Prefixes as a config might hold them: nested, trailing slash, prefix of another's name.
const std::vector<std::string> kPrefixes = {
    "/products",  // 0
    "/pub",       // 1
    "/pub/img/",  // 2 (trailing slash ignored)
    "/pubx",      // 3
    "/a/b/c",     // 4
    "/a",         // 5
    "private",    // 6 (missing leading slash assumed)
};

class RouteTableMatch : public testing::TestWithParam<RouteCase> {};

// Longest prefix on a segment boundary wins; the key is the rest after "<prefix>/".
TEST_P(RouteTableMatch, PicksLongestSegmentPrefix) {
  const RouteTable table(kPrefixes);
  const auto& c = GetParam();
  auto m = table.match(c.path);
  if (!c.bucket) {
    EXPECT_FALSE(m.has_value()) << "matched bucket " << m->bucket_index;
    return;
  }
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->bucket_index, *c.bucket);
  EXPECT_EQ(m->key, c.key);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RouteTableMatch,
    testing::Values(RouteCase{"/products/a.jpg", 0, "a.jpg"},
                    RouteCase{"/products/dir/sub/a.jpg", 0, "dir/sub/a.jpg"},
                    RouteCase{"/products", 0, ""}, RouteCase{"/products/", 0, ""},
                    RouteCase{"/productsx/a", std::nullopt, ""},
                    RouteCase{"/product/a", std::nullopt, ""}, RouteCase{"/pub/k", 1, "k"},
                    RouteCase{"/pubx/k", 3, "k"}, RouteCase{"/pubxy/k", std::nullopt, ""},
                    RouteCase{"/pub/img", 2, ""}, RouteCase{"/pub/img/", 2, ""},
                    RouteCase{"/pub/img/a.png", 2, "a.png"},
                    RouteCase{"/pub/imgs/a.png", 1, "imgs/a.png"}, RouteCase{"/pub/im", 1, "im"},
                    RouteCase{"/pub//img/a", 1, "/img/a"}, RouteCase{"/pub/k/", 1, "k/"},
                    RouteCase{"/a/b/c/d", 4, "d"}, RouteCase{"/a/b/cd", 5, "b/cd"},
                    RouteCase{"/a/b", 5, "b"}, RouteCase{"/a/b/", 5, "b/"},
                    RouteCase{"/private/x", 6, "x"}, RouteCase{"/", std::nullopt, ""},
                    RouteCase{"//pub/k", std::nullopt, ""},
                    RouteCase{"/PUB/k", std::nullopt, ""},  // prefixes are case-sensitive
                    RouteCase{"", std::nullopt, ""}, RouteCase{"pub/k", std::nullopt, ""}));

// A bucket with prefix "/" catches everything no longer prefix matches.
TEST(RouteTable, RootPrefixCatchesTheRest) {
  const RouteTable table({"/", "/pub"});
  EXPECT_EQ(table.match("/pub/k")->bucket_index, 1u);
  auto m = table.match("/other/k");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->bucket_index, 0u);
  EXPECT_EQ(m->key, "other/k");
  EXPECT_EQ(table.match("/pubx/k")->key, "pubx/k");
  EXPECT_EQ(table.match("/")->key, "");
  EXPECT_EQ(table.match("/")->bucket_index, 0u);
}

// Prefixes given as "", "/" or "//" all mean the root.
TEST(RouteTable, EmptyAndSlashOnlyPrefixesAreRoot) {
  for (const char* p : {"", "/", "//"}) {
    const RouteTable table({p});
    auto m = table.match("/x/y");
    ASSERT_TRUE(m.has_value()) << p;
    EXPECT_EQ(m->key, "x/y");
  }
}

// Two buckets normalising to the same prefix: the first in config order wins.
TEST(RouteTable, FirstDuplicatePrefixWins) {
  const RouteTable table({"/dup", "/dup/"});
  EXPECT_EQ(table.match("/dup/k")->bucket_index, 0u);
}

// An empty table routes nothing.
TEST(RouteTable, EmptyTableMatchesNothing) {
  const RouteTable table({});
  EXPECT_FALSE(table.match("/a").has_value());
  EXPECT_EQ(table.size(), 0u);
}

// Routing runs on decoded paths: an encoded key reaches S3 decoded, %2F splits segments.
TEST(RouteTable, RoutesDecodedPaths) {
  const RouteTable table({"/pub", "/pub/a"});
  auto p = decode_path("/pub/my%20file%2B1.txt");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(table.match(*p)->key, "my file+1.txt");
  auto q = decode_path("/pub%2Fa%2Fk");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(table.match(*q)->bucket_index, 1u);
  EXPECT_EQ(table.match(*q)->key, "k");
  auto u = decode_path("/pub/%E6%97%A5%E6%9C%AC/%F0%9F%98%80");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(table.match(*u)->key, "\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80");
}

// With 100 buckets every bucket is reachable and a near-miss stays a miss.
TEST(RouteTable, ManyBucketsEachReachable) {
  std::vector<std::string> prefixes;
  for (int i = 0; i < 100; ++i) {
    prefixes.push_back("/tenant" + std::to_string(i) + (i % 2 ? "/data" : ""));
  }
  const RouteTable table(prefixes);
  EXPECT_EQ(table.size(), 100u);
  for (std::size_t i = 0; i < prefixes.size(); ++i) {
    auto m = table.match(prefixes[i] + "/obj/" + std::to_string(i));
    ASSERT_TRUE(m.has_value()) << prefixes[i];
    EXPECT_EQ(m->bucket_index, i);
    EXPECT_EQ(m->key, "obj/" + std::to_string(i));
  }
  EXPECT_FALSE(table.match("/tenant100/x").has_value());
  EXPECT_FALSE(table.match("/tenant1/x").has_value());  // "/tenant1" alone is not a prefix
  EXPECT_EQ(table.match("/tenant1/data/x")->bucket_index, 1u);
}

}  // namespace
}  // namespace yg::router
