#pragma once
// Request-target splitting, percent-decoding and validation (FEATURES.md ROUTE-2, ROUTE-3).
// Pure functions: no I/O, no allocation beyond the returned values; callable from any thread.
//
// Order on the request path: split_target -> decode_path (400 on failure) -> RouteTable::match
// (404 on miss or empty key) -> decode_query -> looks_like_sql_injection on the decoded path
// and every decoded query name and value (400 when it fires and
// security_limits.block_sql_injection is on).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace yg::router {

struct SplitTarget {
  std::string_view path;
  std::string_view query;  // without the '?'; empty when there is none
};

// Splits an origin-form request-target (RFC 9110 section 7.1, RFC 3986 section 3) at the first
// '?'. Views point into `target`. A target that is not origin-form comes back unchanged as
// `path`; decode_path() then refuses it because it does not start with '/'.
SplitTarget split_target(std::string_view target);

// Percent-decodes the whole path exactly once and validates the result (ROUTE-2). Every failure
// is errc::bad_path (-> 400):
//   - the raw path does not start with '/';
//   - invalid percent-encoding ("%zz", truncated "%" or "%4");
//   - after decoding: a NUL or other control character (< 0x20, 0x7f);
//   - after decoding: invalid UTF-8 (overlong forms such as %c0%ae, surrogates, > U+10FFFF);
//   - after decoding: a "." or ".." segment, with both '/' and '\' treated as separators for
//     this check so that "..\" traversal is refused as well.
// Kept as they are: '+' (a path is not form-encoded), empty segments ("//": S3 keys may contain
// them), '\' inside a segment, and "%2F", which decodes to '/' and therefore separates
// segments for routing exactly as S3 would treat it in a key.
Result<std::string> decode_path(std::string_view raw_path);

// Decodes an application/x-www-form-urlencoded query (WHATWG URL "urlencoded parser"): split
// on '&', then on the first '='; '+' means space; then percent-decode. Empty pieces ("a&&b")
// are skipped; a piece without '=' yields an empty value. Order and duplicates are kept.
// Failures are errc::bad_request (-> 400): invalid percent-encoding, or a decoded name/value
// holding a control character or invalid UTF-8 (S3 requires UTF-8, and CR/LF must never reach
// a header such as response-content-disposition).
Result<std::vector<std::pair<std::string, std::string>>> decode_query(std::string_view raw_query);

// ROUTE-3: the Rust Yatagarasu's SQL-injection block list (src/security/mod.rs,
// check_sql_injection), re-implemented. `decoded` is already percent-decoded (the reference
// decodes once too). Matching is ASCII case-insensitive and, unlike the reference, runs of
// spaces count as one space so "'  or  '" cannot slip past "' or '". Apostrophes alone (as in
// "user's file.txt") never match. Returns true when the request should be refused.
bool looks_like_sql_injection(std::string_view decoded);

}  // namespace yg::router
