#pragma once
// S3 addressing (where a bucket lives) and a ready-to-send, signed request head for one object.
// Pure: no I/O, no clock reads.

#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/result.h"
#include "s3/sigv4.h"

namespace yg::s3 {

struct Endpoint {
  bool tls = true;
  std::string host;  // what to resolve and connect to; an IPv6 literal has no brackets
  uint16_t port = 443;
  std::string host_header;  // "host", or "host:port" when the port is not the scheme's default;
                            // IPv6 literals bracketed. This exact value is sent and signed.
  bool path_style = true;   // bucket is the first path segment (else it is in the host name)
  std::string base_path;    // custom endpoint path prefix without trailing '/', e.g. "/s3"; the
                            // request path is base_path + ["/" + bucket] + "/" + key (encoded)
};

// From a config::S3Replica:
// - custom endpoint "http(s)://host[:port][/base]" -> path-style on that host (MinIO, Ceph,
//   R2 and friends all accept path-style; virtual-hosted would need wildcard DNS);
// - no endpoint -> AWS virtual-hosted "<bucket>.s3.<region>.amazonaws.com" over TLS, or
//   path-style on "s3.<region>.amazonaws.com" when the bucket name is not a DNS label that a
//   wildcard certificate covers (dots, uppercase, underscores); ".amazonaws.com.cn" for cn-*.
// Errors (errc::internal, a configuration that validation should have refused): unparsable URL,
// scheme other than http/https, missing host, user info, query or fragment, bad port, empty
// bucket or malformed region. When `reason` is given it receives a one-line explanation.
Result<Endpoint> resolve_endpoint(const config::S3Replica& r, std::string* reason = nullptr);

struct ObjectRequest {
  std::string target;  // origin-form request target as sent: encoded path [+ '?' query]
  HeaderList headers;  // host, x-amz-date, x-amz-content-sha256, [x-amz-security-token],
                       // authorization - in that order, names lowercase
};

// Builds and signs a GET or HEAD for one object. key is the DECODED object key (may hold space,
// + & = @ ( ) % ~ unicode ...). query holds DECODED pairs already filtered by
// forwardable_query(). The URI that is signed is exactly the URI that is sent: each key byte is
// UriEncoded once (slashes kept), and the query is encoded and sorted identically in the target
// and in the signature. The caller adds Range / If-* headers after this (they are not signed;
// S3 does not require it, and signing them would tie the signature to client input).
ObjectRequest build_object_request(std::string_view method, const Endpoint& ep,
                                   std::string_view bucket, std::string_view key,
                                   const HeaderList& query, const SigV4Signer& signer, SysTime now);

// Which client query parameters go to S3 (FEATURES.md HTTP-6): versionId and the response-*
// overrides (response-content-type, -content-language, -expires, -cache-control,
// -content-disposition, -content-encoding); names match case-sensitively, as S3's do. Everything
// else is dropped. Input and output are decoded pairs in client order; a repeated name keeps its
// first value only, so S3, the cache key and the signature all see one unambiguous value.
HeaderList forwardable_query(const HeaderList& client_query);

}  // namespace yg::s3
