#include "cache/policy.h"

#include <charconv>
#include <ctime>

namespace yg::cache {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

std::optional<uint64_t> delta_seconds(std::string_view v) {
  v = trim(v);
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

int month_of(std::string_view m) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (m == kMonths[i]) {
      return i;
    }
  }
  return -1;
}

bool number(std::string_view s, int& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
}

std::optional<int64_t> to_epoch(int year, int mon, int day, int h, int m, int sec) {
  if (mon < 0 || day < 1 || day > 31 || h > 23 || m > 59 || sec > 60 || year < 1970) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm));
}

bool hms(std::string_view t, int& h, int& m, int& s) {
  return t.size() == 8 && t[2] == ':' && t[5] == ':' && number(t.substr(0, 2), h) &&
         number(t.substr(3, 2), m) && number(t.substr(6, 2), s);
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
    std::string_view item = trim(value.substr(0, end));
    value.remove_prefix(std::min(end + 1, value.size()));
    if (item.empty()) {
      continue;
    }
    std::string_view name = item, arg;
    if (auto eq = item.find('='); eq != std::string_view::npos) {
      name = trim(item.substr(0, eq));
      arg = item.substr(eq + 1);
    }
    if (iequals(name, "no-store")) {
      cc.no_store = true;
    } else if (iequals(name, "no-cache")) {
      cc.no_cache = true;  // with field names (no-cache="x") a shared cache still revalidates
    } else if (iequals(name, "private")) {
      cc.private_ = true;
    } else if (iequals(name, "public")) {
      cc.public_ = true;
    } else if (iequals(name, "must-revalidate")) {
      cc.must_revalidate = true;
    } else if (iequals(name, "proxy-revalidate")) {
      cc.proxy_revalidate = true;
    } else if (iequals(name, "max-age")) {
      cc.max_age = delta_seconds(arg).value_or(0);
    } else if (iequals(name, "s-maxage")) {
      cc.s_maxage = delta_seconds(arg).value_or(0);
    }
  }
  return cc;
}

std::optional<int64_t> parse_http_date(std::string_view s) {
  s = trim(s);
  int day = 0, year = 0, h = 0, m = 0, sec = 0;
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (s.size() == 29 && s[3] == ',' && s.substr(25) == " GMT") {
    if (number(s.substr(5, 2), day) && number(s.substr(12, 4), year) &&
        hms(s.substr(17, 8), h, m, sec)) {
      return to_epoch(year, month_of(s.substr(8, 3)), day, h, m, sec);
    }
    return std::nullopt;
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (two-digit years: 70-99 -> 19xx, else 20xx)
  if (auto comma = s.find(", ");
      comma != std::string_view::npos && s.ends_with(" GMT") && s.size() == comma + 2 + 22) {
    std::string_view d = s.substr(comma + 2);
    if (d[2] == '-' && d[6] == '-' && number(d.substr(0, 2), day) && number(d.substr(7, 2), year) &&
        hms(d.substr(10, 8), h, m, sec)) {
      year += year >= 70 ? 1900 : 2000;
      return to_epoch(year, month_of(d.substr(3, 3)), day, h, m, sec);
    }
    return std::nullopt;
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (s.size() == 24 && s[3] == ' ' && s[7] == ' ') {
    std::string_view d = s.substr(8, 2);
    if (d.front() == ' ') {
      d.remove_prefix(1);
    }
    if (number(d, day) && hms(s.substr(11, 8), h, m, sec) && number(s.substr(20, 4), year)) {
      return to_epoch(year, month_of(s.substr(4, 3)), day, h, m, sec);
    }
  }
  return std::nullopt;
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
      ttl = std::min<int64_t>(ttl, *exp - *date);
    }
  }
  if (ttl <= 0) {
    return no(NoStoreReason::ZeroTtl);
  }
  d.ttl = std::chrono::seconds(ttl);
  return d;
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
