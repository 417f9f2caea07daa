#include "authz/opa.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace yg::authz {
namespace {
namespace json = boost::json;

Input sample(const json::object* claims) {
  Input in;
  in.claims = claims;
  in.bucket = "docs";
  in.path = "/docs/reports/q1.pdf";
  in.key = "reports/q1.pdf";
  in.method = "GET";
  in.client_ip = "10.1.2.3";
  in.request_id = "req-1";
  in.header = [](std::string_view name) -> std::string_view {
    if (name == "x-tenant") {
      return "acme";
    }
    if (name == "authorization") {
      return "Bearer secret";  // never asked for: not in any allow-list
    }
    return {};
  };
  return in;
}

TEST(Opa, TargetTakesSlashOrDotPathsAfterTheBasePath) {
  EXPECT_EQ(opa_target("", "yatagarasu/authz/allow"), "/v1/data/yatagarasu/authz/allow");
  EXPECT_EQ(opa_target("", "yatagarasu.authz.allow"), "/v1/data/yatagarasu/authz/allow");
  EXPECT_EQ(opa_target("/opa", "/s3/allow/"), "/opa/v1/data/s3/allow");
}

TEST(Opa, InputHasEveryDocumentedFieldAndOnlyAllowListedHeaders) {
  const json::object claims = json::parse(R"({"sub":"ann","roles":["admin"]})").as_object();
  const auto in = sample(&claims);
  const json::object o = opa_input(in, {"x-tenant", "user-agent"}, true);
  EXPECT_EQ(json::serialize(o),
            R"({"jwt_claims":{"sub":"ann","roles":["admin"]},"bucket":"docs",)"
            R"("path":"/docs/reports/q1.pdf","key":"reports/q1.pdf","method":"GET",)"
            R"("client_ip":"10.1.2.3","request_id":"req-1","headers":{"x-tenant":"acme"}})");
}

TEST(Opa, NoTokenIsNullClaims) {
  const auto o = opa_input(sample(nullptr), {}, false);
  EXPECT_TRUE(o.at("jwt_claims").is_null());
  EXPECT_FALSE(o.contains("request_id"));  // the cache key form
  EXPECT_TRUE(o.at("headers").as_object().empty());
}

TEST(Opa, CacheKeyChangesWithEveryInputButTheRequestId) {
  const json::object claims = json::parse(R"({"sub":"ann"})").as_object();
  config::AuthorizationConfig cfg;
  cfg.opa_url = "http://127.0.0.1:1";
  cfg.opa_policy_path = "p";
  cfg.opa_input_headers = {"x-tenant"};
  const OpaAuthorizer a(cfg, nullptr);
  const auto base = sample(&claims);
  const std::string k = a.prepare(base, true).key;
  auto other = base;
  other.request_id = "req-2";
  EXPECT_EQ(a.prepare(other, true).key, k);
  for (int field = 0; field < 5; ++field) {
    auto in = base;
    switch (field) {
      case 0:
        in.client_ip = "10.1.2.4";
        break;
      case 1:
        in.method = "HEAD";
        break;
      case 2:
        in.key = "reports/q2.pdf";
        break;
      case 3:
        in.header = [](std::string_view) { return std::string_view("globex"); };
        break;
      default:
        in.claims = nullptr;
    }
    EXPECT_NE(a.prepare(in, true).key, k) << field;
  }
}

TEST(Opa, InterpretsBooleanObjectAndUndefinedResults) {
  EXPECT_EQ(opa_interpret(R"({"result":true})").decision, Decision::Allow);
  EXPECT_EQ(opa_interpret(R"({"result":false})").decision, Decision::Deny);
  auto r = opa_interpret(R"({"result":{"allow":false,"reason":"outside office hours"}})");
  EXPECT_EQ(r.decision, Decision::Deny);
  EXPECT_EQ(r.reason, "outside office hours");
  EXPECT_EQ(opa_interpret(R"({"result":{"allow":true}})").decision, Decision::Allow);
  // Undefined: no "result" member (OPA answers {} or only decision_id).
  r = opa_interpret(R"({"decision_id":"x"})");
  EXPECT_EQ(r.decision, Decision::Deny);
  EXPECT_EQ(r.reason, "policy result undefined");
  // Shapes that grant nothing deny; they are the policy's answer, not an outage.
  for (const char* body : {R"({"result":"yes"})", R"({"result":1})", R"({"result":{"allow":1}})",
                           R"({"result":[true]})", R"({"result":null})"}) {
    EXPECT_EQ(opa_interpret(body).decision, Decision::Deny) << body;
  }
  // Not JSON, or not an object: the engine failed.
  for (const char* body : {"", "true", "<html>", R"({"result":tru)"}) {
    const auto e = opa_interpret(body);
    EXPECT_EQ(e.decision, Decision::Error) << body;
    EXPECT_EQ(e.errors[static_cast<std::size_t>(obs::AuthzError::BadResponse)], 1) << body;
  }
}

TEST(Opa, LongReasonsAreClipped) {
  const std::string body =
      R"({"result":{"allow":false,"reason":")" + std::string(5000, 'r') + "\"}}";
  EXPECT_EQ(opa_interpret(body).reason.size(), 512u);
}

}  // namespace
}  // namespace yg::authz
