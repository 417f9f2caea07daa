#pragma once
// Pure request-head validation and parsing (FEATURES.md HTTP-3, HTTP-9). The session reads raw
// bytes up to the end of the head; this turns them into a parsed head or a precise refusal.
// Shapes used for request smuggling (CL+TE, duplicate Content-Length, obs-fold, bare LF,
// invalid header names, non-chunked Transfer-Encoding) are refused here, before Beast's parser
// (which tolerates some of them) sees the bytes.

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace yg::net {

struct HeadLimits {
  uint64_t max_header_size = 64 * 1024;
  uint64_t max_uri_length = 8 * 1024;
};

// Where the head ends in `buf`: the offset just past "\r\n\r\n", `npos` if more bytes are needed,
// or an error for a bare LF (refused at once instead of waiting for a CRLFCRLF that never comes).
struct HeadEnd {
  std::size_t end = std::string_view::npos;
  bool bare_lf = false;
};
// `from` resumes a search: bytes before it were already scanned by an earlier call (they are
// still looked at as the context of a line ending at `from`).
HeadEnd find_head_end(std::string_view buf, std::size_t from = 0) noexcept;

struct RequestHead {
  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  std::string method_string;
  std::string target;
  unsigned version = 11;  // 10 or 11
  boost::beast::http::fields fields;
  bool keep_alive = true;
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool has_body() const noexcept { return chunked || (content_length && *content_length > 0); }
};

// `raw` is the whole head including the final CRLFCRLF. Errors:
//   errc::bad_request        malformed or smuggling-shaped (-> 400, close)
//   errc::uri_too_long       target longer than max_uri_length (-> 414)
//   errc::headers_too_large  head longer than max_header_size (-> 431)
Result<RequestHead> parse_request_head(std::string_view raw, const HeadLimits& limits);

}  // namespace yg::net
