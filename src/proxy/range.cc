#include "proxy/range.h"

#include <algorithm>
#include <charconv>

namespace yg::proxy {
namespace {

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}  // RFC 9110 section 5.6.3

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ows(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// 1*DIGIT spanning the whole of `s` and fitting uint64. from_chars takes no sign or space for
// an unsigned type, and reports overflow as result_out_of_range.
std::optional<std::uint64_t> parse_number(std::string_view s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

// int-range = first-pos "-" [ last-pos ];  suffix-range = "-" suffix-length
std::optional<RangeSpec> parse_spec(std::string_view s) {
  const std::size_t dash = s.find('-');
  if (dash == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view a = s.substr(0, dash);
  const std::string_view b = s.substr(dash + 1);
  RangeSpec spec;
  if (a.empty()) {
    spec.last = parse_number(b);  // "-" alone and "--1" fail here
    if (!spec.last) {
      return std::nullopt;
    }
    return spec;
  }
  spec.first = parse_number(a);
  if (!spec.first) {
    return std::nullopt;
  }
  if (!b.empty()) {
    spec.last = parse_number(b);
    // RFC 9110 section 14.1.1: a last-pos below first-pos makes the range-spec invalid.
    if (!spec.last || *spec.last < *spec.first) {
      return std::nullopt;
    }
  }
  return spec;
}

bool iequals_bytes(std::string_view unit) {
  constexpr std::string_view kBytes = "bytes";
  return unit.size() == kBytes.size() &&
         std::equal(unit.begin(), unit.end(), kBytes.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? static_cast<char>(x - 'A' + 'a') : x) == y;
         });
}

}  // namespace

std::optional<std::vector<RangeSpec>> parse_range(std::string_view header_value) {
  // ranges-specifier = range-unit "=" range-set  (RFC 9110 section 14.1.1)
  const std::string_view value = trim_ows(header_value);
  const std::size_t eq = value.find('=');
  if (eq == std::string_view::npos || !iequals_bytes(value.substr(0, eq))) {
    return std::nullopt;
  }
  // range-set = 1#range-spec, list elements separated by OWS "," OWS.
  std::string_view rest = value.substr(eq + 1);
  std::vector<RangeSpec> specs;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view element = trim_ows(rest.substr(0, comma));
    if (!element.empty()) {
      if (specs.size() == kMaxRanges) {
        return std::nullopt;
      }
      auto spec = parse_spec(element);
      if (!spec) {
        return std::nullopt;
      }
      specs.push_back(*spec);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(comma + 1);
  }
  if (specs.empty()) {
    return std::nullopt;
  }
  return specs;
}

std::vector<ByteRange> resolve_ranges(const std::vector<RangeSpec>& specs, std::uint64_t size) {
  std::vector<ByteRange> out;
  if (size == 0) {
    return out;
  }
  for (const RangeSpec& s : specs) {
    if (s.first) {
      if (*s.first >= size) {
        continue;  // RFC 9110 section 14.1.3: first-pos must be below the length
      }
      const std::uint64_t last = s.last ? std::min(*s.last, size - 1) : size - 1;
      out.push_back({*s.first, last});
    } else if (s.last) {
      if (*s.last == 0) {
        continue;  // a zero suffix-length is unsatisfiable
      }
      out.push_back({size - std::min(*s.last, size), size - 1});
    }
  }
  return out;
}

std::string content_range(ByteRange r, std::uint64_t size) {
  return "bytes " + std::to_string(r.first) + "-" + std::to_string(r.last) + "/" +
         std::to_string(size);
}

std::string content_range_unsatisfied(std::uint64_t size) {
  return "bytes */" + std::to_string(size);
}

}  // namespace yg::proxy
