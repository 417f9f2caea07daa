#pragma once
// One table maps an Error to the HTTP status the client sees (FEATURES.md HTTP-2, HTTP-3), and
// one function builds the JSON error body. Messages are fixed texts per error: nothing the
// client sent (tokens, raw URIs) is ever echoed back.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace yg::proxy {

boost::beast::http::status status_for(const Error& e) noexcept;

// {"error":"<reason phrase or error_name>","message":"<detail>",["reason":"...",]"status":N,
//  "request_id":"..."}
std::string error_json(boost::beast::http::status status, std::string_view message,
                       std::string_view request_id, std::string_view error_name = {},
                       std::string_view reason = {});

// A complete error response: JSON body, Content-Type, Content-Length, X-Request-ID, plus
// Allow for 405 and Retry-After for 429 and 503 (`retry_after_s` seconds, at least 1). `version`
// is the client's HTTP version. `reason`: an authorization policy's explanation of a deny
// (written by the policy's author, never by the client), sent as "reason".
boost::beast::http::response<boost::beast::http::string_body> make_error_response(
    const Error& e, std::string_view request_id, unsigned version, bool keep_alive,
    bool head_request = false, std::string_view reason = {}, uint32_t retry_after_s = 0);

}  // namespace yg::proxy
