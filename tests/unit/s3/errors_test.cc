#include "s3/errors.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace yg::s3 {
namespace {

// Body of a real S3 404 (S3 API Reference, "Error responses", REST error response example).
constexpr std::string_view kNoSuchKey =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Error>\n"
    "  <Code>NoSuchKey</Code>\n"
    "  <Message>The resource you requested does not exist</Message>\n"
    "  <Resource>/mybucket/myfoto.jpg</Resource> \n"
    "  <RequestId>4442587FB7D0A2F9</RequestId>\n"
    "</Error>";

// Shape of S3's SignatureDoesNotMatch body (fields trimmed).
constexpr std::string_view kSignatureDoesNotMatch =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does "
    "not match the signature you provided. Check your key and signing method.</Message>"
    "<AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n"
    "20240315T083045Z\n20240315/us-east-1/s3/aws4_request\nabc</StringToSign>"
    "<CanonicalRequest>GET\n/b/k\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD</CanonicalRequest>"
    "<RequestId>TX1</RequestId><HostId>aGVsbG8=</HostId></Error>";

// MinIO's answer for a missing bucket (MinIO adds Key/BucketName/Resource fields).
constexpr std::string_view kMinioNoSuchBucket =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>"
    "<Key>a.txt</Key><BucketName>nope</BucketName><Resource>/nope/a.txt</Resource>"
    "<RequestId>17C0F3A7B1D2E3F4</RequestId><HostId>dd9025bab4ad464b</HostId></Error>";

// A real S3 error body yields its code, message and request id.
TEST(ParseErrorXml, ReadsS3ErrorBody) {
  const auto e = parse_error_xml(kNoSuchKey);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "NoSuchKey");
  EXPECT_EQ(e->message, "The resource you requested does not exist");
  EXPECT_EQ(e->request_id, "4442587FB7D0A2F9");
}

// Error bodies with extra fields (S3 SignatureDoesNotMatch, MinIO) parse the same way.
TEST(ParseErrorXml, IgnoresExtraFields) {
  const auto sig = parse_error_xml(kSignatureDoesNotMatch);
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->code, "SignatureDoesNotMatch");
  EXPECT_EQ(sig->request_id, "TX1");
  EXPECT_TRUE(sig->message.starts_with("The request signature we calculated"));
  const auto minio = parse_error_xml(kMinioNoSuchBucket);
  ASSERT_TRUE(minio);
  EXPECT_EQ(minio->code, "NoSuchBucket");
  EXPECT_EQ(minio->request_id, "17C0F3A7B1D2E3F4");
}

// Entities and character references in text are decoded; unknown ones are kept verbatim.
TEST(ParseErrorXml, DecodesCharacterReferences) {
  const auto e = parse_error_xml(
      "<Error><Code>InvalidArgument</Code><Message>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; "
      "&#233;&#x65E5; &bogus; &#xD800; & end</Message></Error>");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "a <b> & \"c\" 'd' \xC3\xA9\xE6\x97\xA5 &bogus; &#xD800; & end");
  EXPECT_EQ(e->request_id, "");
}

// A body cut off mid-way still yields the fields that arrived complete.
TEST(ParseErrorXml, ToleratesTruncatedBodies) {
  const std::string full(kNoSuchKey);
  const auto cut_in_message = parse_error_xml(full.substr(0, full.find("requested")));
  ASSERT_TRUE(cut_in_message);
  EXPECT_EQ(cut_in_message->code, "NoSuchKey");
  EXPECT_EQ(cut_in_message->message, "");
  EXPECT_EQ(cut_in_message->request_id, "");
  // Every prefix is handled without crashing; those without a complete Code give nullopt.
  for (std::size_t n = 0; n <= full.size(); ++n) {
    const auto e = parse_error_xml(std::string_view(full).substr(0, n));
    if (n < full.find("</Code>") + 7) {
      EXPECT_FALSE(e) << n;
    } else {
      ASSERT_TRUE(e) << n;
      EXPECT_EQ(e->code, "NoSuchKey");
    }
  }
}

// Anything that is not an S3 error document gives nullopt.
TEST(ParseErrorXml, RejectsNonErrorBodies) {
  const std::vector<std::string> bodies = {
      "",
      "garbage",
      "<html><body><h1>502 Bad Gateway</h1></body></html>",
      "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name></ListBucketResult>",
      "<Error></Error>",
      "<Error/>",
      "<Error><Code></Code><Message>m</Message></Error>",
      "<Error><Code/></Error>",
      "<ErrorX><Code>NoSuchKey</Code></ErrorX>",
      "<Code>NoSuchKey</Code>",
      "<Error",
      "<Error><Code>NoSuchKey",
      "<Error><Code>NoSuchKey</Cod",
      std::string("\0\xFF<Error>\0", 10),
  };
  for (const auto& b : bodies) {
    EXPECT_FALSE(parse_error_xml(b)) << b;
  }
}

// Namespaces on the root, attributes, CDATA and a wrapping ErrorResponse element are accepted.
TEST(ParseErrorXml, AcceptsXmlVariations) {
  const auto ns = parse_error_xml(
      "<Error xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\r\n\t<Code>AccessDenied</Code>"
      "<Message><![CDATA[Access <Denied>]]></Message></Error>");
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->code, "AccessDenied");
  EXPECT_EQ(ns->message, "Access <Denied>");
  const auto wrapped = parse_error_xml(
      "<ErrorResponse><Error><Code>SlowDown</Code><Message>Reduce your request rate."
      "</Message></Error><RequestId>R</RequestId></ErrorResponse>");
  ASSERT_TRUE(wrapped);
  EXPECT_EQ(wrapped->code, "SlowDown");
  EXPECT_EQ(wrapped->request_id, "R");
}

// Huge bodies are scanned only up to a bound.
TEST(ParseErrorXml, BoundsTheWorkOnHugeBodies) {
  const std::string padding(1024 * 1024, ' ');
  EXPECT_FALSE(parse_error_xml(padding + std::string(kNoSuchKey)));
  EXPECT_TRUE(parse_error_xml(std::string(kNoSuchKey) + padding));
}

// ---------------------------------------------------------------------------------------------
// map_s3_error

struct MapCase {
  unsigned status;
  std::string code;
  errc want;
  bool retryable;
};

// The FEATURES.md HTTP-3 table: S3 status + code -> our error class, all from the upstream.
TEST(MapS3Error, MapsStatusAndCodeToErrorClass) {
  const std::vector<MapCase> cases = {
      {404, "NoSuchKey", errc::not_found, false},
      {404, "NoSuchBucket", errc::not_found, false},
      {404, "NoSuchVersion", errc::not_found, false},
      {404, "", errc::not_found, false},
      {404, "NoSuchUpload", errc::upstream_bad_response, false},
      {403, "SignatureDoesNotMatch", errc::upstream_auth, false},
      {403, "InvalidAccessKeyId", errc::upstream_auth, false},
      {403, "AccessDenied", errc::upstream_auth, false},
      {403, "ExpiredToken", errc::upstream_auth, false},
      {403, "InvalidToken", errc::upstream_auth, false},
      {403, "RequestTimeTooSkewed", errc::upstream_auth, false},
      {403, "InvalidSecurity", errc::upstream_auth, false},
      {403, "", errc::upstream_auth, false},
      {403, "AccountProblem", errc::upstream_bad_response, false},
      {400, "AuthorizationHeaderMalformed", errc::upstream_auth, false},
      {400, "AuthorizationQueryParametersError", errc::upstream_auth, false},
      {400, "RequestTimeout", errc::upstream_timeout, true},
      {400, "InvalidArgument", errc::bad_request, false},
      {400, "", errc::upstream_bad_response, false},
      {416, "InvalidRange", errc::range_not_satisfiable, false},
      {416, "", errc::range_not_satisfiable, false},
      {412, "PreconditionFailed", errc::precondition_failed, false},
      {412, "", errc::precondition_failed, false},
      {500, "InternalError", errc::upstream_unreachable, true},
      {502, "", errc::upstream_unreachable, true},
      {503, "SlowDown", errc::upstream_unreachable, true},
      {503, "ServiceUnavailable", errc::upstream_unreachable, true},
      {504, "", errc::upstream_unreachable, true},
      {429, "SlowDown", errc::upstream_unreachable, true},
      {501, "NotImplemented", errc::upstream_bad_response, false},
      {505, "", errc::upstream_bad_response, false},
      {405, "MethodNotAllowed", errc::upstream_bad_response, false},
      {409, "", errc::upstream_bad_response, false},
      {301, "PermanentRedirect", errc::upstream_bad_response, false},
      {307, "TemporaryRedirect", errc::upstream_bad_response, false},
      {100, "", errc::upstream_bad_response, false},
      {0, "", errc::upstream_bad_response, false},
      {999, "", errc::upstream_bad_response, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.status) + " " + c.code);
    const Error e = map_s3_error(c.status, c.code);
    EXPECT_TRUE(e.is(c.want)) << e.message();
    EXPECT_EQ(e.retryable, c.retryable);
    EXPECT_EQ(e.source, Source::Upstream);
  }
}

// 2xx and 304 are not errors: the returned code is success.
TEST(MapS3Error, TreatsSuccessAndNotModifiedAsNoError) {
  for (unsigned status : {200u, 204u, 206u, 299u, 304u}) {
    const Error e = map_s3_error(status, "");
    EXPECT_FALSE(e.code) << status;
    EXPECT_FALSE(e.retryable);
  }
}

}  // namespace
}  // namespace yg::s3
