#include "cache/policy.h"

#include "core/http_text.h"

#include <charconv>

namespace yg::cache {
namespace {

std::optional<uint64_t> delta_seconds(std::string_view v) {
  v = trim_ows(v);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    v = v.substr(1, v.size() - 2);  // quoted form, tolerated (RFC 9111 5.2)
  }
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || p != v.data() + v.size()) {
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range) {
    return uint64_t{2147483648};  // RFC 9111 1.2.2: treat overflow as 2^31
  }
  if (ec != std::errc{}) {
    return std::nullopt;
  }
  return n;
}

}  // namespace

CacheControl parse_cache_control(std::string_view value) {
  CacheControl cc;
  while (!value.empty()) {
    // Directives are comma-separated; a quoted argument may hold commas.
    std::size_t end = 0;
    bool quoted = false;
    while (end < value.size() && (quoted || value[end] != ',')) {
      if (value[end] == '"') {
        quoted = !quoted;
      }
      ++end;
    }
    std::string_view item = trim_ows(value.substr(0, end));
    value.remove_prefix(std::min(end + 1, value.size()));
    if (item.empty()) {
      continue;
    }
    std::string_view name = item, arg;
    if (auto eq = item.find('='); eq != std::string_view::npos) {
      name = trim_ows(item.substr(0, eq));
      arg = item.substr(eq + 1);
    }
    if (iequals_ascii(name, "no-store")) {
      cc.no_store = true;
    } else if (iequals_ascii(name, "no-cache")) {
      cc.no_cache = true;  // with field names (no-cache="x") a shared cache still revalidates
    } else if (iequals_ascii(name, "private")) {
      cc.private_ = true;
    } else if (iequals_ascii(name, "public")) {
      cc.public_ = true;
    } else if (iequals_ascii(name, "must-revalidate")) {
      cc.must_revalidate = true;
    } else if (iequals_ascii(name, "proxy-revalidate")) {
      cc.proxy_revalidate = true;
    } else if (iequals_ascii(name, "max-age")) {
      cc.max_age = delta_seconds(arg).value_or(0);
    } else if (iequals_ascii(name, "s-maxage")) {
      cc.s_maxage = delta_seconds(arg).value_or(0);
    }
  }
  return cc;
}

std::string_view to_string(NoStoreReason r) noexcept {
  switch (r) {
    case NoStoreReason::None:
      return "stored";
    case NoStoreReason::Method:
      return "method";
    case NoStoreReason::Status:
      return "status";
    case NoStoreReason::NoStore:
      return "no_store";
    case NoStoreReason::Private:
      return "private";
    case NoStoreReason::NoCache:
      return "no_cache";
    case NoStoreReason::ZeroTtl:
      return "zero_ttl";
    case NoStoreReason::TooLarge:
      return "too_large";
    case NoStoreReason::NoLength:
      return "no_length";
    case NoStoreReason::SetCookie:
      return "set_cookie";
    case NoStoreReason::FillBudget:
      return "fill_budget";
  }
  return "?";
}

StoreDecision decide(const ResponseFacts& r, const StorePolicy& p) {
  StoreDecision d;
  auto no = [&d](NoStoreReason why) {
    d.reason = why;
    d.ttl = std::chrono::seconds(0);
    return d;
  };
  if (r.method != "GET") {
    return no(NoStoreReason::Method);
  }
  if (r.status != 200) {
    return no(NoStoreReason::Status);
  }
  const CacheControl cc = parse_cache_control(r.cache_control);
  if (cc.no_store) {
    return no(NoStoreReason::NoStore);
  }
  if (cc.private_) {
    return no(NoStoreReason::Private);
  }
  if (cc.no_cache) {
    return no(NoStoreReason::NoCache);
  }
  if (r.set_cookie) {
    return no(NoStoreReason::SetCookie);
  }
  if (!r.content_length) {
    return no(NoStoreReason::NoLength);
  }
  if (*r.content_length > p.max_item_bytes) {
    return no(NoStoreReason::TooLarge);
  }
  int64_t ttl = p.ttl.count();
  if (cc.s_maxage) {
    ttl = std::min<int64_t>(ttl, static_cast<int64_t>(*cc.s_maxage));
  } else if (cc.max_age) {
    ttl = std::min<int64_t>(ttl, static_cast<int64_t>(*cc.max_age));
  } else if (!r.expires.empty()) {
    // An invalid Expires (e.g. "0") means already expired (RFC 9111 5.3).
    const auto exp = parse_http_date(r.expires);
    const auto date = parse_http_date(r.date);
    if (!exp) {
      ttl = 0;
    } else if (date) {
      ttl = std::min<int64_t>(
          ttl, std::chrono::duration_cast<std::chrono::seconds>(*exp - *date).count());
    }
  }
  if (ttl <= 0) {
    return no(NoStoreReason::ZeroTtl);
  }
  d.ttl = std::chrono::seconds(ttl);
  return d;
}

std::string bucket_prefix(std::string_view bucket) {
  std::string k = std::to_string(bucket.size());
  k += ':';
  k += bucket;
  return k;
}

std::string cache_key(std::string_view bucket, std::string_view key, std::string_view version_id) {
  std::string k;
  k.reserve(bucket.size() + key.size() + version_id.size() + 24);
  k += std::to_string(bucket.size());
  k += ':';
  k += bucket;
  k += std::to_string(key.size());
  k += ':';
  k += key;
  if (!version_id.empty()) {
    k += "?v=";
    k += version_id;
  }
  return k;
}

}  // namespace yg::cache
