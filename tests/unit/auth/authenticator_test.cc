// Token sources (AUTH-1) and the authenticator's key choice (AUTH-3), with tokens from the
// PyJWT-generated vectors (tests/vectors/jwt/vectors.json; scripts/gen_jwt_vectors.py).

#include "auth/authenticator.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <fstream>
#include <sstream>

namespace yg::auth {
namespace {

boost::json::object vectors() {
  std::ifstream f(std::string(YG_TEST_VECTORS_DIR) + "/jwt/vectors.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return boost::json::parse(ss.str()).as_object();
}

std::string hs256_token(const boost::json::object& v) {
  for (const auto& t : v.at("valid").as_array()) {
    if (t.as_object().at("alg").as_string() == "HS256") {
      return std::string(t.as_object().at("token").as_string());
    }
  }
  return {};
}

constexpr int64_t kNow = 1700000100;  // the vectors' iat is 1700000000, exp 2100-01-01

config::JwtConfig hs256_config(const boost::json::object& v) {
  config::JwtConfig c;
  c.algorithm = "HS256";
  c.secret = Secret(std::string(v.at("hmac_secret").as_string()));
  return c;
}

TEST(FindToken, SourcesInOrderFirstFoundIsJudged) {
  std::vector<std::pair<std::string, std::string>> query = {{"tok", "from-query"}};
  RequestView req;
  req.authorization = "bearer   from-bearer";
  req.header = [](std::string_view n) {
    return n == "X-Auth" ? std::string_view("Token from-header") : std::string_view{};
  };
  req.query = &query;
  using T = config::TokenSourceType;
  std::vector<config::TokenSource> src = {
      {T::Header, "X-Auth", "Token "}, {T::Query, "tok", ""}, {T::Bearer, "", ""}};
  EXPECT_EQ(find_token(src, req)->value, "from-header");
  std::rotate(src.begin(), src.begin() + 1, src.end());
  EXPECT_EQ(find_token(src, req)->value, "from-query");
  std::rotate(src.begin(), src.begin() + 1, src.end());
  EXPECT_EQ(find_token(src, req)->value, "from-bearer");
}

TEST(FindToken, PrefixRequiredAndEmptyValuesAreNoToken) {
  RequestView req;
  req.authorization = "Basic dXNlcjpwYXNz";
  req.header = [](std::string_view) { return std::string_view("no-prefix"); };
  using T = config::TokenSourceType;
  EXPECT_FALSE(find_token({{T::Bearer, "", ""}}, req));
  EXPECT_FALSE(find_token({{T::Header, "X-Auth", "Token "}}, req));
  req.authorization = "Bearer ";
  EXPECT_FALSE(find_token({{T::Bearer, "", ""}}, req));
  std::vector<std::pair<std::string, std::string>> query = {{"tok", ""}};
  req.query = &query;
  EXPECT_FALSE(find_token({{T::Query, "tok", ""}}, req));
}

TEST(Authenticator, VerifiesAndKeepsClaims) {
  const auto v = vectors();
  Authenticator a(hs256_config(v));
  auto r = a.check(hs256_token(v), kNow);
  ASSERT_EQ(r.outcome, Outcome::Allowed) << to_string(r.error);
  EXPECT_EQ(r.subject, "alice-HS256");
  ASSERT_TRUE(r.claims);
  EXPECT_EQ(r.claims->at("scope").as_string(), "read write");
}

// The vector names kid "hmac", which no configured key carries: the default key still applies.
TEST(Authenticator, UnknownKidFallsBackToTheDefaultKey) {
  const auto v = vectors();
  Authenticator a(hs256_config(v));
  EXPECT_EQ(a.check(hs256_token(v), kNow).outcome, Outcome::Allowed);
}

// With kid-selected keys only, a kid no key carries is UnknownKid, and the right id verifies.
TEST(Authenticator, KidSelectsAmongKeys) {
  const auto v = vectors();
  config::JwtConfig c;
  c.algorithm = "HS256";
  c.keys.push_back({"other", "HS256", Secret("not-the-secret-0123456789abcdef"), ""});
  Authenticator only_other(c);
  auto r = only_other.check(hs256_token(v), kNow);
  EXPECT_EQ(r.outcome, Outcome::Invalid);
  EXPECT_EQ(r.error, JwtError::UnknownKid);
  c.keys.push_back({"hmac", "HS256", Secret(std::string(v.at("hmac_secret").as_string())), ""});
  Authenticator with_hmac(c);
  EXPECT_EQ(with_hmac.check(hs256_token(v), kNow).outcome, Outcome::Allowed);
}

TEST(Authenticator, AlgorithmsNotConfiguredAreRefusedFirst) {
  const auto v = vectors();
  auto c = hs256_config(v);
  c.algorithm = "HS512";
  Authenticator a(c);
  auto r = a.check(hs256_token(v), kNow);
  EXPECT_EQ(r.error, JwtError::AlgNotAllowed);
}

TEST(Authenticator, RulesForbidAndAdminNeedsAdminClaims) {
  const auto v = vectors();
  auto c = hs256_config(v);
  config::ClaimRule rule;
  rule.claim = "sub";
  rule.op = config::ClaimOperator::Equals;
  rule.value.kind = config::ClaimValue::Kind::String;
  rule.value.text = "bob";
  c.claims.push_back(rule);
  Authenticator a(c);
  EXPECT_EQ(a.check(hs256_token(v), kNow).outcome, Outcome::Forbidden);
  // No admin_claims configured: the admin API is refused to every valid token.
  EXPECT_EQ(a.check(hs256_token(v), kNow, /*admin=*/true).outcome, Outcome::Forbidden);
  rule.value.text = "alice-HS256";
  c.admin_claims.push_back(rule);
  Authenticator b(c);
  EXPECT_EQ(b.check(hs256_token(v), kNow, /*admin=*/true).outcome, Outcome::Allowed);
}

TEST(Authenticator, ExpiredAndBadKeyFiles) {
  const auto v = vectors();
  Authenticator a(hs256_config(v));
  EXPECT_EQ(a.check(hs256_token(v), 4102444800 + 61).error, JwtError::Expired);
  config::JwtConfig c;
  c.algorithm = "RS256";
  c.rsa_public_key_path = "/nonexistent/key.pem";
  EXPECT_THROW(Authenticator{c}, std::runtime_error);
}

}  // namespace
}  // namespace yg::auth
