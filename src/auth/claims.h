#pragma once
// Claim checks on a verified token's payload (FEATURES.md AUTH-4, AUTH-5): registered time
// claims with leeway, issuer and audience, and the configured claim rules.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt.h"
#include "config/config.h"

namespace yg::auth {

struct RegisteredClaimPolicy {
  int64_t now = 0;            // Unix seconds
  uint64_t leeway = 60;       // seconds of clock skew allowed on exp, nbf and iat
  std::string_view issuer;    // checked (exact match) when not empty
  std::string_view audience;  // when not empty: "aud" must equal it or (array) contain it;
                              // when empty, a token's "aud" is accepted as is
};

// exp: required to be in the future (exp + leeway > now) when present; nbf: nbf - leeway <= now;
// iat: not after now + leeway. Non-numeric exp/nbf/iat, a non-string iss or an aud that is not
// a string or array of strings is BadClaimType. nullopt when every check passes.
std::optional<JwtError> check_registered(const boost::json::object& claims,
                                         const RegisteredClaimPolicy& p);

// The value at a dot path ("sub", "user.department", "realm_access.roles"), or nullptr.
const boost::json::value* claim_at(const boost::json::object& claims, std::string_view path);

// One rule (AUTH-5). Operators:
//   equals / not_equals: same type and value (a number claim equals a numeric rule value; a
//     string claim equals its text; bool equals bool); not_equals holds only for a present
//     scalar claim of another value (missing, null, arrays and objects never pass it).
//   in: the claim (scalar) equals one of the rule's list items.
//   contains: string claim contains the rule's text as a substring, or array claim has an
//     element equal to the rule's scalar.
//   gt / gte / lt / lte: both numbers (a numeric string claim is compared as a number); any
//     other types do not match.
//   regex: the pattern is SEARCHED in the string claim (ECMAScript, std::regex_search: not
//     anchored; write ^...$ to match the whole claim); an invalid pattern never matches.
//   exists: the path resolves (any value, null included).
// Type mismatches never match (and never throw).
bool rule_matches(const boost::json::object& claims, const config::ClaimRule& rule);

// All rules ANDed; an empty list matches. Compiles regex patterns once, at construction (the
// runtime snapshot builds these at start and reload, never per request).
class ClaimRules {
 public:
  ClaimRules() = default;
  explicit ClaimRules(std::vector<config::ClaimRule> rules);
  bool match(const boost::json::object& claims) const;
  bool empty() const noexcept { return rules_.empty(); }
  // The first rule whose regex does not compile ("claims[2]: ..."), if any; such a rule never
  // matches.
  const std::string& error() const noexcept { return error_; }

 private:
  struct Compiled;
  std::vector<config::ClaimRule> rules_;
  std::vector<std::shared_ptr<const Compiled>> compiled_;  // per rule; regex only
  std::string error_;
};

}  // namespace yg::auth
