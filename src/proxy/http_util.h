#pragma once
// Small HTTP helpers shared by the session and the upstream relay.

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string_view>

namespace yg::proxy {

// The current time as an IMF-fixdate (RFC 9110 5.6.7), formatted at most once per second per
// thread.
std::string_view http_date_now();

// HEAD (RFC 9110 9.3.2): keeps the Content-Length a GET would have, drops the body.
void strip_body_for_head(boost::beast::http::response<boost::beast::http::string_body>& res);

// Headers on every response the proxy writes: Date, Server, X-Request-ID (HTTP-4).
void set_common_headers(boost::beast::http::fields& f, std::string_view request_id);

// The value of `name` in `f` (the first, when repeated), or empty when absent.
std::string_view field_value(const boost::beast::http::fields& f,
                             boost::beast::http::field name) noexcept;

// HTTP-6: response headers copied from S3 to the client.
bool is_forwarded_response_header(std::string_view name) noexcept;

// HTTP-6: client request headers forwarded to S3 (Range is handled separately).
bool is_forwarded_request_header(boost::beast::http::field f) noexcept;

// A protected bucket's object must never be stored by a shared cache (RFC 9111 5.2.2.7): a
// CDN or corporate proxy that ignores a header or query token would serve it to anyone. The
// Cache-Control to send instead of S3's `cc`: kept minus `public` and `s-maxage`, with `private`
// added.
std::string private_cache_control(std::string_view cc);

// Copies the HTTP-6 set of response headers from `from` to `to`, except Content-Length.
void copy_response_headers(const boost::beast::http::fields& from, boost::beast::http::fields& to);

}  // namespace yg::proxy
