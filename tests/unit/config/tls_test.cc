// OPS-6: server.tls (docs/TLS.md). The config module checks the keys' shape; the files and the
// cipher names are checked by OpenSSL when the runtime builds the TLS context (not here).

#include <gtest/gtest.h>

#include "config/loader.h"
#include "config_test_util.h"

namespace yg::config {
namespace {

using test::with_bucket;

// The listener block alone: server: / tls: on lines 9-10, its keys from line 11.
std::string tls_block(std::string_view keys) {
  return with_bucket(
      "server:\n  tls:\n    cert_path: /etc/yg/cert.pem\n"
      "    key_path: /etc/yg/key.pem\n" +
      std::string(keys));
}

// Without the new keys: TLS 1.2 minimum, the ECDHE+AEAD list, OpenSSL's TLS 1.3 suites.
TEST(TlsConfig, DefaultsAreModern) {
  auto r = test::load(tls_block(""));
  ASSERT_LOADS(r);
  ASSERT_TRUE(r.config->server.tls.has_value());
  const TlsConfig& t = *r.config->server.tls;
  EXPECT_EQ(t.cert_path, "/etc/yg/cert.pem");
  EXPECT_EQ(t.key_path, "/etc/yg/key.pem");
  EXPECT_EQ(t.min_version, TlsVersion::V1_2);
  EXPECT_EQ(t.ciphers, kDefaultTlsCiphers);
  EXPECT_EQ(t.ciphersuites, kDefaultTlsCiphersuites);
  // Forward secrecy and AEAD only: every entry is ECDHE with GCM or ChaCha20-Poly1305.
  std::string_view rest = t.ciphers;
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string_view name = rest.substr(0, colon);
    EXPECT_TRUE(name.starts_with("ECDHE-")) << name;
    EXPECT_TRUE(name.find("-GCM-") != name.npos || name.find("CHACHA20-POLY1305") != name.npos)
        << name;
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
  }
}

// Every extension key is read as written (both spellings of the version).
TEST(TlsConfig, ReadsEveryKey) {
  auto r = test::load(
      tls_block("    min_version: \"1.3\"\n    ciphers: \"ECDHE-RSA-AES256-GCM-SHA384:!aNULL\"\n"
                "    ciphersuites: TLS_AES_128_GCM_SHA256\n"));
  ASSERT_LOADS(r);
  const TlsConfig& t = *r.config->server.tls;
  EXPECT_EQ(t.min_version, TlsVersion::V1_3);
  EXPECT_EQ(t.ciphers, "ECDHE-RSA-AES256-GCM-SHA384:!aNULL");
  EXPECT_EQ(t.ciphersuites, "TLS_AES_128_GCM_SHA256");

  auto spelled = test::load(tls_block("    min_version: TLSv1.2\n"));
  ASSERT_LOADS(spelled);
  EXPECT_EQ(spelled.config->server.tls->min_version, TlsVersion::V1_2);
  // YAML reads an unquoted 1.3 as a number; the key still means TLS 1.3.
  auto bare = test::load(tls_block("    min_version: 1.3\n"));
  ASSERT_LOADS(bare);
  EXPECT_EQ(bare.config->server.tls->min_version, TlsVersion::V1_3);
}

// The dump shows the TLS settings in force (defaults included) and loads back to them.
TEST(TlsConfig, DumpShowsSettingsAndLoadsBack) {
  auto r = test::load(tls_block("    min_version: \"1.3\"\n"));
  ASSERT_LOADS(r);
  const std::string dump = dump_redacted(*r.config);
  EXPECT_NE(dump.find("min_version: \"1.3\""), std::string::npos) << dump;
  EXPECT_NE(dump.find(std::string(kDefaultTlsCiphers)), std::string::npos) << dump;
  auto again = test::load(dump);
  ASSERT_LOADS(again);
  EXPECT_EQ(again.config->server.tls->min_version, TlsVersion::V1_3);
  EXPECT_EQ(again.config->server.tls->key_path, "/etc/yg/key.pem");
  EXPECT_EQ(again.config->server.tls->ciphers, kDefaultTlsCiphers);
}

struct TlsCase {
  const char* name;
  std::string keys;  // lines from 13 on
  int line;
  const char* path;
  const char* what;
};

void PrintTo(const TlsCase& c, std::ostream* os) {
  *os << c.name;
}

class TlsRuleTest : public ::testing::TestWithParam<TlsCase> {};

// Each bad value fails loading with one error at its line and key.
TEST_P(TlsRuleTest, ReportsOneErrorAtItsLine) {
  const TlsCase& c = GetParam();
  EXPECT_ONLY_ERROR_AT(test::load(tls_block(c.keys)), c.line, c.path, c.what);
}

const TlsCase kTlsRules[] = {
    {"Tls10Refused", "    min_version: \"1.0\"\n", 13, "server.tls.min_version",
     "is refused: TLS 1.0 and 1.1 are deprecated (RFC 8996)"},
    {"Tls11Refused", "    min_version: TLSv1.1\n", 13, "server.tls.min_version",
     "is refused: TLS 1.0 and 1.1 are deprecated"},
    {"Ssl3Refused", "    min_version: SSLv3\n", 13, "server.tls.min_version", "is refused"},
    {"UnknownVersion", "    min_version: \"1.4\"\n", 13, "server.tls.min_version",
     "'1.4' is not one of: 1.2, 1.3"},
    {"EmptyCiphers", "    ciphers: \"\"\n", 13, "server.tls.ciphers", "must not be empty"},
    {"CiphersWithQuote", "    ciphers: \"AES128'; rm\"\n", 13, "server.tls.ciphers",
     "is not an OpenSSL cipher list (unexpected '''"},
    {"SuitesWithOperator", "    ciphersuites: \"TLS_AES_128_GCM_SHA256:!TLS_AES_256\"\n", 13,
     "server.tls.ciphersuites", "unexpected '!'"},
    {"EmptySuites", "    ciphersuites: \"\"\n", 13, "server.tls.ciphersuites", "must not be empty"},
    {"UnknownKey", "    protocols: [TLSv1.2]\n", 13, "server.tls.protocols", "unknown key"},
};

INSTANTIATE_TEST_SUITE_P(Config, TlsRuleTest, ::testing::ValuesIn(kTlsRules),
                         [](const ::testing::TestParamInfo<TlsCase>& info) {
                           return std::string(info.param.name);
                         });

// An empty path is refused where it is written (the runtime would only say "cannot open ''").
TEST(TlsConfig, EmptyPathsAreRefused) {
  EXPECT_ONLY_ERROR_AT(
      test::load(with_bucket("server:\n  tls:\n    cert_path: \"\"\n    key_path: /k.pem\n")), 11,
      "server.tls.cert_path", "must not be empty");
  EXPECT_ONLY_ERROR_AT(
      test::load(with_bucket("server:\n  tls:\n    cert_path: /c.pem\n    key_path: \"\"\n")), 12,
      "server.tls.key_path", "must not be empty");
}

// The listener is no longer gated (issue #8 item 6).
TEST(TlsConfig, IsNotGated) {
  auto r = test::load(with_bucket("server:\n  tls: {cert_path: /c, key_path: /k}\n"));
  ASSERT_LOADS(r);
  EXPECT_TRUE(r.config->server.tls.has_value());
}

}  // namespace
}  // namespace yg::config
