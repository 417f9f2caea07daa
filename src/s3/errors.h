#pragma once
// S3 error responses: the XML error body and the mapping from (HTTP status, S3 error code) to
// our error classes (FEATURES.md HTTP-3). Pure.

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace yg::s3 {

// The fields of an S3 error body (S3 API Reference, "Error responses" - REST error response):
//   <Error><Code>NoSuchKey</Code><Message>...</Message><RequestId>...</RequestId>...</Error>
struct S3Error {
  std::string code;
  std::string message;
  std::string request_id;
};

// Tolerant and never throws: finds the <Error> element and its Code / Message / RequestId
// children, decoding XML character references. A truncated body still yields the fields that
// arrived complete. Returns nullopt when there is no <Error> element with a non-empty Code
// (HTML from a load balancer, empty body, garbage).
std::optional<S3Error> parse_error_xml(std::string_view body);

// HTTP status + S3 error code (may be empty, e.g. HEAD responses have no body) -> Error with
// Source::Upstream:
//   404 NoSuchKey / NoSuchBucket / NoSuchVersion, or no code       -> not_found
//   403 SignatureDoesNotMatch / InvalidAccessKeyId / AccessDenied / ExpiredToken / InvalidToken /
//       RequestTimeTooSkewed / InvalidSecurity, or no code         -> upstream_auth
//   400 AuthorizationHeaderMalformed / AuthorizationQueryParametersError -> upstream_auth
//   416 (any code, S3 sends InvalidRange)                           -> range_not_satisfiable
//   412 (any code)                                                  -> precondition_failed
//   500 / 502 / 503 / 504 (InternalError, SlowDown, ServiceUnavailable...)
//                                                  -> upstream_unreachable, retryable
//   429 (throttling by S3-compatible servers, like 503 SlowDown) -> upstream_unreachable, retryable
//   400 RequestTimeout (S3 gave up on a slow request upload)      -> upstream_timeout, retryable
//   anything else 1xx / 3xx / 4xx / 5xx                           -> upstream_bad_response
// 2xx and 304 are not errors: the result is a default Error whose code is success (!e.code).
Error map_s3_error(unsigned http_status, std::string_view s3_code);

}  // namespace yg::s3
