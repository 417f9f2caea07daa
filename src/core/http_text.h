#pragma once
// Small text rules of HTTP header values shared by the modules that read them (conditional
// requests, cache policy): optional whitespace, ASCII case-insensitive tokens, HTTP-dates.

#include <optional>
#include <string_view>

#include "core/clock.h"

namespace yg {

// Strips optional whitespace (space, tab) at both ends (RFC 9110 5.6.3).
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// ASCII case-insensitive equality (tokens, directive names).
inline bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

// HTTP-date in IMF-fixdate, RFC 850 or asctime form (RFC 9110 5.6.7), surrounding whitespace
// allowed; nullopt for anything else.
std::optional<SysTime> parse_http_date(std::string_view s);

}  // namespace yg
