#include "authz/openfga.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace yg::authz {
namespace {
namespace json = boost::json;

TEST(OpenFga, ObjectAndParentChainUpToTheBucket) {
  const auto o = openfga_object("docs", "reports/2024/q1.pdf", true);
  EXPECT_EQ(o.object, "file:docs/reports/2024/q1.pdf");
  ASSERT_EQ(o.parents.size(), 3u);
  EXPECT_EQ(o.parents[0].user, "folder:docs/reports/2024/");
  EXPECT_EQ(o.parents[0].relation, "parent");
  EXPECT_EQ(o.parents[0].object, "file:docs/reports/2024/q1.pdf");
  EXPECT_EQ(o.parents[1].user, "folder:docs/reports/");
  EXPECT_EQ(o.parents[1].object, "folder:docs/reports/2024/");
  EXPECT_EQ(o.parents[2].user, "bucket:docs");
  EXPECT_EQ(o.parents[2].object, "folder:docs/reports/");
}

TEST(OpenFga, TopLevelFileAndFolderKeys) {
  auto o = openfga_object("docs", "top.txt", true);
  EXPECT_EQ(o.object, "file:docs/top.txt");
  ASSERT_EQ(o.parents.size(), 1u);
  EXPECT_EQ(o.parents[0].user, "bucket:docs");
  o = openfga_object("docs", "reports/2024/", true);
  EXPECT_EQ(o.object, "folder:docs/reports/2024/");
  ASSERT_EQ(o.parents.size(), 2u);
  EXPECT_EQ(o.parents[0].user, "folder:docs/reports/");
  EXPECT_EQ(o.parents[1].user, "bucket:docs");
  EXPECT_TRUE(openfga_object("docs", "a/b", false).parents.empty());
}

TEST(OpenFga, IdsPercentEncodeWhatOpenFgaRefuses) {
  const auto o = openfga_object("docs", "a b/t:1#x%y.txt", true);
  EXPECT_EQ(o.object, "file:docs/a%20b/t%3A1%23x%25y.txt");
  EXPECT_EQ(o.parents[0].user, "folder:docs/a%20b/");
  EXPECT_EQ(openfga_object("docs", "ünï/日本.txt", false).object, "file:docs/ünï/日本.txt");
}

TEST(OpenFga, UserFromDotPathClaim) {
  const json::object c = json::parse(R"({"sub":"auth0|1","user":{"id":"ann"},"n":42,"e":"","x":true,
                     "url":"https://id.example/ann"})")
                             .as_object();
  EXPECT_EQ(openfga_user(&c, "sub"), "user:auth0|1");
  EXPECT_EQ(openfga_user(&c, "user.id"), "user:ann");
  EXPECT_EQ(openfga_user(&c, "n"), "user:42");
  EXPECT_EQ(openfga_user(&c, "url"), "user:https%3A//id.example/ann");
  EXPECT_FALSE(openfga_user(&c, "e"));  // empty
  EXPECT_FALSE(openfga_user(&c, "x"));  // not a string or integer
  EXPECT_FALSE(openfga_user(&c, "missing"));
  EXPECT_FALSE(openfga_user(nullptr, "sub"));
}

TEST(OpenFga, CheckBody) {
  const auto o = openfga_object("docs", "a/f.txt", true);
  EXPECT_EQ(openfga_check_body({"user:ann", "viewer", o.object}, o.parents, "01MODEL"),
            R"({"tuple_key":{"user":"user:ann","relation":"viewer","object":"file:docs/a/f.txt"},)"
            R"("contextual_tuples":{"tuple_keys":[{"user":"folder:docs/a/","relation":"parent",)"
            R"("object":"file:docs/a/f.txt"},{"user":"bucket:docs","relation":"parent",)"
            R"("object":"folder:docs/a/"}]},"authorization_model_id":"01MODEL"})");
  EXPECT_EQ(openfga_check_body({"user:ann", "viewer", "file:d/x"}, {}, ""),
            R"({"tuple_key":{"user":"user:ann","relation":"viewer","object":"file:d/x"}})");
}

TEST(OpenFga, Interpret) {
  EXPECT_EQ(openfga_interpret(R"({"allowed":true,"resolution":""})").decision, Decision::Allow);
  EXPECT_EQ(openfga_interpret(R"({"allowed":false})").decision, Decision::Deny);
  for (const char* body : {"", "{}", R"({"allowed":"true"})", R"({"code":"x"})", "[]"}) {
    EXPECT_EQ(openfga_interpret(body).decision, Decision::Error) << body;
  }
}

// Requests OpenFGA would refuse with 400 are denied before asking (never an "outage").
TEST(OpenFga, PrecheckDeniesWhatOpenFgaCannotExpress) {
  config::AuthorizationConfig cfg;
  cfg.type = config::AuthorizationType::OpenFga;
  cfg.openfga_endpoint = "http://127.0.0.1:1";
  cfg.openfga_store_id = "s";
  const OpenFgaAuthorizer a(cfg, nullptr);
  const json::object claims = json::parse(R"({"sub":"ann"})").as_object();
  Input in;
  in.claims = &claims;
  in.bucket = "docs";
  in.key = "a/b.txt";
  EXPECT_FALSE(a.prepare(in, false).answer);
  Input anon = in;
  anon.claims = nullptr;
  ASSERT_TRUE(a.prepare(anon, false).answer);
  EXPECT_EQ(a.prepare(anon, false).answer->decision, Decision::Deny);
  // 256 characters of object id: "file:docs/" is 10, so a 246-character key fits, 247 does not.
  std::string key(246, 'k');
  in.key = key;
  EXPECT_FALSE(a.prepare(in, false).answer);
  key += 'k';
  in.key = key;
  EXPECT_TRUE(a.prepare(in, false).answer);
  // Characters, not bytes: 246 two-byte characters fit.
  std::string wide;
  for (int i = 0; i < 246; ++i) {
    wide += "é";
  }
  in.key = wide;
  EXPECT_FALSE(a.prepare(in, false).answer);
  // 100 contextual tuples at most: 99 folders + the bucket.
  std::string deep;
  for (int i = 0; i < 99; ++i) {
    deep += "d/";
  }
  const std::string fits = deep + "f", too_deep = deep + "d/f";
  in.key = fits;
  EXPECT_FALSE(a.prepare(in, false).answer);
  in.key = too_deep;
  ASSERT_TRUE(a.prepare(in, false).answer);
  EXPECT_NE(a.prepare(in, false).answer->reason.find("contextual tuple limit"), std::string::npos);
}

}  // namespace
}  // namespace yg::authz
