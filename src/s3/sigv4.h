#pragma once
// AWS Signature Version 4 for S3 requests signed in the Authorization header.
// Pure: no I/O and no clock reads; the caller passes `now` (STYLE.md section 0.4).
// Source: AWS S3 API Reference, "Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk (AWS Signature Version 4)"
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/secret.h"

namespace yg::s3 {

struct Credentials {
  std::string access_key;
  Secret secret_key;
  Secret session_token;  // empty = long-term keys, no x-amz-security-token header
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SignRequest {
  std::string_view method;         // "GET" / "HEAD"
  std::string_view canonical_uri;  // the path exactly as sent on the wire (already encoded)
  HeaderList query;                // DECODED name/value pairs; the signer encodes and sorts them
  HeaderList headers;              // headers to sign, incl. host; any case; the signer lowercases,
                                   // trims, collapses spaces, sorts, joins duplicates with ','
  std::string_view payload_hash;   // hex sha256 of the body, e.g. kEmptyPayloadSha256
};

// SHA-256 of the empty string: the payload hash of every GET and HEAD.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// AWS UriEncode: every byte except the unreserved set A-Z a-z 0-9 '-' '.' '_' '~' becomes %XX
// (uppercase hex); '/' is kept when encode_slash is false (object key paths).
std::string uri_encode(std::string_view s, bool encode_slash);

// CanonicalQueryString from DECODED pairs: each name and value UriEncoded (slash too), pairs
// sorted by encoded name then encoded value, joined "n=v&n=v" ("n=" for an empty value).
// build_object_request uses the same string as the request target's query so that what is sent
// is exactly what is signed.
std::string canonical_query(const HeaderList& query);

// ISO 8601 basic format in UTC, e.g. "20150830T123600Z" (the x-amz-date header value).
std::string amz_date(SysTime now);

// Signs S3 requests with one set of credentials for one region.
// Thread-safe: every method is const and may be called from any worker concurrently. The
// derived signing key is cached for the current UTC date (region and service are fixed per
// signer); a request signed on another date derives and caches that date's key.
class SigV4Signer {
 public:
  SigV4Signer(Credentials creds, std::string region, std::string service = "s3");
  SigV4Signer(const SigV4Signer& other);  // copies credentials; starts with an empty key cache
  SigV4Signer(SigV4Signer&&) noexcept;
  SigV4Signer& operator=(const SigV4Signer&) = delete;
  SigV4Signer& operator=(SigV4Signer&&) = delete;
  ~SigV4Signer();

  // The Authorization header value for req signed at now. req.headers must already contain
  // x-amz-date (== amz_date(now)) and the other x-amz-* headers to sign.
  std::string authorization(const SignRequest& req, SysTime now) const;

  // Exposed for tests and benchmarks.
  std::string canonical_request(const SignRequest& req) const;
  std::string string_to_sign(const SignRequest& req, SysTime now) const;

  const std::string& access_key() const noexcept { return creds_.access_key; }
  const Secret& session_token() const noexcept { return creds_.session_token; }
  const std::string& region() const noexcept { return region_; }
  const std::string& service() const noexcept { return service_; }

 private:
  using Key = std::array<unsigned char, 32>;
  struct KeyCache;

  // kSigning for the UTC date "YYYYMMDD" (AWS SigV4 step "Calculate the signature").
  Key signing_key(std::string_view yyyymmdd) const;
  // The string to sign for an already-built canonical request at the amz date date_time.
  std::string string_to_sign_for(std::string_view creq, std::string_view date_time) const;

  Credentials creds_;
  std::string region_;
  std::string service_;
  std::unique_ptr<KeyCache> cache_;
};

}  // namespace yg::s3
