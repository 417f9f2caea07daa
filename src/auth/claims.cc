#include "auth/claims.h"

#include <charconv>
#include <cmath>
#include <compare>
#include <exception>
#include <regex>
#include <system_error>
#include <utility>

namespace yg::auth {

namespace json = boost::json;
using config::ClaimOperator;
using config::ClaimRule;
using config::ClaimValue;

namespace {

// std::regex (libstdc++) matches by recursion, one level per input character or so; longer
// claim strings never match instead of risking the stack.
constexpr std::size_t kMaxRegexInput = 4096;
// Same bound the config loader applies to patterns (validate.cc check_regex): the regex
// compiler recurses per nesting level.
constexpr std::size_t kMaxRegexPattern = 1024;

// ---------------------------------------------------------------------------------------------
// Registered claims

// A JSON number as a double (int64, uint64 or double; booleans are not numbers). Non-finite
// doubles (never produced by the JSON parser, but possible in a built object) are not numbers.
std::optional<double> time_value(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64:
      return static_cast<double>(v.get_int64());
    case json::kind::uint64:
      return static_cast<double>(v.get_uint64());
    case json::kind::double_:
      if (std::isfinite(v.get_double())) {
        return v.get_double();
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

bool is_string_array(const json::array& a) {
  for (const auto& e : a) {
    if (!e.is_string()) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Numbers for the rule operators

// An exact integer when both sides have one (so 2^53 + 1 does not equal 2^53), else a double.
struct Num {
  enum class Kind : uint8_t { Int, UInt, Double };
  Kind kind = Kind::Double;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;

  double as_double() const {
    switch (kind) {
      case Kind::Int:
        return static_cast<double>(i);
      case Kind::UInt:
        return static_cast<double>(u);
      case Kind::Double:
        break;
    }
    return d;
  }
};

std::partial_ordering compare(const Num& a, const Num& b) {
  using K = Num::Kind;
  if (a.kind != K::Double && b.kind != K::Double) {
    // Mixed signedness compared exactly.
    const auto three_way = [](auto x, auto y) {
      if (std::cmp_less(x, y)) {
        return std::partial_ordering::less;
      }
      if (std::cmp_greater(x, y)) {
        return std::partial_ordering::greater;
      }
      return std::partial_ordering::equivalent;
    };
    if (a.kind == K::Int) {
      return b.kind == K::Int ? three_way(a.i, b.i) : three_way(a.i, b.u);
    }
    return b.kind == K::Int ? three_way(a.u, b.i) : three_way(a.u, b.u);
  }
  return a.as_double() <=> b.as_double();
}

template <typename T>
bool parse_full(std::string_view s, T& out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end;
}

// Text that is entirely a number: an integer ("-12", "18446744073709551615") or a decimal /
// exponent form ("1.5", "1e3"). No sign '+', no spaces, no hex, no inf/nan.
std::optional<Num> parse_number(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  Num n;
  if (parse_full(s, n.i)) {
    n.kind = Num::Kind::Int;
    return n;
  }
  if (parse_full(s, n.u)) {
    n.kind = Num::Kind::UInt;
    return n;
  }
  double d = 0;
  if (parse_full(s, d) && std::isfinite(d)) {
    n.kind = Num::Kind::Double;
    n.d = d;
    return n;
  }
  return std::nullopt;
}

std::optional<Num> json_number(const json::value& v) {
  Num n;
  switch (v.kind()) {
    case json::kind::int64:
      n.kind = Num::Kind::Int;
      n.i = v.get_int64();
      return n;
    case json::kind::uint64:
      n.kind = Num::Kind::UInt;
      n.u = v.get_uint64();
      return n;
    case json::kind::double_:
      if (!std::isfinite(v.get_double())) {
        return std::nullopt;
      }
      n.d = v.get_double();
      return n;
    default:
      return std::nullopt;
  }
}

// The rule's number: a Number value (its text when that is an exact integer, else `number`),
// or a String whose whole text is a number. Bools and lists are not numbers.
std::optional<Num> rule_number(const ClaimValue& v) {
  switch (v.kind) {
    case ClaimValue::Kind::Number: {
      if (auto n = parse_number(v.text); n && n->kind != Num::Kind::Double) {
        return n;
      }
      if (!std::isfinite(v.number)) {
        return std::nullopt;
      }
      Num n;
      n.d = v.number;
      return n;
    }
    case ClaimValue::Kind::String:
      return parse_number(v.text);
    default:
      return std::nullopt;
  }
}

// The claim as a number for gt/gte/lt/lte: a JSON number, or a string that is entirely one.
std::optional<Num> ordered_claim_number(const json::value& v) {
  if (v.is_string()) {
    const auto& s = v.get_string();
    return parse_number(std::string_view(s.data(), s.size()));
  }
  return json_number(v);
}

bool is_scalar(const ClaimValue& v) {
  return v.kind == ClaimValue::Kind::String || v.kind == ClaimValue::Kind::Number ||
         v.kind == ClaimValue::Kind::Bool;
}

// equals, exactly:
//   - a JSON number claim equals a Number rule value of the same numeric value (5 == 5.0;
//     integers compared exactly); it never equals a String or Bool rule value, so 5 is not
//     equal to the quoted "5".
//   - a JSON string claim equals any scalar rule value whose text, as written in the
//     configuration, is the same string: "5" equals the plain 5 and the quoted "5", "true"
//     equals the plain true; "5.0" does not equal the plain 5 (texts differ).
//   - a JSON bool claim equals a Bool rule value with the same truth value.
//   - null, arrays and objects equal nothing; a list (or missing) rule value equals nothing.
bool scalar_equals(const json::value& claim, const ClaimValue& v) {
  if (!is_scalar(v)) {
    return false;
  }
  switch (claim.kind()) {
    case json::kind::string: {
      const auto& s = claim.get_string();
      return std::string_view(s.data(), s.size()) == v.text;
    }
    case json::kind::bool_:
      return v.kind == ClaimValue::Kind::Bool && claim.get_bool() == v.boolean;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: {
      if (v.kind != ClaimValue::Kind::Number) {
        return false;
      }
      auto a = json_number(claim);
      auto b = rule_number(v);
      return a && b && compare(*a, *b) == std::partial_ordering::equivalent;
    }
    default:
      return false;
  }
}

bool in_list(const json::value& claim, const ClaimValue& v) {
  if (v.kind != ClaimValue::Kind::List) {
    return false;
  }
  for (const auto& item : v.items) {
    if (scalar_equals(claim, item)) {
      return true;
    }
  }
  return false;
}

bool contains(const json::value& claim, const ClaimValue& v) {
  if (!is_scalar(v)) {
    return false;
  }
  if (claim.is_string()) {
    const auto& s = claim.get_string();
    return std::string_view(s.data(), s.size()).find(v.text) != std::string_view::npos;
  }
  if (claim.is_array()) {
    for (const auto& e : claim.get_array()) {
      if (scalar_equals(e, v)) {
        return true;
      }
    }
  }
  return false;
}

bool ordered(const json::value& claim, const ClaimValue& v, ClaimOperator op) {
  auto a = ordered_claim_number(claim);
  auto b = rule_number(v);
  if (!a || !b) {
    return false;
  }
  const auto c = compare(*a, *b);
  switch (op) {
    case ClaimOperator::Gt:
      return c == std::partial_ordering::greater;
    case ClaimOperator::Gte:
      return c == std::partial_ordering::greater || c == std::partial_ordering::equivalent;
    case ClaimOperator::Lt:
      return c == std::partial_ordering::less;
    case ClaimOperator::Lte:
      return c == std::partial_ordering::less || c == std::partial_ordering::equivalent;
    default:
      return false;
  }
}

bool regex_matches(const json::value& claim, const std::regex& re) {
  if (!claim.is_string()) {
    return false;
  }
  const auto& s = claim.get_string();
  if (s.size() > kMaxRegexInput) {
    return false;
  }
  try {
    return std::regex_search(s.begin(), s.end(), re);
  } catch (const std::exception&) {
    return false;  // error_complexity / error_stack: no match
  }
}

// A compiled pattern, or the reason there is none.
struct CompileResult {
  std::optional<std::regex> re;
  std::string error;
};

CompileResult compile_regex(const ClaimValue& v) {
  CompileResult r;
  if (!is_scalar(v)) {
    r.error = "needs one pattern";
    return r;
  }
  if (v.text.size() > kMaxRegexPattern) {
    r.error = "pattern longer than " + std::to_string(kMaxRegexPattern) + " characters";
    return r;
  }
  try {
    r.re.emplace(v.text, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    r.error = e.what();
  }
  return r;
}

// One rule; `re` is the rule's compiled pattern (regex only; nullptr = none, never matches).
bool matches(const json::object& claims, const ClaimRule& rule, const std::regex* re) {
  const json::value* claim = claim_at(claims, rule.claim);
  switch (rule.op) {
    case ClaimOperator::Exists:
      return claim != nullptr;
    case ClaimOperator::NotEquals:
      // Only a present scalar of another value passes: a missing claim, null, an array or an
      // object never satisfies not_equals (a deny rule `role not_equals suspended` must not be
      // passed by "role": ["suspended"]).
      return claim != nullptr && (claim->is_string() || claim->is_number() || claim->is_bool()) &&
             !scalar_equals(*claim, rule.value);
    default:
      break;
  }
  if (claim == nullptr) {
    return false;
  }
  switch (rule.op) {
    case ClaimOperator::Equals:
      return scalar_equals(*claim, rule.value);
    case ClaimOperator::In:
      return in_list(*claim, rule.value);
    case ClaimOperator::Contains:
      return contains(*claim, rule.value);
    case ClaimOperator::Gt:
    case ClaimOperator::Gte:
    case ClaimOperator::Lt:
    case ClaimOperator::Lte:
      return ordered(*claim, rule.value, rule.op);
    case ClaimOperator::Regex:
      return re != nullptr && regex_matches(*claim, *re);
    default:
      return false;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

// Times are compared as doubles: exact for integers below 2^53 (every realistic Unix time),
// and values such as 1e300 or INT64_MAX cannot overflow.
std::optional<JwtError> check_registered(const json::object& claims,
                                         const RegisteredClaimPolicy& p) {
  std::optional<double> exp, nbf, iat;
  const json::string* iss = nullptr;
  const json::value* aud = claims.if_contains("aud");

  // Types first: a malformed claim is reported as such whatever the clock says.
  const auto read_time = [&](std::string_view name, std::optional<double>& out) {
    if (const auto* v = claims.if_contains(name)) {
      out = time_value(*v);
      return out.has_value();
    }
    return true;
  };
  if (!read_time("exp", exp) || !read_time("nbf", nbf) || !read_time("iat", iat)) {
    return JwtError::BadClaimType;
  }
  if (const auto* v = claims.if_contains("iss")) {
    if (!v->is_string()) {
      return JwtError::BadClaimType;
    }
    iss = &v->get_string();
  }
  if (aud && !aud->is_string() && !(aud->is_array() && is_string_array(aud->get_array()))) {
    return JwtError::BadClaimType;
  }

  const double now = static_cast<double>(p.now);
  const double leeway = static_cast<double>(p.leeway);
  if (exp && !(*exp + leeway > now)) {
    return JwtError::Expired;
  }
  if (nbf && *nbf - leeway > now) {
    return JwtError::NotYetValid;
  }
  if (iat && *iat > now + leeway) {
    return JwtError::NotYetValid;
  }

  if (!p.issuer.empty()) {
    if (!iss || std::string_view(iss->data(), iss->size()) != p.issuer) {
      return JwtError::BadIssuer;
    }
  }

  if (!p.audience.empty()) {
    if (!aud) {
      return JwtError::BadAudience;
    }
    const auto same = [&](const json::value& v) {
      const auto& s = v.get_string();
      return std::string_view(s.data(), s.size()) == p.audience;
    };
    bool found = false;
    if (aud->is_string()) {
      found = same(*aud);
    } else {
      for (const auto& e : aud->get_array()) {
        if (same(e)) {
          found = true;
          break;
        }
      }
    }
    if (!found) {
      return JwtError::BadAudience;
    }
  }
  return std::nullopt;
}

const json::value* claim_at(const json::object& claims, std::string_view path) {
  if (path.empty()) {
    return nullptr;
  }
  const json::object* obj = &claims;
  const json::value* v = nullptr;
  while (true) {
    const std::size_t dot = path.find('.');
    const std::string_view segment = path.substr(0, dot);
    if (segment.empty() || obj == nullptr) {
      return nullptr;  // empty segment, or stepping into a non-object (arrays included)
    }
    v = obj->if_contains(segment);
    if (v == nullptr) {
      return nullptr;
    }
    if (dot == std::string_view::npos) {
      return v;
    }
    path.remove_prefix(dot + 1);
    obj = v->if_object();
  }
}

bool rule_matches(const json::object& claims, const ClaimRule& rule) {
  if (rule.op != ClaimOperator::Regex) {
    return matches(claims, rule, nullptr);
  }
  auto compiled = compile_regex(rule.value);
  return matches(claims, rule, compiled.re ? &*compiled.re : nullptr);
}

struct ClaimRules::Compiled {
  std::optional<std::regex> re;  // empty when the pattern did not compile: never matches
};

ClaimRules::ClaimRules(std::vector<ClaimRule> rules) : rules_(std::move(rules)) {
  compiled_.resize(rules_.size());
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].op != ClaimOperator::Regex) {
      continue;
    }
    auto r = compile_regex(rules_[i].value);
    if (!r.re && error_.empty()) {
      error_ = "claims[" + std::to_string(i) + "]: invalid regex: " + r.error;
    }
    auto c = std::make_shared<Compiled>();
    c->re = std::move(r.re);
    compiled_[i] = std::move(c);
  }
}

bool ClaimRules::match(const json::object& claims) const {
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const std::regex* re = nullptr;
    if (compiled_[i] && compiled_[i]->re) {
      re = &*compiled_[i]->re;
    }
    if (!matches(claims, rules_[i], re)) {
      return false;
    }
  }
  return true;
}

}  // namespace yg::auth
