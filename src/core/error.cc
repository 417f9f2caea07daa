#include "core/error.h"

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

namespace yg {
namespace {

class YgCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "yatagarasu"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok:
        return "ok";
      case errc::bad_request:
        return "malformed request";
      case errc::bad_path:
        return "invalid path";
      case errc::blocked_pattern:
        return "request blocked by security pattern";
      case errc::uri_too_long:
        return "URI too long";
      case errc::headers_too_large:
        return "request headers too large";
      case errc::body_too_large:
        return "request body too large";
      case errc::method_not_allowed:
        return "method not allowed";
      case errc::no_route:
        return "no bucket matches this path";
      case errc::empty_key:
        return "object key is empty";
      case errc::not_found:
        return "object not found";
      case errc::upstream_auth:
        return "storage backend refused the proxy's credentials";
      case errc::upstream_unreachable:
        return "storage backend unreachable";
      case errc::upstream_timeout:
        return "storage backend timed out";
      case errc::upstream_bad_response:
        return "invalid response from storage backend";
      case errc::range_not_satisfiable:
        return "requested range not satisfiable";
      case errc::precondition_failed:
        return "precondition failed";
      case errc::request_timeout:
        return "request timed out";
      case errc::token_missing:
        return "authentication required: send a bearer token";
      case errc::token_invalid:
        return "the token is not valid";
      case errc::forbidden:
        return "the token does not grant access to this resource";
      case errc::authz_denied:
        return "access denied by the bucket's authorization policy";
      case errc::authz_unavailable:
        return "the authorization service could not answer; retry later";
      case errc::overloaded:
        return "server is busy, retry later";
      case errc::rate_limited:
        return "too many requests, retry later";
      case errc::circuit_open:
        return "storage backend unavailable (circuit breaker open), retry later";
      case errc::ip_denied:
        return "access from this address is not allowed";
      case errc::internal:
        return "internal error";
    }
    return "unknown error";
  }
};

}  // namespace

const boost::system::error_category& yg_category() noexcept {
  static const YgCategory cat;
  return cat;
}

void throw_exception_from_error(const Error& e, const boost::source_location& loc) {
  boost::throw_exception(boost::system::system_error(e.code), loc);
}

}  // namespace yg
