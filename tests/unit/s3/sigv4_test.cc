#include "s3/sigv4.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>
#include <thread>
#include <vector>

#include "unit/s3/vectors.h"

namespace yg::s3 {
namespace {

using test::read_file;
using test::utc;

// ---------------------------------------------------------------------------------------------
// AWS Signature Version 4 test suite (tests/vectors/sigv4/aws, see the README there).

constexpr const char* kSuiteAccessKey = "AKIDEXAMPLE";
constexpr const char* kSuiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

struct SuiteRequest {
  std::string method;
  std::string raw_path;
  std::string raw_query;
  HeaderList headers;
};

// Parses a suite .req file: "METHOD TARGET HTTP/1.1" then "Name:value" lines.
SuiteRequest parse_req(const std::string& text) {
  SuiteRequest r;
  std::size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      nl = text.size();
    }
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (first) {
      first = false;
      const std::size_t sp1 = line.find(' ');
      const std::size_t sp2 = line.rfind(' ');
      r.method = line.substr(0, sp1);
      const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      const std::size_t q = target.find('?');
      r.raw_path = target.substr(0, q);
      r.raw_query = q == std::string::npos ? "" : target.substr(q + 1);
      continue;
    }
    if (line.empty()) {
      continue;
    }
    const std::size_t colon = line.find(':');
    r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return r;
}

class AwsSuite : public ::testing::TestWithParam<std::string> {};

// Each published vector yields the published canonical request, string to sign and
// Authorization header. The suite's raw paths are encoded the way a client puts them on the
// wire (UriEncode, slashes kept), which is what our signer expects as canonical_uri.
TEST_P(AwsSuite, MatchesPublishedCanonicalRequestAndSignature) {
  const std::string dir = test::vectors_dir() + "/aws/" + GetParam() + "/" + GetParam();
  const std::string req_text = read_file(dir + ".req");
  ASSERT_FALSE(req_text.empty()) << dir << ".req";
  const SuiteRequest parsed = parse_req(req_text);
  const std::string wire_path = uri_encode(parsed.raw_path, false);

  SignRequest req;
  req.method = parsed.method;
  req.canonical_uri = wire_path;
  req.query = test::split_query(parsed.raw_query);
  req.headers = parsed.headers;
  req.payload_hash = kEmptyPayloadSha256;

  const SigV4Signer signer({kSuiteAccessKey, Secret(kSuiteSecret), Secret()}, "us-east-1",
                           "service");
  const SysTime now = utc(2015, 8, 30, 12, 36, 0);
  EXPECT_EQ(signer.canonical_request(req), test::read_vector(dir + ".creq"));
  if (test::file_exists(dir + ".sts")) {
    EXPECT_EQ(signer.string_to_sign(req, now), test::read_vector(dir + ".sts"));
  }
  EXPECT_EQ(signer.authorization(req, now), test::read_vector(dir + ".authz"));
}

INSTANTIATE_TEST_SUITE_P(
    Vectors, AwsSuite,
    ::testing::Values("get-vanilla", "get-vanilla-query", "get-vanilla-empty-query-key",
                      "get-vanilla-query-order-key-case", "get-vanilla-query-unreserved",
                      "get-vanilla-utf8-query", "get-unreserved", "get-utf8", "get-space",
                      "get-header-key-duplicate", "get-header-value-trim",
                      "get-vanilla-with-session-token"),
    [](const ::testing::TestParamInfo<std::string>& info) { return test::camel(info.param); });

// ---------------------------------------------------------------------------------------------
// The S3 API Reference's own worked examples (tests/vectors/sigv4/s3_docs.json).

// The documented GET Object (with Range), GET lifecycle and list-objects examples sign to the
// documented signatures.
TEST(SigV4Signer, SignsS3DocumentationExamples) {
  const auto doc = boost::json::parse(read_file(test::vectors_dir() + "/s3_docs.json")).as_object();
  const SigV4Signer signer({std::string(doc.at("access_key").as_string()),
                            Secret(std::string(doc.at("secret_key").as_string())), Secret()},
                           std::string(doc.at("region").as_string()));
  const SysTime now = utc(2013, 5, 24);
  ASSERT_EQ(amz_date(now), doc.at("amz_date").as_string());
  const auto& cases = doc.at("cases").as_array();
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& v : cases) {
    const auto& c = v.as_object();
    SCOPED_TRACE(std::string(c.at("name").as_string()));
    const std::string uri(c.at("uri").as_string());
    SignRequest req;
    req.method = "GET";
    req.canonical_uri = uri;
    for (const auto& kv : c.at("query").as_array()) {
      req.query.emplace_back(kv.as_array()[0].as_string(), kv.as_array()[1].as_string());
    }
    for (const auto& kv : c.at("headers").as_array()) {
      req.headers.emplace_back(kv.as_array()[0].as_string(), kv.as_array()[1].as_string());
    }
    req.payload_hash = kEmptyPayloadSha256;
    const std::string sts = signer.string_to_sign(req, now);
    EXPECT_EQ(sts.substr(sts.rfind('\n') + 1), c.at("canonical_request_sha256").as_string());
    EXPECT_EQ(signer.authorization(req, now), c.at("authorization").as_string());
  }
}

// ---------------------------------------------------------------------------------------------
// uri_encode

struct EncodeCase {
  std::string in;
  bool encode_slash;
  std::string out;
};

// AWS UriEncode: unreserved bytes pass, everything else is %XX with uppercase hex, each byte
// once; '/' is kept only in object key paths.
TEST(UriEncode, EncodesEverythingButUnreservedBytes) {
  const std::vector<EncodeCase> cases = {
      {"", false, ""},
      {"AZaz09-._~", true, "AZaz09-._~"},
      {"a b", false, "a%20b"},
      {"a+b", false, "a%2Bb"},
      {"a&b=c", false, "a%26b%3Dc"},
      {"user@host", false, "user%40host"},
      {"(1)", false, "%281%29"},
      {"100%", false, "100%25"},
      {"%20", false, "%2520"},
      {"!$'*,;:", false, "%21%24%27%2A%2C%3B%3A"},
      {"#?[]", false, "%23%3F%5B%5D"},
      {"a/b/c", false, "a/b/c"},
      {"a/b/c", true, "a%2Fb%2Fc"},
      {"//", false, "//"},
      {"caf\xC3\xA9", false, "caf%C3%A9"},
      {"\xE6\x97\xA5\xE6\x9C\xAC", false, "%E6%97%A5%E6%9C%AC"},
      {std::string("\x00\x7F\xFF", 3), true, "%00%7F%FF"},
      {"\t\r\n", true, "%09%0D%0A"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(uri_encode(c.in, c.encode_slash), c.out) << "input: " << c.in;
  }
}

// Query pairs are encoded (slash included) and sorted by encoded name, then encoded value.
TEST(CanonicalQuery, EncodesAndSortsByNameThenValue) {
  EXPECT_EQ(canonical_query({}), "");
  EXPECT_EQ(canonical_query({{"b", "2"}, {"a", "1"}}), "a=1&b=2");
  EXPECT_EQ(canonical_query({{"a", "2"}, {"a", "1"}}), "a=1&a=2");
  EXPECT_EQ(canonical_query({{"Z", ""}, {"a", ""}}), "Z=&a=");
  EXPECT_EQ(canonical_query({{"versionId", "a/b+c d"}}), "versionId=a%2Fb%2Bc%20d");
  // '%' encodes as %25, which sorts before letters: sorting happens after encoding.
  EXPECT_EQ(canonical_query({{"a", "z"}, {"a", "%"}}), "a=%25&a=z");
}

// ---------------------------------------------------------------------------------------------
// amz_date

// x-amz-date is ISO 8601 basic format in UTC, zero padded, seconds truncated.
TEST(AmzDate, FormatsUtcBasicIso8601) {
  EXPECT_EQ(amz_date(utc(2015, 8, 30, 12, 36, 0)), "20150830T123600Z");
  EXPECT_EQ(amz_date(utc(1970, 1, 1)), "19700101T000000Z");
  EXPECT_EQ(amz_date(utc(2024, 2, 29, 23, 59, 59)), "20240229T235959Z");
  EXPECT_EQ(amz_date(utc(2099, 12, 31, 1, 2, 3) + std::chrono::milliseconds(999)),
            "20991231T010203Z");
}

// ---------------------------------------------------------------------------------------------
// Canonical headers

// Names are lowercased and sorted, values trimmed and inner whitespace runs collapsed, and
// repeated names joined with ',' in order.
TEST(SigV4Signer, NormalisesHeadersIntoCanonicalForm) {
  const SigV4Signer signer({"AK", Secret("s"), Secret()}, "us-east-1");
  SignRequest req;
  req.method = "GET";
  req.canonical_uri = "/b/k";
  req.headers = {{"X-Amz-Date", "20240101T000000Z"},
                 {"Host", "  example.com  "},
                 {"X-Custom", "a\t \t b   c"},
                 {"x-custom", " d "},
                 {"A-First", ""}};
  req.payload_hash = kEmptyPayloadSha256;
  EXPECT_EQ(signer.canonical_request(req),
            "GET\n/b/k\n\n"
            "a-first:\n"
            "host:example.com\n"
            "x-amz-date:20240101T000000Z\n"
            "x-custom:a b c,d\n"
            "\n"
            "a-first;host;x-amz-date;x-custom\n" +
                std::string(kEmptyPayloadSha256));
}

// An empty canonical_uri is signed as "/", the root, as the spec requires.
TEST(SigV4Signer, SignsEmptyPathAsRoot) {
  const SigV4Signer signer({"AK", Secret("s"), Secret()}, "us-east-1");
  SignRequest req;
  req.method = "GET";
  req.headers = {{"host", "h"}};
  req.payload_hash = kEmptyPayloadSha256;
  EXPECT_TRUE(signer.canonical_request(req).starts_with("GET\n/\n\n"));
}

// ---------------------------------------------------------------------------------------------
// Signing-key cache

SignRequest vanilla_request(const std::string& amz) {
  SignRequest req;
  req.method = "GET";
  req.canonical_uri = "/";
  req.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", amz}};
  req.payload_hash = kEmptyPayloadSha256;
  return req;
}

// The cached key is reused within a day and re-derived when the date changes (and back):
// a long-lived signer gives the same result as a fresh signer at every instant.
TEST(SigV4Signer, RederivesSigningKeyWhenTheDateChanges) {
  const Credentials creds{kSuiteAccessKey, Secret(kSuiteSecret), Secret()};
  const SigV4Signer long_lived(creds, "us-east-1", "service");
  const std::vector<SysTime> instants = {utc(2015, 8, 30, 12, 36, 0), utc(2015, 8, 30, 23, 59, 59),
                                         utc(2015, 8, 31, 0, 0, 0),   utc(2015, 8, 31, 7, 0, 0),
                                         utc(2015, 8, 30, 12, 36, 0), utc(2016, 1, 1, 0, 0, 0)};
  for (const SysTime t : instants) {
    const SignRequest req = vanilla_request(amz_date(t));
    const SigV4Signer fresh(creds, "us-east-1", "service");
    EXPECT_EQ(long_lived.authorization(req, t), fresh.authorization(req, t)) << amz_date(t);
  }
  // And the first instant is still the published get-vanilla signature.
  const SysTime t0 = instants.front();
  EXPECT_EQ(long_lived.authorization(vanilla_request(amz_date(t0)), t0),
            test::read_vector(test::vectors_dir() + "/aws/get-vanilla/get-vanilla.authz"));
}

// Signatures from different days differ (the date is part of the key, not just the scope).
TEST(SigV4Signer, SignaturesDifferAcrossDays) {
  const SigV4Signer signer({"AK", Secret("s"), Secret()}, "us-east-1");
  const SignRequest req = vanilla_request("20240101T000000Z");
  const std::string a = signer.authorization(req, utc(2024, 1, 1));
  const std::string b = signer.authorization(req, utc(2024, 1, 2));
  EXPECT_NE(a.substr(a.rfind('=')), b.substr(b.rfind('=')));
}

// Many threads signing across a date boundary all get correct signatures (run under TSan to
// check the cache's locking).
TEST(SigV4Signer, IsSafeToShareBetweenThreads) {
  const Credentials creds{kSuiteAccessKey, Secret(kSuiteSecret), Secret()};
  const SigV4Signer shared(creds, "us-east-1", "service");
  const SysTime day1 = utc(2015, 8, 30, 12, 36, 0);
  const SysTime day2 = utc(2015, 8, 31, 12, 36, 0);
  const SigV4Signer reference(creds, "us-east-1", "service");
  const std::string want1 = reference.authorization(vanilla_request(amz_date(day1)), day1);
  const std::string want2 = reference.authorization(vanilla_request(amz_date(day2)), day2);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const bool first = (i + t) % 2 == 0;
        const SysTime now = first ? day1 : day2;
        if (shared.authorization(vanilla_request(amz_date(now)), now) != (first ? want1 : want2)) {
          ++failures[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  for (int f : failures) {
    EXPECT_EQ(f, 0);
  }
}

// A copied signer signs identically; a moved-to signer keeps working.
TEST(SigV4Signer, CopiesAndMovesKeepSigning) {
  const SigV4Signer original({kSuiteAccessKey, Secret(kSuiteSecret), Secret()}, "us-east-1",
                             "service");
  const SysTime t = utc(2015, 8, 30, 12, 36, 0);
  const SignRequest req = vanilla_request(amz_date(t));
  const std::string want = original.authorization(req, t);
  const SigV4Signer copy(original);
  EXPECT_EQ(copy.authorization(req, t), want);
  SigV4Signer source(original);
  const SigV4Signer moved(std::move(source));
  EXPECT_EQ(moved.authorization(req, t), want);
}

// The Authorization header has AWS's exact layout: one space after the algorithm, ", "
// between components.
TEST(SigV4Signer, FormatsAuthorizationHeaderLikeAws) {
  const SigV4Signer signer({"AKID", Secret("s"), Secret()}, "eu-west-3");
  const SysTime t = utc(2024, 6, 1, 10, 0, 0);
  const std::string auth = signer.authorization(vanilla_request(amz_date(t)), t);
  const std::string prefix =
      "AWS4-HMAC-SHA256 Credential=AKID/20240601/eu-west-3/s3/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=";
  ASSERT_TRUE(auth.starts_with(prefix)) << auth;
  const std::string sig = auth.substr(prefix.size());
  EXPECT_EQ(sig.size(), 64u);
  EXPECT_EQ(sig.find_first_not_of("0123456789abcdef"), std::string::npos);
}

}  // namespace
}  // namespace yg::s3
