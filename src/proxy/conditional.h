#pragma once
// Conditional requests (RFC 9110 section 13, FEATURES.md HTTP-7), pure: evaluated against the
// validators of the representation the proxy is about to send (S3's ETag and Last-Modified, or
// a cached copy's). S3 and S3-compatible servers differ in how much of section 13 they
// implement (lists, weak tags, "*"), so the proxy evaluates again on every 200/206 it relays.

#include <boost/beast/http/fields.hpp>
#include <optional>
#include <string_view>

#include "core/clock.h"
#include "core/http_text.h"

namespace yg::proxy {

enum class Precondition { Proceed, NotModified, Failed };

// RFC 9110 13.2.2 order for GET/HEAD: If-Match, else If-Unmodified-Since (-> Failed = 412);
// then If-None-Match, else If-Modified-Since (-> NotModified = 304). A header with invalid
// syntax or an unparseable date is ignored, as the RFC says.
Precondition evaluate_preconditions(const boost::beast::http::fields& request,
                                    std::string_view etag, std::optional<SysTime> last_modified);

// Does the entity-tag list (`*` or `"a", W/"b"`) match `etag`? Weak comparison ignores the W/
// prefix on both sides; strong comparison never matches a weak tag (RFC 9110 8.8.3.2).
bool etag_list_matches(std::string_view list, std::string_view etag, bool weak);

// HTTP-date in IMF-fixdate, RFC 850 or asctime form (RFC 9110 5.6.7): core/http_text.h.
using ::yg::parse_http_date;

}  // namespace yg::proxy
