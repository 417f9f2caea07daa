#include "proxy/conditional.h"

#include <string>

namespace yg::proxy {
namespace http = boost::beast::http;

namespace {

struct Tag {
  bool weak = false;
  std::string_view opaque;  // including the quotes
};

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
std::optional<Tag> parse_tag(std::string_view s) {
  Tag t;
  if (s.starts_with("W/")) {
    t.weak = true;
    s.remove_prefix(2);
  }
  if (s.size() < 2 || s.front() != '"' || s.back() != '"' ||
      s.substr(1, s.size() - 2).find('"') != std::string_view::npos) {
    return std::nullopt;
  }
  t.opaque = s;
  return t;
}

std::optional<SysTime> header_date(const http::fields& f, http::field name) {
  auto it = f.find(name);
  if (it == f.end()) {
    return std::nullopt;
  }
  return parse_http_date(std::string_view(it->value()));
}

}  // namespace

bool etag_list_matches(std::string_view list, std::string_view etag, bool weak) {
  list = trim_ows(list);
  if (list == "*") {
    return true;
  }
  auto mine = parse_tag(trim_ows(etag));
  if (!mine || (!weak && mine->weak)) {
    return false;
  }
  while (!list.empty()) {
    // Tags cannot contain '"' inside, so the next comma outside quotes ends the member.
    std::size_t end = 0;
    bool quoted = false;
    for (; end < list.size(); ++end) {
      if (list[end] == '"') {
        quoted = !quoted;
      } else if (list[end] == ',' && !quoted) {
        break;
      }
    }
    auto member = trim_ows(list.substr(0, end));
    list = end < list.size() ? list.substr(end + 1) : std::string_view{};
    auto t = parse_tag(member);
    if (!t) {
      continue;
    }
    if (!weak && t->weak) {
      continue;
    }
    if (t->opaque == mine->opaque) {
      return true;
    }
  }
  return false;
}

Precondition evaluate_preconditions(const http::fields& req, std::string_view etag,
                                    std::optional<SysTime> last_modified) {
  // Step 1-2: If-Match, else If-Unmodified-Since.
  if (auto it = req.find(http::field::if_match); it != req.end()) {
    if (!etag_list_matches(std::string_view(it->value()), etag, false)) {
      return Precondition::Failed;
    }
  } else if (auto d = header_date(req, http::field::if_unmodified_since); d && last_modified) {
    if (*last_modified > *d) {
      return Precondition::Failed;
    }
  }
  // Step 3-4: If-None-Match, else If-Modified-Since (GET/HEAD only; the proxy serves no other).
  if (auto it = req.find(http::field::if_none_match); it != req.end()) {
    if (etag_list_matches(std::string_view(it->value()), etag, true)) {
      return Precondition::NotModified;
    }
  } else if (auto d = header_date(req, http::field::if_modified_since); d && last_modified) {
    if (*last_modified <= *d) {
      return Precondition::NotModified;
    }
  }
  return Precondition::Proceed;
}

}  // namespace yg::proxy
