#include "proxy/http_util.h"

#include <boost/beast/core/string.hpp>
#include <ctime>
#include <string>

#include "core/clock.h"
#include "core/http_text.h"

namespace yg::proxy {
namespace http = boost::beast::http;

std::string_view http_date_now() {
  thread_local std::time_t cached_sec = 0;
  thread_local char buf[64];
  thread_local std::size_t len = 0;
  const std::time_t now = SysClock::to_time_t(SysClock::now());
  if (now != cached_sec) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_sec = now;
  }
  return {buf, len};
}

void set_common_headers(http::fields& f, std::string_view request_id) {
  f.set(http::field::date, http_date_now());
  f.set(http::field::server, "yatagarasu");
  f.set("X-Request-ID", request_id);
}

std::string_view field_value(const http::fields& f, http::field name) noexcept {
  auto it = f.find(name);
  return it == f.end() ? std::string_view{} : std::string_view(it->value());
}

bool is_forwarded_response_header(std::string_view name) noexcept {
  static constexpr std::string_view kExact[] = {
      "content-type",        "content-length",   "content-range", "content-encoding",
      "content-disposition", "content-language", "etag",          "last-modified",
      "accept-ranges",       "cache-control",    "expires",       "x-amz-version-id",
  };
  for (auto k : kExact) {
    if (boost::beast::iequals(name, k)) {
      return true;
    }
  }
  return name.size() > 11 && boost::beast::iequals(name.substr(0, 11), "x-amz-meta-");
}

bool is_forwarded_request_header(http::field f) noexcept {
  switch (f) {
    case http::field::if_match:
    case http::field::if_none_match:
    case http::field::if_modified_since:
    case http::field::if_unmodified_since:
    case http::field::if_range:
      return true;
    default:
      return false;
  }
}

void copy_response_headers(const http::fields& from, http::fields& to) {
  for (const auto& h : from) {
    // Content-Length is framing, decided by the relay, not copied.
    if (h.name() != http::field::content_length && is_forwarded_response_header(h.name_string())) {
      to.insert(h.name_string(), h.value());
    }
  }
}

std::string private_cache_control(std::string_view v) {
  std::string out = "private";
  while (!v.empty()) {
    const auto comma = v.find(',');
    const std::string_view d = trim_ows(v.substr(0, comma));
    v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
    const std::string_view name = trim_ows(d.substr(0, d.find('=')));
    if (d.empty() || iequals_ascii(name, "public") || iequals_ascii(name, "private") ||
        iequals_ascii(name, "s-maxage")) {
      continue;
    }
    out += ", ";
    out += d;
  }
  return out;
}

void strip_body_for_head(http::response<http::string_body>& res) {
  const auto len = res.body().size();
  res.body().clear();
  res.content_length(len);
}

}  // namespace yg::proxy
