#include "router/path.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace yg::router {
namespace {

using namespace std::string_literals;

// split_target cuts at the first '?' only; later '?' belong to the query.
TEST(SplitTarget, SplitsAtFirstQuestionMark) {
  auto t = split_target("/pub/a.txt?versionId=1?x");
  EXPECT_EQ(t.path, "/pub/a.txt");
  EXPECT_EQ(t.query, "versionId=1?x");
}

// A target without '?' is all path; an empty query after '?' stays empty.
TEST(SplitTarget, HandlesMissingAndEmptyQuery) {
  EXPECT_EQ(split_target("/pub/a").path, "/pub/a");
  EXPECT_EQ(split_target("/pub/a").query, "");
  EXPECT_EQ(split_target("/pub/a?").path, "/pub/a");
  EXPECT_EQ(split_target("/pub/a?").query, "");
}

struct DecodeOk {
  std::string_view raw;
  std::string decoded;
};

class DecodePathAccepts : public testing::TestWithParam<DecodeOk> {};

// Keys that ROUTE-2 says must work come through decoded exactly once.
TEST_P(DecodePathAccepts, DecodesOnce) {
  auto r = decode_path(GetParam().raw);
  ASSERT_TRUE(r.has_value()) << GetParam().raw;
  EXPECT_EQ(*r, GetParam().decoded);
}

INSTANTIATE_TEST_SUITE_P(
    Keys, DecodePathAccepts,
    testing::Values(DecodeOk{"/", "/"}, DecodeOk{"/pub/a.txt", "/pub/a.txt"},
                    DecodeOk{"/pub/my%20file.txt", "/pub/my file.txt"},
                    DecodeOk{"/pub/a+b", "/pub/a+b"},        // '+' is not a space in a path
                    DecodeOk{"/pub/a%2Bb", "/pub/a+b"},      // encoded '+'
                    DecodeOk{"/pub/a&b=c", "/pub/a&b=c"},    // sub-delims stay as they are
                    DecodeOk{"/pub/%26%3D%40", "/pub/&=@"},  // and decode when encoded
                    DecodeOk{"/pub/user@host", "/pub/user@host"},
                    DecodeOk{"/pub/(1)~x", "/pub/(1)~x"}, DecodeOk{"/pub/%28%29%7E", "/pub/()~"},
                    DecodeOk{"/pub/caf%C3%A9.jpg", "/pub/caf\xc3\xa9.jpg"},
                    DecodeOk{"/pub/caf\xc3\xa9.jpg", "/pub/caf\xc3\xa9.jpg"},  // raw UTF-8
                    DecodeOk{"/pub/%E6%97%A5%E6%9C%AC", "/pub/\xe6\x97\xa5\xe6\x9c\xac"},
                    DecodeOk{"/pub/%F0%9F%98%80", "/pub/\xf0\x9f\x98\x80"},  // 4-byte emoji
                    DecodeOk{"/pub/a%2Fb", "/pub/a/b"},  // %2F separates like '/'
                    DecodeOk{"/pub//a", "/pub//a"},      // empty segments are kept
                    DecodeOk{"/pub/a/", "/pub/a/"},
                    // Decoded once: "%252e%252e" becomes the literal key "%2e%2e". It is not a
                    // dot segment, nothing downstream decodes it again (SigV4 encodes '%' as
                    // %25), and S3 keys are flat strings, so it names an object, not a parent.
                    DecodeOk{"/pub/%252e%252e/x", "/pub/%2e%2e/x"},
                    DecodeOk{"/pub/...", "/pub/..."},  // three dots is an ordinary name
                    DecodeOk{"/pub/.hidden", "/pub/.hidden"}, DecodeOk{"/pub/a..b", "/pub/a..b"},
                    DecodeOk{"/pub/..a", "/pub/..a"}, DecodeOk{"/pub/a\\b", "/pub/a\\b"},
                    DecodeOk{"/pub/%25", "/pub/%"}));

class DecodePathRejects : public testing::TestWithParam<std::string> {};

// Traversal in every encoding, bad escapes, NUL, control characters and bad UTF-8 are 400s.
TEST_P(DecodePathRejects, WithBadPath) {
  auto r = decode_path(GetParam());
  ASSERT_FALSE(r.has_value()) << GetParam();
  EXPECT_TRUE(r.error().is(errc::bad_path));
}

INSTANTIATE_TEST_SUITE_P(Traversal, DecodePathRejects,
                         testing::Values("/pub/../secret", "/pub/..", "/..", "/pub/./a", "/pub/.",
                                         "/./pub/a", "/pub/%2e%2e/secret", "/pub/%2E%2e/secret",
                                         "/pub/%2E%2E", "/pub/.%2e/x", "/pub/%2e./x", "/pub/%2e/x",
                                         "/pub%2f..%2fsecret", "/pub/a%2F..%2Fb",
                                         "/pub/..%5csecret", "/pub/..%5Csecret", "/pub/..\\secret",
                                         "/pub/a\\..\\b", "/pub/a\\.", "/pub/%5c..%5c",
                                         "/pub/x/..%2F..%2Fetc/passwd"));

INSTANTIATE_TEST_SUITE_P(
    Encoding, DecodePathRejects,
    testing::Values("/pub/%zz", "/pub/%", "/pub/a%", "/pub/a%4", "/pub/%4g", "/pub/%%41",
                    "/pub/%00", "/pub/a%00.txt", "/pub/a\0b"s, "/pub/%0a", "/pub/%0D%0A",
                    "/pub/%09", "/pub/%1f", "/pub/%7f", "/pub/\x7f"s, "/pub/a\rb"s,
                    "/pub/%c0%ae%c0%ae/x",            // overlong '.', the classic IIS bypass
                    "/pub/%c0%af", "/pub/%e0%80%ae",  // 3-byte overlong '.'
                    "/pub/%f0%80%80%ae",              // 4-byte overlong '.'
                    "/pub/%ed%a0%80",                 // UTF-16 surrogate
                    "/pub/%f4%90%80%80",              // above U+10FFFF
                    "/pub/%f5%80%80%80", "/pub/%ff", "/pub/%80", "/pub/%c3", "/pub/%e6%97",
                    "/pub/\xc3"s, "/pub/\xc3\x28"s));

INSTANTIATE_TEST_SUITE_P(NotOriginForm, DecodePathRejects,
                         testing::Values("", "pub/a", "*", "http://host/pub/a", "%2Fpub/a"));

// A plain query decodes into ordered pairs, '+' and %20 both meaning space.
TEST(DecodeQuery, DecodesPairsInOrder) {
  auto r = decode_query("versionId=abc&response-content-type=text%2Fplain&x=a+b%20c");
  ASSERT_TRUE(r.has_value());
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(*r,
            (std::vector<P>{
                {"versionId", "abc"}, {"response-content-type", "text/plain"}, {"x", "a b c"}}));
}

// Empty pieces are skipped, a bare name gets an empty value, duplicates and '=' in values stay.
TEST(DecodeQuery, HandlesEdgeShapes) {
  auto r = decode_query("&a&&b=&=v&a=1=2&%2B=%2b&");
  ASSERT_TRUE(r.has_value());
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(*r, (std::vector<P>{{"a", ""}, {"b", ""}, {"", "v"}, {"a", "1=2"}, {"+", "+"}}));
}

// An empty query yields no pairs.
TEST(DecodeQuery, EmptyQueryIsEmpty) {
  auto r = decode_query("");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->empty());
}

// Unicode survives decoding.
TEST(DecodeQuery, KeepsUtf8) {
  auto r = decode_query("response-content-disposition=attachment%3B%20filename%3D%E6%97%A5.txt");
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].second, "attachment; filename=\xe6\x97\xa5.txt");
}

class DecodeQueryRejects : public testing::TestWithParam<std::string> {};

// Bad escapes, CR/LF (header injection through response-* overrides), NUL and bad UTF-8.
TEST_P(DecodeQueryRejects, WithBadRequest) {
  auto r = decode_query(GetParam());
  ASSERT_FALSE(r.has_value()) << GetParam();
  EXPECT_TRUE(r.error().is(errc::bad_request));
}

INSTANTIATE_TEST_SUITE_P(Bad, DecodeQueryRejects,
                         testing::Values("a=%zz", "a=%", "%=1", "a=%4", "a=x%0d%0aSet-Cookie:1",
                                         "a=%00", "a%00=1", "a=%c0%ae", "a=%ff", "a=\x01"));

struct SqlCase {
  std::string_view text;
  bool blocked;
};

class SqlInjection : public testing::TestWithParam<SqlCase> {};

// The reference's block list fires on quote+keyword, tautologies, UNION, comments after a
// quote and hex with boolean operators, and leaves ordinary keys alone.
TEST_P(SqlInjection, MatchesReferenceList) {
  EXPECT_EQ(looks_like_sql_injection(GetParam().text), GetParam().blocked) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SqlInjection,
    testing::Values(
        // Ordinary keys.
        SqlCase{"/products/image.jpg", false}, SqlCase{"/documents/user's_document.txt", false},
        SqlCase{"/docs/rock and roll or jazz.mp3", false}, SqlCase{"/docs/select union.txt", false},
        SqlCase{"/docs/a-b--c.txt", false}, SqlCase{"/docs/#1.txt", false},
        SqlCase{"/docs/0xdeadbeef.bin", false}, SqlCase{"/docs/it's 5 o'clock.txt", false},
        SqlCase{"", false},
        // Attacks (from the reference's tests and pattern list).
        SqlCase{"/test/file' OR '1'='1.txt", true}, SqlCase{"/test/file' AND '1'='1.txt", true},
        SqlCase{"/test/file' UNION SELECT NULL--.txt", true},
        SqlCase{"/test/file'; DROP TABLE users--.txt", true}, SqlCase{"/test/admin'--.txt", true},
        SqlCase{"/test/file' OR '1'='1", true}, SqlCase{"/test/file OR 1=1--.txt", true},
        SqlCase{"x' select 1", true}, SqlCase{"x'; delete from t", true},
        SqlCase{"x'; insert into t", true}, SqlCase{"x'; update t", true},
        SqlCase{"x' having 1", true}, SqlCase{"x' group by 1", true},
        SqlCase{"x' order by 1", true}, SqlCase{"x union select 1", true},
        SqlCase{"x UNION ALL SELECT 1", true}, SqlCase{"x or '1'='1", true}, SqlCase{"a' --", true},
        SqlCase{"a'#", true}, SqlCase{"a' #", true}, SqlCase{"a'/*", true}, SqlCase{"a' /*", true},
        SqlCase{"0x41 or 1", true}, SqlCase{"0x41 and 1", true}, SqlCase{"0x41 union 1", true},
        // Runs of spaces do not slip past (stricter than the reference).
        SqlCase{"x'   or   '1", true}, SqlCase{"x  union   all  select 1", true}));

}  // namespace
}  // namespace yg::router
