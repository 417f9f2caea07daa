#include "net/server/request_head.h"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

namespace yg::net {
namespace http = boost::beast::http;

namespace {

Error bad() {
  return Error::of(errc::bad_request, Source::Downstream);
}

// RFC 9110 5.6.2 token characters (header field names).
bool is_tchar(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// Line-level checks Beast's parser does not make (or makes leniently).
bool lines_are_strict(std::string_view head) noexcept {
  std::size_t pos = head.find("\r\n");  // skip the request line
  if (pos == std::string_view::npos) {
    return false;
  }
  pos += 2;
  int content_length_count = 0;
  while (pos < head.size()) {
    std::size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      return false;
    }
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) {
      break;  // end of head
    }
    // RFC 9112 5.2: obs-fold in a request is refused.
    if (line.front() == ' ' || line.front() == '\t') {
      return false;
    }
    std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      return false;
    }
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!is_tchar(c)) {
        return false;  // also refuses "Name : value" (RFC 9112 5.1)
      }
    }
    for (unsigned char c : line.substr(colon + 1)) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return false;  // CR, LF, NUL and other controls inside a value
      }
    }
    if (boost::beast::iequals(name, "content-length")) {
      ++content_length_count;
      std::string_view v = line.substr(colon + 1);
      if (v.find(',') != std::string_view::npos) {
        return false;  // "Content-Length: 5, 5": a list is a smuggling shape
      }
    }
  }
  return content_length_count <= 1;
}

}  // namespace

HeadEnd find_head_end(std::string_view buf, std::size_t from) noexcept {
  for (std::size_t i = from; i < buf.size(); ++i) {
    if (buf[i] != '\n') {
      continue;
    }
    if (i == 0 || buf[i - 1] != '\r') {
      return HeadEnd{std::string_view::npos, true};
    }
    if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
      return HeadEnd{i + 1, false};
    }
  }
  return HeadEnd{};
}

Result<RequestHead> parse_request_head(std::string_view raw, const HeadLimits& limits) {
  if (raw.size() > limits.max_header_size) {
    return Error::of(errc::headers_too_large, Source::Downstream);
  }
  // URI length is checked before the full parse so an oversized target is a 414, not a 400.
  const std::size_t sp1 = raw.find(' ');
  if (sp1 == std::string_view::npos) {
    return bad();
  }
  const std::size_t sp2 = raw.find(' ', sp1 + 1);
  const std::size_t eol = raw.find("\r\n");
  if (sp2 == std::string_view::npos || eol == std::string_view::npos || sp2 > eol) {
    return bad();
  }
  if (sp2 - sp1 - 1 > limits.max_uri_length) {
    return Error::of(errc::uri_too_long, Source::Downstream);
  }
  if (!lines_are_strict(raw)) {
    return bad();
  }

  http::request_parser<http::empty_body> parser;
  parser.header_limit(
      static_cast<std::uint32_t>(std::min<uint64_t>(limits.max_header_size, UINT32_MAX)));
  parser.eager(false);
  // The body is never read here; Content-Length is judged against max_body_size by the
  // session (413), not by Beast's default 1 MiB body limit.
  parser.body_limit(boost::none);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  if (ec || !parser.is_header_done()) {
    if (ec == http::error::header_limit) {
      return Error::of(errc::headers_too_large, Source::Downstream);
    }
    return bad();
  }
  auto& req = parser.get();
  RequestHead head;
  head.method = req.method();
  head.method_string = std::string(req.method_string());
  head.target = std::string(req.target());
  head.version = req.version();
  if (head.version != 10 && head.version != 11) {
    return bad();
  }
  if (head.target.empty() || head.target.front() != '/') {
    // Origin-form only: absolute-form and authority-form are for forward proxies.
    return bad();
  }
  if (head.version == 11 && req.count(http::field::host) != 1) {
    return bad();  // RFC 9112 3.2: exactly one Host in HTTP/1.1
  }
  if (req.count(http::field::transfer_encoding) > 0) {
    // RFC 9112 6.1: only "chunked" (as the final coding) frames a request body; anything else is
    // refused rather than guessed at.
    if (!parser.chunked() ||
        !boost::beast::iequals(req[http::field::transfer_encoding], "chunked")) {
      return bad();
    }
    head.chunked = true;
  }
  if (auto cl = parser.content_length()) {
    head.content_length = *cl;
  }
  head.keep_alive = parser.keep_alive();
  head.fields = std::move(static_cast<http::fields&>(req));
  return head;
}

}  // namespace yg::net
