#pragma once
// The error value carried through the data path. Detail text is logged where the failure
// happens (with the request id); Error itself stays cheap to copy.

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <string>

namespace yg {

enum class Source : uint8_t { Downstream, Upstream, Internal };

// Failures the proxy itself classifies. Each maps to one HTTP status in
// proxy/error_response.cc.
enum class errc : int {
  ok = 0,
  bad_request,            // malformed request / smuggling shape -> 400
  bad_path,               // traversal, NUL, bad percent-encoding -> 400
  blocked_pattern,        // SQL-injection pattern -> 400
  uri_too_long,           // -> 414
  headers_too_large,      // -> 431
  body_too_large,         // -> 413
  method_not_allowed,     // -> 405
  no_route,               // unknown prefix -> 404
  empty_key,              // "/prefix/" alone -> 404
  not_found,              // S3 NoSuchKey / NoSuchBucket -> 404
  upstream_auth,          // S3 refused our signature or credentials -> 502
  upstream_unreachable,   // connect refused, DNS failure, reset before response -> 502
  upstream_timeout,       // connect / first byte / idle read timeout -> 504
  upstream_bad_response,  // unparseable response, unexpected status -> 502
  range_not_satisfiable,  // -> 416
  precondition_failed,    // -> 412
  request_timeout,        // server.request_timeout elapsed -> 504
  overloaded,             // max_concurrent_requests reached / draining -> 503
  rate_limited,           // a rate limit (global, per IP, per bucket) -> 429 + Retry-After
  circuit_open,           // every replica's circuit breaker is open -> 503 + Retry-After
  ip_denied,              // the bucket's ip_filter refuses the client address -> 403
  token_missing,          // protected bucket, no token -> 401 WWW-Authenticate: Bearer
  token_invalid,          // bad/expired/unverifiable token -> 401 ... error="invalid_token"
  forbidden,              // a claim rule (or admin claim) failed -> 403
  authz_denied,           // OPA / OpenFGA said no -> 403
  authz_unavailable,      // OPA / OpenFGA could not answer, fail mode closed -> 500
  internal,               // a bug -> 500
};

const boost::system::error_category& yg_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), yg_category()};
}

struct Error {
  boost::system::error_code code;
  Source source = Source::Internal;
  bool retryable = false;  // set where the failure is understood, not by the caller

  static Error of(errc e, Source s = Source::Internal, bool retryable = false) {
    return Error{make_error_code(e), s, retryable};
  }
  bool is(errc e) const noexcept { return code == make_error_code(e); }
  std::string message() const { return code.message(); }
};

// Lets Result<T>::value() throw in tests (ADL hook of boost::system::result).
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

}  // namespace yg

namespace boost::system {
template <>
struct is_error_code_enum<yg::errc> : std::true_type {};
}  // namespace boost::system
