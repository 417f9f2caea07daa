// Claim checks (AUTH-4, AUTH-5): registered claims with leeway, dot paths and rule operators.

#include "auth/claims.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace yg::auth {
namespace {

namespace json = boost::json;
using config::ClaimOperator;
using config::ClaimRule;
using config::ClaimValue;
using Op = ClaimOperator;

json::object obj(std::string_view text) {
  return json::parse(text).as_object();
}

// ---------------------------------------------------------------------------------------------
// Rule values as the loader builds them.

ClaimValue str(std::string text) {
  ClaimValue v;
  v.kind = ClaimValue::Kind::String;
  v.text = std::move(text);
  return v;
}

// A plain YAML number: its text as written and its value.
ClaimValue num(std::string text) {
  ClaimValue v;
  v.kind = ClaimValue::Kind::Number;
  v.number = std::stod(text);
  v.text = std::move(text);
  return v;
}

ClaimValue boolean(bool b) {
  ClaimValue v;
  v.kind = ClaimValue::Kind::Bool;
  v.boolean = b;
  v.text = b ? "true" : "false";
  return v;
}

ClaimValue list(std::initializer_list<ClaimValue> items) {
  ClaimValue v;
  v.kind = ClaimValue::Kind::List;
  v.items = items;
  return v;
}

ClaimRule rule(std::string claim, Op op, ClaimValue value = {}) {
  return ClaimRule{std::move(claim), op, std::move(value)};
}

// rule_matches and a one-rule ClaimRules must agree.
bool matches(std::string_view claims_json, const ClaimRule& r) {
  const auto claims = obj(claims_json);
  const bool single = rule_matches(claims, r);
  const ClaimRules rules({r});
  EXPECT_EQ(rules.match(claims), single)
      << "rule_matches and ClaimRules disagree on " << claims_json;
  return single;
}

// ---------------------------------------------------------------------------------------------
// Registered claims

constexpr int64_t kNow = 1'700'000'000;

RegisteredClaimPolicy policy(uint64_t leeway = 60) {
  RegisteredClaimPolicy p;
  p.now = kNow;
  p.leeway = leeway;
  return p;
}

std::optional<JwtError> check(const json::object& claims, const RegisteredClaimPolicy& p) {
  return check_registered(claims, p);
}

std::optional<JwtError> check(std::string_view claims_json, const RegisteredClaimPolicy& p) {
  return check_registered(obj(claims_json), p);
}

json::object with(std::string_view key, json::value v) {
  json::object o;
  o[key] = std::move(v);
  return o;
}

constexpr std::optional<JwtError> kOk = std::nullopt;

TEST(ClaimsRegistered, NoClaimsPass) {
  EXPECT_EQ(check("{}", policy()), kOk);
}

TEST(ClaimsRegistered, ExpLeewayEdges) {
  // Expired when exp + leeway <= now.
  EXPECT_EQ(check(with("exp", kNow - 60), policy()), JwtError::Expired);
  EXPECT_EQ(check(with("exp", kNow - 61), policy()), JwtError::Expired);
  EXPECT_EQ(check(with("exp", kNow - 60 + 1), policy()), kOk);
  EXPECT_EQ(check(with("exp", kNow + 3600), policy()), kOk);
  EXPECT_EQ(check(with("exp", kNow), policy(0)), JwtError::Expired);
  EXPECT_EQ(check(with("exp", kNow + 1), policy(0)), kOk);
}

TEST(ClaimsRegistered, ExpAsDouble) {
  EXPECT_EQ(check(with("exp", double(kNow - 60) + 0.5), policy()), kOk);
  EXPECT_EQ(check(with("exp", double(kNow - 60)), policy()), JwtError::Expired);
  EXPECT_EQ(check(with("exp", double(kNow - 60) - 0.5), policy()), JwtError::Expired);
  EXPECT_EQ(check("{\"exp\": 1.7e9}", policy(0)), JwtError::Expired);  // 1.7e9 == kNow
  EXPECT_EQ(check("{\"exp\": 1.7e9}", policy()), kOk);
  EXPECT_EQ(check("{\"exp\": 1.8e9}", policy()), kOk);
}

TEST(ClaimsRegistered, HugeAndNegativeTimesDoNotOverflow) {
  EXPECT_EQ(check("{\"exp\": 1e300}", policy()), kOk);
  EXPECT_EQ(check("{\"exp\": -1e300}", policy()), JwtError::Expired);
  EXPECT_EQ(check("{\"exp\": -1}", policy()), JwtError::Expired);
  EXPECT_EQ(check(with("exp", std::numeric_limits<int64_t>::max()), policy()), kOk);
  EXPECT_EQ(check(with("exp", std::numeric_limits<int64_t>::min()), policy()), JwtError::Expired);
  EXPECT_EQ(check(with("exp", std::numeric_limits<uint64_t>::max()), policy()), kOk);
  EXPECT_EQ(check("{\"exp\": 18446744073709551615}", policy()), kOk);

  // A huge leeway does not wrap around either.
  const auto huge = policy(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(check("{\"exp\": 0}", huge), kOk);
  EXPECT_EQ(check("{\"nbf\": 1e15, \"iat\": 1e15}", huge), kOk);
  EXPECT_EQ(check("{\"nbf\": 1e300}", huge), JwtError::NotYetValid);

  RegisteredClaimPolicy extreme = policy();
  extreme.now = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(check(with("exp", kNow), extreme), JwtError::Expired);
  EXPECT_EQ(check("{\"exp\": 1e300, \"nbf\": 0, \"iat\": 0}", extreme), kOk);
  extreme.now = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(check(with("nbf", kNow), extreme), JwtError::NotYetValid);
  EXPECT_EQ(check("{\"exp\": 0}", extreme), kOk);
}

TEST(ClaimsRegistered, NbfLeewayEdges) {
  // Not yet valid when nbf - leeway > now.
  EXPECT_EQ(check(with("nbf", kNow + 60), policy()), kOk);
  EXPECT_EQ(check(with("nbf", kNow + 61), policy()), JwtError::NotYetValid);
  EXPECT_EQ(check(with("nbf", kNow), policy()), kOk);
  EXPECT_EQ(check(with("nbf", kNow - 100000), policy()), kOk);
  EXPECT_EQ(check(with("nbf", kNow), policy(0)), kOk);
  EXPECT_EQ(check(with("nbf", kNow + 1), policy(0)), JwtError::NotYetValid);
  EXPECT_EQ(check(with("nbf", double(kNow + 60) + 0.5), policy()), JwtError::NotYetValid);
  EXPECT_EQ(check("{\"nbf\": 1e300}", policy()), JwtError::NotYetValid);
  EXPECT_EQ(check("{\"nbf\": -1e300}", policy()), kOk);
}

TEST(ClaimsRegistered, IatInTheFuture) {
  EXPECT_EQ(check(with("iat", kNow), policy()), kOk);
  EXPECT_EQ(check(with("iat", kNow - 86400), policy()), kOk);
  EXPECT_EQ(check(with("iat", kNow + 60), policy()), kOk);
  EXPECT_EQ(check(with("iat", kNow + 61), policy()), JwtError::NotYetValid);
  EXPECT_EQ(check(with("iat", kNow + 1), policy(0)), JwtError::NotYetValid);
  EXPECT_EQ(check("{\"iat\": 1e300}", policy()), JwtError::NotYetValid);
  EXPECT_EQ(check("{\"iat\": -5}", policy()), kOk);
}

TEST(ClaimsRegistered, NonNumericTimesAreBadClaimType) {
  for (const char* name : {"exp", "nbf", "iat"}) {
    for (const char* v : {"\"1800000000\"", "true", "null", "[1800000000]", "{\"t\": 1}"}) {
      const std::string text = std::string("{\"") + name + "\": " + v + "}";
      EXPECT_EQ(check(text, policy()), JwtError::BadClaimType) << text;
    }
  }
  // Non-finite doubles in a built object are not numbers either.
  EXPECT_EQ(check(with("exp", std::numeric_limits<double>::infinity()), policy()),
            JwtError::BadClaimType);
  EXPECT_EQ(check(with("nbf", std::numeric_limits<double>::quiet_NaN()), policy()),
            JwtError::BadClaimType);
}

TEST(ClaimsRegistered, TypeErrorsWinOverTimeErrors) {
  EXPECT_EQ(check("{\"exp\": 1, \"iat\": \"x\"}", policy()), JwtError::BadClaimType);
  EXPECT_EQ(check("{\"exp\": 1, \"iss\": 7}", policy()), JwtError::BadClaimType);
  EXPECT_EQ(check("{\"exp\": 1, \"aud\": 7}", policy()), JwtError::BadClaimType);
}

TEST(ClaimsRegistered, Issuer) {
  auto p = policy();
  p.issuer = "https://idp.example.com/";
  EXPECT_EQ(check("{\"iss\": \"https://idp.example.com/\"}", p), kOk);
  EXPECT_EQ(check("{\"iss\": \"https://idp.example.com\"}", p), JwtError::BadIssuer);
  EXPECT_EQ(check("{\"iss\": \"HTTPS://IDP.EXAMPLE.COM/\"}", p), JwtError::BadIssuer);
  EXPECT_EQ(check("{\"iss\": \"\"}", p), JwtError::BadIssuer);
  EXPECT_EQ(check("{}", p), JwtError::BadIssuer);
  EXPECT_EQ(check("{\"iss\": [\"https://idp.example.com/\"]}", p), JwtError::BadClaimType);
  EXPECT_EQ(check("{\"iss\": null}", p), JwtError::BadClaimType);

  // Not configured: any string issuer passes, a non-string one is still a type error.
  EXPECT_EQ(check("{\"iss\": \"anyone\"}", policy()), kOk);
  EXPECT_EQ(check("{\"iss\": 42}", policy()), JwtError::BadClaimType);
}

TEST(ClaimsRegistered, AudienceConfigured) {
  auto p = policy();
  p.audience = "s3-proxy";
  EXPECT_EQ(check("{\"aud\": \"s3-proxy\"}", p), kOk);
  EXPECT_EQ(check("{\"aud\": \"s3-proxy2\"}", p), JwtError::BadAudience);
  EXPECT_EQ(check("{\"aud\": \"S3-PROXY\"}", p), JwtError::BadAudience);
  EXPECT_EQ(check("{\"aud\": [\"other\", \"s3-proxy\"]}", p), kOk);
  EXPECT_EQ(check("{\"aud\": [\"s3-proxy\"]}", p), kOk);
  EXPECT_EQ(check("{\"aud\": [\"other\", \"more\"]}", p), JwtError::BadAudience);
  EXPECT_EQ(check("{\"aud\": []}", p), JwtError::BadAudience);
  EXPECT_EQ(check("{}", p), JwtError::BadAudience);
  EXPECT_EQ(check("{\"aud\": 1}", p), JwtError::BadClaimType);
  EXPECT_EQ(check("{\"aud\": null}", p), JwtError::BadClaimType);
  EXPECT_EQ(check("{\"aud\": {\"s3-proxy\": true}}", p), JwtError::BadClaimType);
  EXPECT_EQ(check("{\"aud\": [\"s3-proxy\", 1]}", p), JwtError::BadClaimType);
  EXPECT_EQ(check("{\"aud\": [[\"s3-proxy\"]]}", p), JwtError::BadClaimType);
}

TEST(ClaimsRegistered, AudienceNotConfiguredAcceptsAnyAud) {
  EXPECT_EQ(check("{\"aud\": \"whatever\"}", policy()), kOk);
  EXPECT_EQ(check("{\"aud\": [\"a\", \"b\"]}", policy()), kOk);
  EXPECT_EQ(check("{\"aud\": []}", policy()), kOk);
  // The type is still checked.
  EXPECT_EQ(check("{\"aud\": 5}", policy()), JwtError::BadClaimType);
  EXPECT_EQ(check("{\"aud\": [\"a\", false]}", policy()), JwtError::BadClaimType);
}

TEST(ClaimsRegistered, AllTogether) {
  auto p = policy();
  p.issuer = "idp";
  p.audience = "api";
  const std::string good = "{\"sub\": \"u1\", \"iss\": \"idp\", \"aud\": [\"api\"], \"exp\": " +
                           std::to_string(kNow + 300) + ", \"nbf\": " + std::to_string(kNow) +
                           ", \"iat\": " + std::to_string(kNow) + "}";
  EXPECT_EQ(check(good, p), kOk);
}

// ---------------------------------------------------------------------------------------------
// Dot paths

constexpr std::string_view kNested = R"({
  "sub": "alice",
  "nil": null,
  "user": {"department": "eng", "meta": {"level": 3}},
  "realm_access": {"roles": ["admin", "dev"]},
  "list": [{"a": 1}],
  "a.b": "dotted"
})";

TEST(ClaimsPath, TopLevelAndNested) {
  const auto c = obj(kNested);
  ASSERT_NE(claim_at(c, "sub"), nullptr);
  EXPECT_EQ(*claim_at(c, "sub"), "alice");
  ASSERT_NE(claim_at(c, "user.department"), nullptr);
  EXPECT_EQ(*claim_at(c, "user.department"), "eng");
  ASSERT_NE(claim_at(c, "user.meta.level"), nullptr);
  EXPECT_EQ(*claim_at(c, "user.meta.level"), 3);
  ASSERT_NE(claim_at(c, "user"), nullptr);
  EXPECT_TRUE(claim_at(c, "user")->is_object());
  ASSERT_NE(claim_at(c, "realm_access.roles"), nullptr);
  EXPECT_TRUE(claim_at(c, "realm_access.roles")->is_array());
  ASSERT_NE(claim_at(c, "nil"), nullptr);
  EXPECT_TRUE(claim_at(c, "nil")->is_null());
}

TEST(ClaimsPath, MissingIsNull) {
  const auto c = obj(kNested);
  EXPECT_EQ(claim_at(c, "nope"), nullptr);
  EXPECT_EQ(claim_at(c, "user.nope"), nullptr);
  EXPECT_EQ(claim_at(c, "user.meta.level.deeper"), nullptr);  // into a number
  EXPECT_EQ(claim_at(c, "sub.x"), nullptr);                   // into a string
  EXPECT_EQ(claim_at(c, "nil.x"), nullptr);                   // into null
  EXPECT_EQ(claim_at(c, "Sub"), nullptr);                     // case-sensitive
  EXPECT_EQ(claim_at(json::object{}, "sub"), nullptr);
}

TEST(ClaimsPath, SegmentsNeverIndexArrays) {
  const auto c = obj(kNested);
  EXPECT_EQ(claim_at(c, "realm_access.roles.0"), nullptr);
  EXPECT_EQ(claim_at(c, "list.0.a"), nullptr);
  EXPECT_EQ(claim_at(c, "list.a"), nullptr);
}

TEST(ClaimsPath, EmptyPathOrSegment) {
  const auto c = obj(kNested);
  EXPECT_EQ(claim_at(c, ""), nullptr);
  EXPECT_EQ(claim_at(c, "."), nullptr);
  EXPECT_EQ(claim_at(c, ".sub"), nullptr);
  EXPECT_EQ(claim_at(c, "sub."), nullptr);
  EXPECT_EQ(claim_at(c, "user..department"), nullptr);
  EXPECT_EQ(claim_at(c, "user.department."), nullptr);
  EXPECT_EQ(claim_at(obj(R"({"": {"x": 1}})"), ".x"), nullptr);
}

TEST(ClaimsPath, DotsAlwaysSplit) {
  // A key that itself contains a dot cannot be addressed: "a.b" means a -> b.
  const auto c = obj(kNested);
  EXPECT_EQ(claim_at(c, "a.b"), nullptr);
}

// ---------------------------------------------------------------------------------------------
// equals / not_equals

TEST(ClaimsEquals, Strings) {
  EXPECT_TRUE(matches(R"({"sub": "alice"})", rule("sub", Op::Equals, str("alice"))));
  EXPECT_FALSE(matches(R"({"sub": "alice"})", rule("sub", Op::Equals, str("Alice"))));
  EXPECT_FALSE(matches(R"({"sub": "alice"})", rule("sub", Op::Equals, str("alic"))));
  EXPECT_FALSE(matches(R"({"sub": "alice"})", rule("sub", Op::Equals, str(""))));
  EXPECT_TRUE(matches(R"({"sub": ""})", rule("sub", Op::Equals, str(""))));
  EXPECT_TRUE(matches(R"({"iss": "https://idp"})", rule("iss", Op::Equals, str("https://idp"))));
  EXPECT_TRUE(matches(R"({"user": {"department": "eng"}})",
                      rule("user.department", Op::Equals, str("eng"))));
}

TEST(ClaimsEquals, Numbers) {
  EXPECT_TRUE(matches(R"({"n": 5})", rule("n", Op::Equals, num("5"))));
  EXPECT_TRUE(matches(R"({"n": 5.0})", rule("n", Op::Equals, num("5"))));
  EXPECT_TRUE(matches(R"({"n": 5})", rule("n", Op::Equals, num("5.0"))));
  EXPECT_TRUE(matches(R"({"n": -2.5})", rule("n", Op::Equals, num("-2.5"))));
  EXPECT_FALSE(matches(R"({"n": 6})", rule("n", Op::Equals, num("5"))));
  EXPECT_FALSE(matches(R"({"n": 5.5})", rule("n", Op::Equals, num("5"))));
  // Integers beyond 2^53 compare exactly.
  EXPECT_TRUE(
      matches(R"({"n": 9007199254740993})", rule("n", Op::Equals, num("9007199254740993"))));
  EXPECT_FALSE(
      matches(R"({"n": 9007199254740992})", rule("n", Op::Equals, num("9007199254740993"))));
  EXPECT_TRUE(matches(R"({"n": 18446744073709551615})",
                      rule("n", Op::Equals, num("18446744073709551615"))));
}

TEST(ClaimsEquals, Bools) {
  EXPECT_TRUE(matches(R"({"b": true})", rule("b", Op::Equals, boolean(true))));
  EXPECT_TRUE(matches(R"({"b": false})", rule("b", Op::Equals, boolean(false))));
  EXPECT_FALSE(matches(R"({"b": true})", rule("b", Op::Equals, boolean(false))));
}

TEST(ClaimsEquals, TypeMismatches) {
  // A number claim only equals a Number rule value: not the quoted "5".
  EXPECT_FALSE(matches(R"({"n": 5})", rule("n", Op::Equals, str("5"))));
  EXPECT_FALSE(matches(R"({"n": 1})", rule("n", Op::Equals, boolean(true))));
  // A string claim equals the rule's text, whatever its kind.
  EXPECT_TRUE(matches(R"({"s": "5"})", rule("s", Op::Equals, num("5"))));
  EXPECT_FALSE(matches(R"({"s": "5.0"})", rule("s", Op::Equals, num("5"))));
  EXPECT_TRUE(matches(R"({"s": "true"})", rule("s", Op::Equals, boolean(true))));
  // A bool claim only equals a Bool rule value.
  EXPECT_FALSE(matches(R"({"b": true})", rule("b", Op::Equals, str("true"))));
  EXPECT_FALSE(matches(R"({"b": true})", rule("b", Op::Equals, num("1"))));
  // null, arrays and objects equal nothing.
  EXPECT_FALSE(matches(R"({"x": null})", rule("x", Op::Equals, str("null"))));
  EXPECT_FALSE(matches(R"({"x": null})", rule("x", Op::Equals, str(""))));
  EXPECT_FALSE(matches(R"({"x": ["a"]})", rule("x", Op::Equals, str("a"))));
  EXPECT_FALSE(matches(R"({"x": {"a": 1}})", rule("x", Op::Equals, str("a"))));
  // A list rule value (not what 'equals' takes) and a missing value match nothing.
  EXPECT_FALSE(matches(R"({"x": "a"})", rule("x", Op::Equals, list({str("a")}))));
  EXPECT_FALSE(matches(R"({"x": "a"})", rule("x", Op::Equals)));
}

TEST(ClaimsEquals, MissingClaim) {
  EXPECT_FALSE(matches(R"({})", rule("sub", Op::Equals, str("alice"))));
  EXPECT_FALSE(matches(R"({"user": {}})", rule("user.department", Op::Equals, str("eng"))));
  EXPECT_FALSE(matches(R"({"sub": "alice"})", rule("", Op::Equals, str("alice"))));
}

TEST(ClaimsNotEquals, IsTheNegation) {
  EXPECT_FALSE(matches(R"({"sub": "alice"})", rule("sub", Op::NotEquals, str("alice"))));
  EXPECT_TRUE(matches(R"({"sub": "bob"})", rule("sub", Op::NotEquals, str("alice"))));
  EXPECT_FALSE(matches(R"({"n": 5})", rule("n", Op::NotEquals, num("5"))));
  EXPECT_TRUE(matches(R"({"n": 6})", rule("n", Op::NotEquals, num("5"))));
  EXPECT_FALSE(matches(R"({"b": true})", rule("b", Op::NotEquals, boolean(true))));
  EXPECT_TRUE(matches(R"({"b": false})", rule("b", Op::NotEquals, boolean(true))));
  // A scalar of another type is "not equal".
  EXPECT_TRUE(matches(R"({"n": 5})", rule("n", Op::NotEquals, str("5"))));
  // Missing, null, arrays and objects never pass not_equals: a deny rule such as
  // `role not_equals suspended` is not passed by "role": ["suspended"] or by leaving role out.
  EXPECT_FALSE(matches(R"({"x": null})", rule("x", Op::NotEquals, str("a"))));
  EXPECT_FALSE(matches(R"({"x": ["a"]})", rule("x", Op::NotEquals, str("a"))));
  EXPECT_FALSE(matches(R"({"x": {"a": 1}})", rule("x", Op::NotEquals, str("a"))));
  EXPECT_FALSE(matches(R"({})", rule("sub", Op::NotEquals, str("alice"))));
  EXPECT_FALSE(
      matches(R"({"realm": {"roles": ["a"]}})", rule("realm.roles.0", Op::NotEquals, str("a"))));
}

// ---------------------------------------------------------------------------------------------
// in

TEST(ClaimsIn, ScalarInList) {
  const auto roles = list({str("admin"), str("dev")});
  EXPECT_TRUE(matches(R"({"role": "admin"})", rule("role", Op::In, roles)));
  EXPECT_TRUE(matches(R"({"role": "dev"})", rule("role", Op::In, roles)));
  EXPECT_FALSE(matches(R"({"role": "guest"})", rule("role", Op::In, roles)));
  EXPECT_FALSE(matches(R"({"role": "Admin"})", rule("role", Op::In, roles)));

  const auto levels = list({num("1"), num("2.5"), boolean(true), str("x")});
  EXPECT_TRUE(matches(R"({"v": 1})", rule("v", Op::In, levels)));
  EXPECT_TRUE(matches(R"({"v": 2.5})", rule("v", Op::In, levels)));
  EXPECT_TRUE(matches(R"({"v": true})", rule("v", Op::In, levels)));
  EXPECT_TRUE(matches(R"({"v": "x"})", rule("v", Op::In, levels)));
  EXPECT_TRUE(matches(R"({"v": "1"})", rule("v", Op::In, levels)));  // string vs text "1"
  EXPECT_FALSE(matches(R"({"v": 3})", rule("v", Op::In, levels)));
  EXPECT_FALSE(matches(R"({"v": false})", rule("v", Op::In, levels)));
}

TEST(ClaimsIn, TypeMismatches) {
  const auto roles = list({str("admin"), str("dev")});
  EXPECT_FALSE(matches(R"({"role": ["admin"]})", rule("role", Op::In, roles)));
  EXPECT_FALSE(matches(R"({"role": {"admin": true}})", rule("role", Op::In, roles)));
  EXPECT_FALSE(matches(R"({"role": null})", rule("role", Op::In, roles)));
  EXPECT_FALSE(matches(R"({"role": 1})", rule("role", Op::In, roles)));
  EXPECT_FALSE(matches(R"({"n": 1})", rule("n", Op::In, list({str("1")}))));
  EXPECT_FALSE(matches(R"({})", rule("role", Op::In, roles)));
  EXPECT_FALSE(matches(R"({"role": "admin"})", rule("role", Op::In, list({}))));
  // A scalar rule value is not a list.
  EXPECT_FALSE(matches(R"({"role": "admin"})", rule("role", Op::In, str("admin"))));
}

// ---------------------------------------------------------------------------------------------
// contains

TEST(ClaimsContains, Substring) {
  EXPECT_TRUE(
      matches(R"({"email": "a@example.com"})", rule("email", Op::Contains, str("@example.com"))));
  EXPECT_TRUE(matches(R"({"email": "a@example.com"})", rule("email", Op::Contains, str("a@"))));
  EXPECT_FALSE(
      matches(R"({"email": "a@example.org"})", rule("email", Op::Contains, str("example.com"))));
  EXPECT_FALSE(matches(R"({"s": "abc"})", rule("s", Op::Contains, str("ABC"))));
  EXPECT_FALSE(matches(R"({"s": "ab"})", rule("s", Op::Contains, str("abc"))));
  EXPECT_TRUE(matches(R"({"s": "v12x"})", rule("s", Op::Contains, num("12"))));
  // Every string contains the empty string.
  EXPECT_TRUE(matches(R"({"s": ""})", rule("s", Op::Contains, str(""))));
}

TEST(ClaimsContains, ArrayElement) {
  const char* claims = R"({"realm_access": {"roles": ["admin", "dev", 7, true]}})";
  EXPECT_TRUE(matches(claims, rule("realm_access.roles", Op::Contains, str("admin"))));
  EXPECT_TRUE(matches(claims, rule("realm_access.roles", Op::Contains, num("7"))));
  EXPECT_TRUE(matches(claims, rule("realm_access.roles", Op::Contains, boolean(true))));
  EXPECT_FALSE(matches(claims, rule("realm_access.roles", Op::Contains, str("adm"))));
  EXPECT_FALSE(matches(claims, rule("realm_access.roles", Op::Contains, str("guest"))));
  EXPECT_FALSE(matches(claims, rule("realm_access.roles", Op::Contains, str("7"))));
  EXPECT_FALSE(matches(claims, rule("realm_access.roles", Op::Contains, boolean(false))));
  // Element equality follows equals: the string "5" equals the plain 5's text.
  EXPECT_TRUE(matches(R"({"a": ["5"]})", rule("a", Op::Contains, num("5"))));
  // Nested arrays are not flattened; objects are not searched.
  EXPECT_FALSE(matches(R"({"a": [["admin"]]})", rule("a", Op::Contains, str("admin"))));
  EXPECT_FALSE(matches(R"({"a": [{"r": "admin"}]})", rule("a", Op::Contains, str("admin"))));
  EXPECT_FALSE(matches(R"({"a": []})", rule("a", Op::Contains, str("admin"))));
}

TEST(ClaimsContains, TypeMismatches) {
  EXPECT_FALSE(matches(R"({"n": 123})", rule("n", Op::Contains, num("2"))));
  EXPECT_FALSE(matches(R"({"n": 123})", rule("n", Op::Contains, str("2"))));
  EXPECT_FALSE(matches(R"({"b": true})", rule("b", Op::Contains, str("true"))));
  EXPECT_FALSE(matches(R"({"x": null})", rule("x", Op::Contains, str("null"))));
  EXPECT_FALSE(matches(R"({"o": {"admin": 1}})", rule("o", Op::Contains, str("admin"))));
  EXPECT_FALSE(matches(R"({})", rule("roles", Op::Contains, str("admin"))));
  EXPECT_FALSE(matches(R"({"s": "admin"})", rule("s", Op::Contains, list({str("admin")}))));
}

// ---------------------------------------------------------------------------------------------
// gt / gte / lt / lte

TEST(ClaimsOrdered, Numbers) {
  const char* c = R"({"level": 5})";
  EXPECT_TRUE(matches(c, rule("level", Op::Gt, num("4"))));
  EXPECT_FALSE(matches(c, rule("level", Op::Gt, num("5"))));
  EXPECT_FALSE(matches(c, rule("level", Op::Gt, num("6"))));
  EXPECT_TRUE(matches(c, rule("level", Op::Gte, num("5"))));
  EXPECT_TRUE(matches(c, rule("level", Op::Gte, num("4.9"))));
  EXPECT_FALSE(matches(c, rule("level", Op::Gte, num("5.1"))));
  EXPECT_TRUE(matches(c, rule("level", Op::Lt, num("6"))));
  EXPECT_FALSE(matches(c, rule("level", Op::Lt, num("5"))));
  EXPECT_FALSE(matches(c, rule("level", Op::Lt, num("4"))));
  EXPECT_TRUE(matches(c, rule("level", Op::Lte, num("5"))));
  EXPECT_TRUE(matches(c, rule("level", Op::Lte, num("5.0"))));
  EXPECT_FALSE(matches(c, rule("level", Op::Lte, num("4.99"))));
}

TEST(ClaimsOrdered, DoublesNegativesAndLargeValues) {
  EXPECT_TRUE(matches(R"({"x": 2.5})", rule("x", Op::Gt, num("2"))));
  EXPECT_TRUE(matches(R"({"x": 2})", rule("x", Op::Gt, num("1.5"))));
  EXPECT_TRUE(matches(R"({"x": -3})", rule("x", Op::Lt, num("-2"))));
  EXPECT_TRUE(matches(R"({"x": -1})", rule("x", Op::Lt, num("18446744073709551615"))));
  EXPECT_TRUE(
      matches(R"({"x": 18446744073709551615})", rule("x", Op::Gt, num("18446744073709551614"))));
  EXPECT_TRUE(matches(R"({"x": 9007199254740993})", rule("x", Op::Gt, num("9007199254740992"))));
  EXPECT_TRUE(matches(R"({"x": 1e300})", rule("x", Op::Gt, num("5"))));
  EXPECT_TRUE(matches(R"({"x": -1e300})", rule("x", Op::Lt, num("-5"))));
}

TEST(ClaimsOrdered, NumericStringClaim) {
  EXPECT_TRUE(matches(R"({"age": "21"})", rule("age", Op::Gte, num("18"))));
  EXPECT_TRUE(matches(R"({"age": "17.5"})", rule("age", Op::Lt, num("18"))));
  EXPECT_TRUE(matches(R"({"age": "-1"})", rule("age", Op::Lt, num("0"))));
  EXPECT_TRUE(matches(R"({"age": "1e3"})", rule("age", Op::Gt, num("999"))));
  // Only a string that is entirely a number.
  EXPECT_FALSE(matches(R"({"age": "21 years"})", rule("age", Op::Gte, num("18"))));
  EXPECT_FALSE(matches(R"({"age": " 21"})", rule("age", Op::Gte, num("18"))));
  EXPECT_FALSE(matches(R"({"age": "21 "})", rule("age", Op::Gte, num("18"))));
  EXPECT_FALSE(matches(R"({"age": ""})", rule("age", Op::Lt, num("18"))));
  EXPECT_FALSE(matches(R"({"age": "abc"})", rule("age", Op::Lt, num("18"))));
  EXPECT_FALSE(matches(R"({"age": "0x20"})", rule("age", Op::Gt, num("18"))));
  EXPECT_FALSE(matches(R"({"age": "inf"})", rule("age", Op::Gt, num("18"))));
  EXPECT_FALSE(matches(R"({"age": "nan"})", rule("age", Op::Lt, num("18"))));
}

TEST(ClaimsOrdered, RuleValueTextAsNumber) {
  // A quoted rule value whose text is a number is compared as that number.
  EXPECT_TRUE(matches(R"({"x": 10})", rule("x", Op::Gt, str("5"))));
  EXPECT_FALSE(matches(R"({"x": 10})", rule("x", Op::Gt, str("five"))));
  EXPECT_FALSE(matches(R"({"x": 10})", rule("x", Op::Gt, str(""))));
  EXPECT_FALSE(matches(R"({"x": 10})", rule("x", Op::Gt, boolean(true))));
  EXPECT_FALSE(matches(R"({"x": 10})", rule("x", Op::Gt, list({num("5")}))));
  EXPECT_FALSE(matches(R"({"x": 10})", rule("x", Op::Gt)));
}

TEST(ClaimsOrdered, TypeMismatches) {
  for (Op op : {Op::Gt, Op::Gte, Op::Lt, Op::Lte}) {
    EXPECT_FALSE(matches(R"({"x": true})", rule("x", op, num("0"))));
    EXPECT_FALSE(matches(R"({"x": false})", rule("x", op, num("0"))));
    EXPECT_FALSE(matches(R"({"x": null})", rule("x", op, num("0"))));
    EXPECT_FALSE(matches(R"({"x": [5]})", rule("x", op, num("5"))));
    EXPECT_FALSE(matches(R"({"x": {"v": 5}})", rule("x", op, num("5"))));
    EXPECT_FALSE(matches(R"({})", rule("x", op, num("5"))));
  }
}

// ---------------------------------------------------------------------------------------------
// regex

TEST(ClaimsRegex, SearchSemantics) {
  EXPECT_TRUE(matches(R"({"email": "bob@corp.example"})",
                      rule("email", Op::Regex, str(R"(@corp\.example$)"))));
  EXPECT_FALSE(matches(R"({"email": "bob@corp.example.org"})",
                       rule("email", Op::Regex, str(R"(@corp\.example$)"))));
  EXPECT_TRUE(matches(R"({"role": "superadmin"})", rule("role", Op::Regex, str("admin"))));
  EXPECT_FALSE(matches(R"({"role": "superadmin"})", rule("role", Op::Regex, str("^admin$"))));
  EXPECT_TRUE(matches(R"({"role": "admin"})", rule("role", Op::Regex, str("^admin$"))));
  EXPECT_TRUE(matches(R"({"s": "x123"})", rule("s", Op::Regex, num("123"))));
  EXPECT_TRUE(matches(R"({"s": ""})", rule("s", Op::Regex, str("^$"))));
  EXPECT_TRUE(matches(R"({"u": {"g": "team-42"}})", rule("u.g", Op::Regex, str(R"(^team-\d+$)"))));
}

TEST(ClaimsRegex, TypeMismatches) {
  EXPECT_FALSE(matches(R"({"n": 123})", rule("n", Op::Regex, str("^1"))));
  EXPECT_FALSE(matches(R"({"b": true})", rule("b", Op::Regex, str("true"))));
  EXPECT_FALSE(matches(R"({"x": null})", rule("x", Op::Regex, str(".*"))));
  EXPECT_FALSE(matches(R"({"x": ["admin"]})", rule("x", Op::Regex, str("admin"))));
  EXPECT_FALSE(matches(R"({"x": {"a": "admin"}})", rule("x", Op::Regex, str("admin"))));
  EXPECT_FALSE(matches(R"({})", rule("x", Op::Regex, str(".*"))));
}

TEST(ClaimsRegex, InvalidPatternIsRecordedAndNeverMatches) {
  const auto bad = rule("sub", Op::Regex, str("(unclosed"));
  EXPECT_FALSE(rule_matches(obj(R"({"sub": "(unclosed"})"), bad));

  const ClaimRules rules({rule("sub", Op::Exists), bad, rule("x", Op::Regex, str("[z-a]"))});
  EXPECT_EQ(rules.error().rfind("claims[1]: invalid regex: ", 0), 0u) << rules.error();
  EXPECT_GT(rules.error().size(), std::string("claims[1]: invalid regex: ").size());
  EXPECT_FALSE(rules.match(obj(R"({"sub": "(unclosed", "x": "q"})")));

  const ClaimRules first({rule("x", Op::Regex, str("a{2,1}"))});
  EXPECT_EQ(first.error().rfind("claims[0]: invalid regex: ", 0), 0u) << first.error();
  EXPECT_FALSE(first.match(obj(R"({"x": "aa"})")));
}

TEST(ClaimsRegex, PatternThatIsNotOneValue) {
  const ClaimRules rules({rule("x", Op::Regex, list({str("a")}))});
  EXPECT_EQ(rules.error().rfind("claims[0]: invalid regex: ", 0), 0u) << rules.error();
  EXPECT_FALSE(rules.match(obj(R"({"x": "a"})")));
  EXPECT_FALSE(matches(R"({"x": "a"})", rule("x", Op::Regex)));
}

TEST(ClaimsRegex, OverlongPatternRefused) {
  const ClaimRules rules({rule("x", Op::Regex, str(std::string(2000, 'a')))});
  EXPECT_EQ(rules.error().rfind("claims[0]: invalid regex: ", 0), 0u) << rules.error();
}

TEST(ClaimsRegex, ValidPatternsLeaveNoError) {
  const ClaimRules rules({rule("a", Op::Regex, str("^x")), rule("b", Op::Equals, str("y"))});
  EXPECT_TRUE(rules.error().empty()) << rules.error();
  EXPECT_TRUE(rules.match(obj(R"({"a": "xx", "b": "y"})")));
}

TEST(ClaimsRegex, LongClaimNeverMatchesAndDoesNotCrash) {
  json::object c;
  c["s"] = std::string(10000, 'a');
  for (const char* p : {".*", "a", "^(a|b)*$", "^a+$", "(a+)+$"}) {
    const auto r = rule("s", Op::Regex, str(p));
    EXPECT_FALSE(rule_matches(c, r)) << p;
    EXPECT_FALSE(ClaimRules({r}).match(c)) << p;
  }
}

TEST(ClaimsRegex, ClaimLengthLimitIs4096) {
  json::object c;
  c["s"] = std::string(4096, 'a');
  EXPECT_TRUE(rule_matches(c, rule("s", Op::Regex, str("^a*$"))));
  EXPECT_TRUE(rule_matches(c, rule("s", Op::Regex, str("a$"))));
  c["s"] = std::string(4097, 'a');
  EXPECT_FALSE(rule_matches(c, rule("s", Op::Regex, str("a$"))));
}

// ---------------------------------------------------------------------------------------------
// exists

TEST(ClaimsExists, AnyValueIncludingNull) {
  for (const char* v : {"\"\"", "0", "false", "null", "[]", "{}"}) {
    EXPECT_TRUE(matches(std::string("{\"x\": ") + v + "}", rule("x", Op::Exists))) << v;
  }
  EXPECT_TRUE(matches(R"({"u": {"d": 1}})", rule("u.d", Op::Exists)));
  EXPECT_FALSE(matches(R"({"u": {"d": 1}})", rule("u.e", Op::Exists)));
  EXPECT_FALSE(matches(R"({})", rule("x", Op::Exists)));
  EXPECT_FALSE(matches(R"({"r": ["a"]})", rule("r.0", Op::Exists)));
  EXPECT_FALSE(matches(R"({"x": 1})", rule("", Op::Exists)));
}

// ---------------------------------------------------------------------------------------------
// ClaimRules: ANDed

TEST(ClaimsRules, EmptyMatchesEverything) {
  const ClaimRules none;
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(none.error().empty());
  EXPECT_TRUE(none.match(obj("{}")));
  const ClaimRules empty(std::vector<ClaimRule>{});
  EXPECT_TRUE(empty.empty());
  EXPECT_TRUE(empty.match(obj(R"({"sub": "x"})")));
}

TEST(ClaimsRules, AllMustHold) {
  const ClaimRules rules({
      rule("iss", Op::Equals, str("https://idp")),
      rule("realm_access.roles", Op::Contains, str("admin")),
      rule("level", Op::Gte, num("3")),
      rule("email", Op::Regex, str(R"(@corp\.example$)")),
  });
  EXPECT_FALSE(rules.empty());
  EXPECT_TRUE(rules.error().empty());
  EXPECT_TRUE(rules.match(obj(R"({"iss": "https://idp", "realm_access": {"roles": ["admin"]},
                                 "level": 3, "email": "a@corp.example"})")));
  // Each rule failing alone fails the set.
  EXPECT_FALSE(rules.match(obj(R"({"iss": "https://other", "realm_access": {"roles": ["admin"]},
                                  "level": 3, "email": "a@corp.example"})")));
  EXPECT_FALSE(rules.match(obj(R"({"iss": "https://idp", "realm_access": {"roles": ["dev"]},
                                  "level": 3, "email": "a@corp.example"})")));
  EXPECT_FALSE(rules.match(obj(R"({"iss": "https://idp", "realm_access": {"roles": ["admin"]},
                                  "level": 2, "email": "a@corp.example"})")));
  EXPECT_FALSE(rules.match(obj(R"({"iss": "https://idp", "realm_access": {"roles": ["admin"]},
                                  "level": 3, "email": "a@evil.example"})")));
  EXPECT_FALSE(rules.match(obj(R"({"iss": "https://idp", "level": 3,
                                  "email": "a@corp.example"})")));
}

TEST(ClaimsRules, CopiesShareCompiledPatterns) {
  ClaimRules a({rule("sub", Op::Regex, str("^u[0-9]+$"))});
  const ClaimRules b = a;
  a = ClaimRules();
  EXPECT_TRUE(b.match(obj(R"({"sub": "u12"})")));
  EXPECT_FALSE(b.match(obj(R"({"sub": "x12"})")));
  EXPECT_TRUE(a.match(obj(R"({"sub": "x12"})")));
}

}  // namespace
}  // namespace yg::auth
