#include "proxy/error_response.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "proxy/http_util.h"

namespace yg::proxy {
namespace http = boost::beast::http;

http::status status_for(const Error& e) noexcept {
  if (e.code.category() != yg_category()) {
    return http::status::internal_server_error;
  }
  switch (static_cast<errc>(e.code.value())) {
    case errc::bad_request:
    case errc::bad_path:
    case errc::blocked_pattern:
      return http::status::bad_request;
    case errc::uri_too_long:
      return http::status::uri_too_long;
    case errc::headers_too_large:
      return http::status::request_header_fields_too_large;
    case errc::body_too_large:
      return http::status::payload_too_large;
    case errc::method_not_allowed:
      return http::status::method_not_allowed;
    case errc::no_route:
    case errc::empty_key:
    case errc::not_found:
      return http::status::not_found;
    case errc::upstream_auth:
    case errc::upstream_unreachable:
    case errc::upstream_bad_response:
      return http::status::bad_gateway;
    case errc::upstream_timeout:
    case errc::request_timeout:
      return http::status::gateway_timeout;
    case errc::range_not_satisfiable:
      return http::status::range_not_satisfiable;
    case errc::precondition_failed:
      return http::status::precondition_failed;
    case errc::overloaded:
    case errc::circuit_open:
      return http::status::service_unavailable;
    case errc::rate_limited:
      return http::status::too_many_requests;
    case errc::token_missing:
    case errc::token_invalid:
      return http::status::unauthorized;
    case errc::forbidden:
    case errc::authz_denied:
    case errc::ip_denied:
      return http::status::forbidden;
    case errc::authz_unavailable:
      return http::status::internal_server_error;
    case errc::ok:
    case errc::internal:
      break;
  }
  return http::status::internal_server_error;
}

std::string error_json(http::status status, std::string_view message, std::string_view request_id,
                       std::string_view error_name, std::string_view reason) {
  boost::json::object o;
  o["error"] =
      error_name.empty() ? std::string(http::obsolete_reason(status)) : std::string(error_name);
  o["message"] = message;
  if (!reason.empty()) {
    o["reason"] = reason;
  }
  o["status"] = static_cast<int>(status);
  o["request_id"] = request_id;
  return boost::json::serialize(o);
}

http::response<http::string_body> make_error_response(const Error& e, std::string_view request_id,
                                                      unsigned version, bool keep_alive,
                                                      bool head_request, std::string_view reason,
                                                      uint32_t retry_after_s) {
  const auto status = status_for(e);
  http::response<http::string_body> res{status, version};
  set_common_headers(res, request_id);
  res.set(http::field::content_type, "application/json");
  if (status == http::status::method_not_allowed) {
    res.set(http::field::allow, "GET, HEAD, OPTIONS");
  }
  if (status == http::status::service_unavailable || status == http::status::too_many_requests) {
    res.set(http::field::retry_after, std::to_string(std::max<uint32_t>(retry_after_s, 1)));
  }
  // RFC 6750 section 3: no token -> the scheme alone; a bad one -> error="invalid_token".
  if (e.is(errc::token_missing)) {
    res.set(http::field::www_authenticate, "Bearer");
  } else if (e.is(errc::token_invalid)) {
    res.set(http::field::www_authenticate, "Bearer error=\"invalid_token\"");
  }
  // AUTHZ-4: a named error, so clients and dashboards tell "try later" from a server fault.
  const std::string_view name =
      e.is(errc::authz_unavailable) ? std::string_view("AuthorizationUnavailable") : "";
  res.body() = error_json(status, e.message(), request_id, name, reason);
  res.prepare_payload();
  if (head_request) {
    strip_body_for_head(res);
  }
  res.keep_alive(keep_alive);
  return res;
}

}  // namespace yg::proxy
