#include "s3/request.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "unit/s3/vectors.h"

namespace yg::s3 {
namespace {

using test::utc;

const std::string* find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

config::S3Replica replica(std::string bucket, std::string region, std::string endpoint) {
  config::S3Replica r;
  r.bucket = std::move(bucket);
  r.region = std::move(region);
  r.endpoint = std::move(endpoint);
  return r;
}

// ---------------------------------------------------------------------------------------------
// botocore vectors (tests/vectors/sigv4/botocore.json, scripts/gen_sigv4_vectors.py)

struct BotocoreCase {
  std::string name;
  boost::json::object json;
};

const boost::json::object& botocore_doc() {
  static const boost::json::object doc = [] {
    const std::string text = test::read_file(test::vectors_dir() + "/botocore.json");
    if (text.empty()) {
      return boost::json::object();
    }
    return boost::json::parse(text).as_object();
  }();
  return doc;
}

std::vector<std::string> botocore_case_names() {
  std::vector<std::string> names;
  if (const auto* cases = botocore_doc().if_contains("cases")) {
    for (const auto& c : cases->as_array()) {
      names.emplace_back(c.as_object().at("name").as_string());
    }
  }
  return names;
}

const boost::json::object& botocore_case(const std::string& name) {
  for (const auto& c : botocore_doc().at("cases").as_array()) {
    if (c.as_object().at("name").as_string() == name) {
      return c.as_object();
    }
  }
  throw std::out_of_range(name);
}

std::string str(const boost::json::object& o, std::string_view key) {
  return std::string(o.at(key).as_string());
}

// The vector file is present and covers the hostile keys (a missing file must fail loudly,
// not silently instantiate zero tests).
TEST(BotocoreVectors, AreLoaded) {
  EXPECT_GE(botocore_case_names().size(), 50u);
}

class Botocore : public ::testing::TestWithParam<std::string> {};

// build_object_request sends the path botocore sends and signs exactly what botocore signs:
// same canonical request, string to sign and Authorization header, byte for byte.
TEST_P(Botocore, BuildsTheRequestBotocoreSigns) {
  const boost::json::object& c = botocore_case(GetParam());
  const auto& doc = botocore_doc();

  std::string why;
  const auto ep =
      resolve_endpoint(replica(str(c, "bucket"), str(c, "region"), str(c, "endpoint")), &why);
  ASSERT_TRUE(ep) << why;
  EXPECT_EQ(ep->host_header, str(c, "host"));

  const SigV4Signer signer(
      {str(doc, "access_key"), Secret(str(doc, "secret_key")), Secret(str(c, "session_token"))},
      str(c, "region"));
  HeaderList client_query;
  for (const auto& kv : c.at("query").as_array()) {
    client_query.emplace_back(kv.as_array()[0].as_string(), kv.as_array()[1].as_string());
  }
  const HeaderList query = forwardable_query(client_query);
  ASSERT_EQ(query, client_query);
  const SysTime now = utc(2024, 3, 15, 8, 30, 45);
  const std::string method = str(c, "method");
  const ObjectRequest out =
      build_object_request(method, *ep, str(c, "bucket"), str(c, "key"), query, signer, now);

  // Path byte for byte; the query as a set (botocore sends it in serializer order, we send the
  // signed order; S3 only cares that the signed form matches).
  const std::string want_target = str(c, "target");
  const std::size_t our_q = out.target.find('?');
  const std::size_t want_q = want_target.find('?');
  EXPECT_EQ(out.target.substr(0, our_q), want_target.substr(0, want_q));
  auto our_pairs =
      test::split_query(our_q == std::string::npos ? "" : out.target.substr(our_q + 1));
  auto want_pairs =
      test::split_query(want_q == std::string::npos ? "" : want_target.substr(want_q + 1));
  EXPECT_TRUE(std::is_sorted(our_pairs.begin(), our_pairs.end()));
  std::sort(want_pairs.begin(), want_pairs.end());
  EXPECT_EQ(our_pairs, want_pairs);

  ASSERT_NE(find_header(out.headers, "authorization"), nullptr);
  EXPECT_EQ(*find_header(out.headers, "authorization"), str(c, "authorization"));
  EXPECT_EQ(*find_header(out.headers, "x-amz-date"), str(c, "amz_date"));
  EXPECT_EQ(*find_header(out.headers, "host"), str(c, "host"));

  // The intermediate steps too, so a mismatch says which step differs.
  SignRequest req;
  req.method = method;
  const std::string path = out.target.substr(0, our_q);
  req.canonical_uri = path;
  req.query = query;
  for (const auto& h : out.headers) {
    if (h.first != "authorization") {
      req.headers.push_back(h);
    }
  }
  req.payload_hash = kEmptyPayloadSha256;
  EXPECT_EQ(signer.canonical_request(req), str(c, "canonical_request"));
  EXPECT_EQ(signer.string_to_sign(req, now), str(c, "string_to_sign"));
}

INSTANTIATE_TEST_SUITE_P(Vectors, Botocore, ::testing::ValuesIn(botocore_case_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return test::camel(info.param);
                         });

// ---------------------------------------------------------------------------------------------
// build_object_request

SigV4Signer signer_with_token(std::string token) {
  return SigV4Signer({"AKID", Secret("secret"), Secret(std::move(token))}, "us-east-1");
}

// x-amz-security-token is sent and signed iff a session token is configured.
TEST(BuildObjectRequest, SendsSecurityTokenOnlyWhenConfigured) {
  const Endpoint ep = resolve_endpoint(replica("b", "us-east-1", "http://minio:9000")).value();
  const SysTime now = utc(2024, 1, 1);

  const ObjectRequest without =
      build_object_request("GET", ep, "b", "k", {}, signer_with_token(""), now);
  EXPECT_EQ(find_header(without.headers, "x-amz-security-token"), nullptr);
  EXPECT_NE(find_header(without.headers, "authorization")
                ->find("SignedHeaders=host;"
                       "x-amz-content-sha256;x-amz-date,"),
            std::string::npos);

  const ObjectRequest with =
      build_object_request("GET", ep, "b", "k", {}, signer_with_token("tok/en+="), now);
  ASSERT_NE(find_header(with.headers, "x-amz-security-token"), nullptr);
  EXPECT_EQ(*find_header(with.headers, "x-amz-security-token"), "tok/en+=");
  EXPECT_NE(find_header(with.headers, "authorization")
                ->find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            std::string::npos);
}

// The head carries exactly host, x-amz-date, x-amz-content-sha256 (empty payload) and
// authorization, in that order.
TEST(BuildObjectRequest, ProducesTheDocumentedHeaders) {
  const Endpoint ep = resolve_endpoint(replica("b", "us-east-1", "http://minio:9000")).value();
  const ObjectRequest out = build_object_request("HEAD", ep, "b", "dir/file name.txt", {},
                                                 signer_with_token(""), utc(2024, 1, 1, 1, 2, 3));
  EXPECT_EQ(out.target, "/b/dir/file%20name.txt");
  ASSERT_EQ(out.headers.size(), 4u);
  EXPECT_EQ(out.headers[0], (std::pair<std::string, std::string>("host", "minio:9000")));
  EXPECT_EQ(out.headers[1],
            (std::pair<std::string, std::string>("x-amz-date", "20240101T010203Z")));
  EXPECT_EQ(out.headers[2], (std::pair<std::string, std::string>(
                                "x-amz-content-sha256", std::string(kEmptyPayloadSha256))));
  EXPECT_EQ(out.headers[3].first, "authorization");
}

// Virtual-hosted requests carry only the key in the path; base paths prefix path-style ones.
TEST(BuildObjectRequest, PlacesBucketAccordingToAddressingStyle) {
  const SigV4Signer signer = signer_with_token("");
  const SysTime now = utc(2024, 1, 1);
  const Endpoint aws = resolve_endpoint(replica("my-bucket", "eu-west-1", "")).value();
  EXPECT_EQ(build_object_request("GET", aws, "my-bucket", "a/b", {}, signer, now).target, "/a/b");
  const Endpoint based =
      resolve_endpoint(replica("my-bucket", "us-east-1", "https://gw.example/storage/")).value();
  EXPECT_EQ(build_object_request("GET", based, "my-bucket", "a/b", {}, signer, now).target,
            "/storage/my-bucket/a/b");
}

// The query in the target is the canonical (encoded, sorted) query that is signed.
TEST(BuildObjectRequest, SendsTheSignedQuery) {
  const Endpoint ep = resolve_endpoint(replica("b", "us-east-1", "http://h")).value();
  const ObjectRequest out = build_object_request(
      "GET", ep, "b", "k", {{"versionId", "a+b/c"}, {"response-content-type", "text/plain"}},
      signer_with_token(""), utc(2024, 1, 1));
  EXPECT_EQ(out.target, "/b/k?response-content-type=text%2Fplain&versionId=a%2Bb%2Fc");
}

// ---------------------------------------------------------------------------------------------
// resolve_endpoint

struct EndpointCase {
  std::string bucket;
  std::string region;
  std::string endpoint;
  bool tls;
  std::string host;
  uint16_t port;
  std::string host_header;
  bool path_style;
  std::string base_path;
};

// Custom endpoints are path-style on the given host and port; AWS is virtual-hosted unless the
// bucket cannot be a TLS-covered DNS label.
TEST(ResolveEndpoint, ResolvesCustomAndAwsEndpoints) {
  const std::vector<EndpointCase> cases = {
      {"b", "us-east-1", "http://127.0.0.1:9000", false, "127.0.0.1", 9000, "127.0.0.1:9000", true,
       ""},
      {"b", "us-east-1", "http://minio", false, "minio", 80, "minio", true, ""},
      {"b", "us-east-1", "http://minio:80", false, "minio", 80, "minio", true, ""},
      {"b", "us-east-1", "http://minio:443", false, "minio", 443, "minio:443", true, ""},
      {"b", "us-east-1", "https://minio", true, "minio", 443, "minio", true, ""},
      {"b", "us-east-1", "https://minio:443/", true, "minio", 443, "minio", true, ""},
      {"b", "us-east-1", "https://MinIO.Example.COM:8443", true, "minio.example.com", 8443,
       "minio.example.com:8443", true, ""},
      {"b", "us-east-1", "HTTPS://minio", true, "minio", 443, "minio", true, ""},
      {"b", "us-east-1", "http://[::1]:9000", false, "::1", 9000, "[::1]:9000", true, ""},
      {"b", "us-east-1", "https://[2001:db8::5]", true, "2001:db8::5", 443, "[2001:db8::5]", true,
       ""},
      {"b", "us-east-1", "http://gw:8080/s3", false, "gw", 8080, "gw:8080", true, "/s3"},
      {"b", "us-east-1", "http://gw/a/b//", false, "gw", 80, "gw", true, "/a/b"},
      {"my-bucket", "eu-central-1", "", true, "my-bucket.s3.eu-central-1.amazonaws.com", 443,
       "my-bucket.s3.eu-central-1.amazonaws.com", false, ""},
      {"my-bucket", "us-east-1", "", true, "my-bucket.s3.us-east-1.amazonaws.com", 443,
       "my-bucket.s3.us-east-1.amazonaws.com", false, ""},
      {"my-bucket", "cn-north-1", "", true, "my-bucket.s3.cn-north-1.amazonaws.com.cn", 443,
       "my-bucket.s3.cn-north-1.amazonaws.com.cn", false, ""},
      {"my.dotted.bucket", "eu-central-1", "", true, "s3.eu-central-1.amazonaws.com", 443,
       "s3.eu-central-1.amazonaws.com", true, ""},
      {"Legacy_Bucket", "us-east-1", "", true, "s3.us-east-1.amazonaws.com", 443,
       "s3.us-east-1.amazonaws.com", true, ""},
      {"ab", "us-east-1", "", true, "s3.us-east-1.amazonaws.com", 443, "s3.us-east-1.amazonaws.com",
       true, ""},
      {"-bad", "us-east-1", "", true, "s3.us-east-1.amazonaws.com", 443,
       "s3.us-east-1.amazonaws.com", true, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.bucket + " " + c.region + " " + c.endpoint);
    std::string why;
    const auto ep = resolve_endpoint(replica(c.bucket, c.region, c.endpoint), &why);
    ASSERT_TRUE(ep) << why;
    EXPECT_EQ(ep->tls, c.tls);
    EXPECT_EQ(ep->host, c.host);
    EXPECT_EQ(ep->port, c.port);
    EXPECT_EQ(ep->host_header, c.host_header);
    EXPECT_EQ(ep->path_style, c.path_style);
    EXPECT_EQ(ep->base_path, c.base_path);
  }
}

// Endpoints that cannot be addressed are refused with a reason, never guessed at.
TEST(ResolveEndpoint, RefusesUnusableConfiguration) {
  const std::vector<config::S3Replica> bad = {
      replica("b", "us-east-1", "minio:9000"),
      replica("b", "us-east-1", "127.0.0.1"),
      replica("b", "us-east-1", "ftp://minio"),
      replica("b", "us-east-1", "http://"),
      replica("b", "us-east-1", "http://user:pw@minio"),
      replica("b", "us-east-1", "http://minio?x=1"),
      replica("b", "us-east-1", "http://minio#frag"),
      replica("b", "us-east-1", "http://minio:0"),
      replica("b", "us-east-1", "http://minio:65536"),
      replica("b", "us-east-1", "http://minio:99999999999"),
      replica("b", "us-east-1", "http://[::1"),
      replica("b", "us-east-1", "http://mi%6eio"),
      replica("b", "us-east-1", "http://exa mple"),
      replica("b", "us-east-1", "not a url"),
      replica("", "us-east-1", "http://minio"),
      replica("", "us-east-1", ""),
      replica("b", "", ""),
      replica("b", "US-EAST-1", ""),
      replica("b", "us-east-1/x", ""),
  };
  for (const auto& r : bad) {
    SCOPED_TRACE("bucket=" + r.bucket + " region=" + r.region + " endpoint=" + r.endpoint);
    std::string why;
    const auto ep = resolve_endpoint(r, &why);
    ASSERT_FALSE(ep);
    EXPECT_TRUE(ep.error().is(errc::internal));
    EXPECT_FALSE(why.empty());
  }
}

// ---------------------------------------------------------------------------------------------
// forwardable_query

// Only versionId and the response-* overrides reach S3; names match case-sensitively, the
// first of a repeated name wins, and client order is kept.
TEST(ForwardableQuery, KeepsOnlyVersionIdAndResponseOverrides) {
  const HeaderList in = {
      {"token", "jwt"},
      {"response-content-type", "text/plain"},
      {"versionId", "v1"},
      {"versionid", "lowercase"},
      {"VersionId", "uppercase"},
      {"response-content-language", "fr"},
      {"response-expires", "Thu, 01 Dec 1994 16:00:00 GMT"},
      {"response-cache-control", "no-cache"},
      {"response-content-disposition", "attachment"},
      {"response-content-encoding", "gzip"},
      {"response-x-other", "1"},
      {"versionId", "v2"},
      {"acl", ""},
      {"X-Amz-Signature", "forged"},
      {"partNumber", "1"},
      {"uploadId", "u"},
      {"list-type", "2"},
  };
  const HeaderList want = {
      {"response-content-type", "text/plain"},
      {"versionId", "v1"},
      {"response-content-language", "fr"},
      {"response-expires", "Thu, 01 Dec 1994 16:00:00 GMT"},
      {"response-cache-control", "no-cache"},
      {"response-content-disposition", "attachment"},
      {"response-content-encoding", "gzip"},
  };
  EXPECT_EQ(forwardable_query(in), want);
  EXPECT_TRUE(forwardable_query({}).empty());
}

}  // namespace
}  // namespace yg::s3
