// CONF-3: ${VAR} and ${VAR:-default} substitution in scalar values.

#include "config/env.h"

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace yg::config {
namespace {

using test::env_of;
using test::load;
using test::with_bucket;

std::string expand(std::string_view in, test::Env env,
                   std::vector<std::string>* problems = nullptr) {
  std::string out;
  auto p = detail::substitute_env(in, env_of(std::move(env)), out);
  if (problems != nullptr) {
    *problems = p;
  } else {
    EXPECT_TRUE(p.empty()) << p.front();
  }
  return out;
}

// A set variable replaces its reference.
TEST(SubstituteEnv, ReplacesSetVariable) {
  EXPECT_EQ(expand("${A}", {{"A", "x"}}), "x");
}

// References can sit inside a longer value, several per value.
TEST(SubstituteEnv, ReplacesVariablesInsideText) {
  EXPECT_EQ(expand("http://${HOST}:${PORT}/p", {{"HOST", "h"}, {"PORT", "9000"}}),
            "http://h:9000/p");
}

// The default is used when the variable is unset.
TEST(SubstituteEnv, UsesDefaultWhenUnset) {
  EXPECT_EQ(expand("${A:-dflt}", {}), "dflt");
}

// As in POSIX sh, ":-" also applies to a variable that is set but empty.
TEST(SubstituteEnv, UsesDefaultWhenEmpty) {
  EXPECT_EQ(expand("${A:-dflt}", {{"A", ""}}), "dflt");
}

// A set variable wins over its default.
TEST(SubstituteEnv, PrefersSetValueOverDefault) {
  EXPECT_EQ(expand("${A:-dflt}", {{"A", "v"}}), "v");
}

// An empty default is allowed.
TEST(SubstituteEnv, AllowsEmptyDefault) {
  EXPECT_EQ(expand("x${A:-}y", {}), "xy");
}

// "$${" is a literal "${".
TEST(SubstituteEnv, EscapedDollarBraceIsLiteral) {
  EXPECT_EQ(expand("$${A}", {{"A", "x"}}), "${A}");
}

// A '$' not followed by '{' is kept.
TEST(SubstituteEnv, LoneDollarIsLiteral) {
  EXPECT_EQ(expand("a$b$", {}), "a$b$");
}

// Substituted text is not expanded again, so a value cannot pull in other variables.
TEST(SubstituteEnv, DoesNotExpandSubstitutedText) {
  EXPECT_EQ(expand("${A}", {{"A", "${B}"}, {"B", "no"}}), "${B}");
}

// An unset variable without default is a problem naming it.
TEST(SubstituteEnv, ReportsUnsetVariable) {
  std::vector<std::string> p;
  expand("${MISSING}", {}, &p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0],
            "environment variable MISSING is not set (use ${MISSING:-default} to give a default)");
}

// A reference without '}' is reported.
TEST(SubstituteEnv, ReportsUnterminatedReference) {
  std::vector<std::string> p;
  expand("abc${A", {{"A", "x"}}, &p);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("unterminated"), std::string::npos);
}

// Names are letters, digits and '_', not starting with a digit.
TEST(SubstituteEnv, ReportsInvalidName) {
  std::vector<std::string> p;
  expand("${1A} ${A-B} ${}", {}, &p);
  EXPECT_EQ(p.size(), 3u);
}

// Through the loader: a value that needs a variable gets it before type conversion.
TEST(EnvInConfig, SubstitutesBeforeTypeConversion) {
  auto r = load(with_bucket("server:\n  port: ${PORT:-8081}\n"));
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->server.port, 8081);
  auto r2 = load(with_bucket("server:\n  port: ${PORT:-8081}\n"), {{"PORT", "9999"}});
  ASSERT_LOADS(r2);
  EXPECT_EQ(r2.config->server.port, 9999);
}

// A variable inside a URL is replaced in place.
TEST(EnvInConfig, SubstitutesInsideStrings) {
  auto r = load(
      "buckets:\n"
      "  - name: a\n"
      "    path_prefix: /a\n"
      "    s3:\n"
      "      bucket: b\n"
      "      endpoint: \"http://${HOST}:9000\"\n"
      "      access_key: ${AK}\n"
      "      secret_key: ${SK}\n",
      {{"HOST", "minio"}, {"AK", "key"}, {"SK", "secret"}});
  ASSERT_LOADS(r);
  const auto& rep = r.config->buckets[0].s3.replicas[0];
  EXPECT_EQ(rep.endpoint, "http://minio:9000");
  EXPECT_EQ(rep.access_key, "key");
  EXPECT_EQ(rep.secret_key.reveal(), "secret");
}

// An unset variable is an error at its line, naming the variable and the key.
TEST(EnvInConfig, UnsetVariableIsAnErrorWithKeyAndLine) {
  auto r = load(
      "buckets:\n"
      "  - name: a\n"
      "    path_prefix: /a\n"
      "    s3:\n"
      "      bucket: b\n"
      "      access_key: AK\n"
      "      secret_key: ${S3_SECRET}\n");
  EXPECT_ONLY_ERROR(r,
                    "test.yaml:7: buckets[0].s3.secret_key: environment variable S3_SECRET is "
                    "not set (use ${S3_SECRET:-default} to give a default)");
}

// Comments are never substituted: an unset variable there is no error.
TEST(EnvInConfig, CommentsAreUntouched) {
  auto r = load(with_bucket("# secret: ${NOT_SET}\nlogging:\n  level: info # ${ALSO_NOT_SET}\n"));
  ASSERT_LOADS(r);
}

// Substitution is for values: a key spelled with ${...} is just an unknown key.
TEST(EnvInConfig, KeysAreNotSubstituted) {
  auto r = load(with_bucket("${KEY}: 1\n"), {{"KEY", "logging"}});
  EXPECT_ONLY_ERROR(r, "test.yaml:9: ${KEY}: unknown key");
}

// A substituted value cannot change the YAML structure.
TEST(EnvInConfig, SubstitutedValueStaysOneScalar) {
  auto r = load(with_bucket("logging:\n  format: ${F}\n"), {{"F", "json\n  level: off"}});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 10);
  EXPECT_EQ(r.errors[0].key_path, "logging.format");
}

// The escape works in config values.
TEST(EnvInConfig, EscapeGivesLiteralDollarBrace) {
  auto r = load(with_bucket("jwt:\n  enabled: false\n  secret: \"a$${b}\"\n"));
  ASSERT_LOADS(r);
  EXPECT_EQ(r.config->jwt->secret.reveal(), "a${b}");
}

// process_env reads the real environment.
TEST(ProcessEnv, ReadsEnvironment) {
  ::setenv("YG_CONFIG_TEST_VAR", "v", 1);
  EXPECT_EQ(process_env("YG_CONFIG_TEST_VAR"), std::optional<std::string>("v"));
  ::unsetenv("YG_CONFIG_TEST_VAR");
  EXPECT_EQ(process_env("YG_CONFIG_TEST_VAR"), std::nullopt);
}

}  // namespace
}  // namespace yg::config
