#include "router/path.h"

#include <array>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>
#include <cstdint>

namespace yg::router {
namespace {

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// True when `s` is well-formed UTF-8 (RFC 3629 section 4: rejects overlong forms, UTF-16
// surrogates and code points above U+10FFFF) and holds no control character. One pass so the
// hot path reads the decoded bytes once.
bool is_clean_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  auto tail = [&](const unsigned char* q, unsigned char lo, unsigned char hi) {
    return q < end && *q >= lo && *q <= hi;
  };
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if (is_control(c)) {
        return false;
      }
      ++p;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      if (!tail(p + 1, 0x80, 0xbf)) {
        return false;
      }
      p += 2;
      continue;
    }
    if (c >= 0xe0 && c <= 0xef) {
      // E0 needs A0..BF (no overlongs); ED needs 80..9F (no surrogates).
      const unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
      const unsigned char hi = c == 0xed ? 0x9f : 0xbf;
      if (!tail(p + 1, lo, hi) || !tail(p + 2, 0x80, 0xbf)) {
        return false;
      }
      p += 3;
      continue;
    }
    if (c >= 0xf0 && c <= 0xf4) {
      // F0 needs 90..BF (no overlongs); F4 needs 80..8F (nothing above U+10FFFF).
      const unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;
      if (!tail(p + 1, lo, hi) || !tail(p + 2, 0x80, 0xbf) || !tail(p + 3, 0x80, 0xbf)) {
        return false;
      }
      p += 4;
      continue;
    }
    return false;  // 80..C1 (stray continuation, overlong lead) and F5..FF never start a char
  }
  return true;
}

// A "." or ".." segment, splitting on '/' and '\'. '\' counts too: a key may end up on a file
// system or in a tool that treats it as a separator, and "..\" is a classic traversal form.
bool has_dot_segment(std::string_view s) {
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '/' || s[i] == '\\') {
      const std::string_view seg = s.substr(start, i - start);
      if (seg == "." || seg == "..") {
        return true;
      }
      start = i + 1;
    }
  }
  return false;
}

// Percent-decodes `raw` once. Boost.URL validates the escapes (RFC 3986 section 2.1) and is
// otherwise lenient about which raw characters appear, which is what we want: the bytes are
// validated after decoding, where encoded and raw forms look the same.
Result<std::string> pct_decode(std::string_view raw, bool plus_as_space, errc on_error) {
  auto pct = boost::urls::make_pct_string_view(raw);
  if (!pct) {
    return Error::of(on_error, Source::Downstream);
  }
  boost::urls::encoding_opts opts;
  opts.space_as_plus = plus_as_space;
  std::string out = pct->decode(opts);
  if (!is_clean_utf8(out)) {
    return Error::of(on_error, Source::Downstream);
  }
  return out;
}

}  // namespace

SplitTarget split_target(std::string_view target) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) {
    return {target, {}};
  }
  return {target.substr(0, q), target.substr(q + 1)};
}

Result<std::string> decode_path(std::string_view raw_path) {
  if (raw_path.empty() || raw_path.front() != '/') {
    return Error::of(errc::bad_path, Source::Downstream);
  }
  auto decoded = pct_decode(raw_path, /*plus_as_space=*/false, errc::bad_path);
  if (!decoded) {
    return decoded;
  }
  if (has_dot_segment(*decoded)) {
    return Error::of(errc::bad_path, Source::Downstream);
  }
  return decoded;
}

Result<std::vector<std::pair<std::string, std::string>>> decode_query(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!raw_query.empty()) {
    const std::size_t amp = raw_query.find('&');
    const std::string_view piece = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view{} : raw_query.substr(amp + 1);
    if (piece.empty()) {
      continue;
    }
    const std::size_t eq = piece.find('=');
    const std::string_view raw_name = piece.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1);
    auto name = pct_decode(raw_name, /*plus_as_space=*/true, errc::bad_request);
    if (!name) {
      return name.error();
    }
    auto value = pct_decode(raw_value, /*plus_as_space=*/true, errc::bad_request);
    if (!value) {
      return value.error();
    }
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

bool looks_like_sql_injection(std::string_view decoded) {
  // Lower-case ASCII and fold runs of spaces into one, so every pattern below can be a plain
  // substring search.
  std::string s;
  s.reserve(decoded.size());
  for (const char ch : decoded) {
    const char c = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    if (c == ' ' && !s.empty() && s.back() == ' ') {
      continue;
    }
    s.push_back(c);
  }
  auto has = [&s](std::string_view needle) { return s.find(needle) != std::string::npos; };

  // A quote that closes a string literal followed by SQL syntax, or a tautology or UNION
  // that needs no quote. A quote alone (user's_document.txt) is fine.
  static constexpr std::array<std::string_view, 15> kPatterns = {
      "' or '",     "' and '",     "' union ",    "' select ",      " or 1=1",
      " or '1'='1", "'; drop ",    "'; delete ",  "'; insert ",     "'; update ",
      "' having ",  "' group by ", "' order by ", " union select ", " union all select ",
  };
  for (const std::string_view p : kPatterns) {
    if (has(p)) {
      return true;
    }
  }
  // A quote followed by a comment opener (optionally after one space) ends the statement.
  for (std::size_t i = s.find('\''); i != std::string::npos; i = s.find('\'', i + 1)) {
    std::string_view rest = std::string_view(s).substr(i + 1);
    if (!rest.empty() && rest.front() == ' ') {
      rest.remove_prefix(1);
    }
    if (rest.starts_with("--") || rest.starts_with("#") || rest.starts_with("/*")) {
      return true;
    }
  }
  // Hex literals (0x...) get around quote filters when combined with a boolean or UNION.
  return has("0x") && (has(" or ") || has(" and ") || has(" union "));
}

}  // namespace yg::router
