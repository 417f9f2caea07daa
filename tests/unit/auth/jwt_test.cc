#include "auth/jwt.h"

#include "support/base64url.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace yg::auth {
namespace {

using test::b64url;

// ---------------------------------------------------------------------------------------------
// Helpers

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string b64url_decode(std::string_view s) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : s) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

constexpr const char* kSecret = "a test secret that is long enough for HS256 at least";

// An HS256 token over raw header/payload JSON texts, signed with OpenSSL directly.
std::string hs256_token(std::string_view header_json, std::string_view payload_json,
                        std::string_view secret = kSecret) {
  const std::string input = b64url(header_json) + "." + b64url(payload_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + b64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string hs256_payload(std::string_view payload_json) {
  return hs256_token(R"({"alg":"HS256","typ":"JWT"})", payload_json);
}

Key hs256_key() {
  return Key::hmac(Secret(kSecret), Alg::HS256);
}

JwtError decode_error(std::string_view token) {
  const DecodeResult r = decode(token);
  EXPECT_FALSE(r.token.has_value()) << token;
  return r.error;
}

bool decodes_and_verifies(std::string_view token, const Key& key) {
  const DecodeResult r = decode(token);
  return r.token && key.verify(*r.token);
}

// The vectors from scripts/gen_jwt_vectors.py (PyJWT + cryptography).
const boost::json::object& vectors() {
  static const boost::json::object doc = [] {
    const std::string text = read_file(std::string(YG_TEST_VECTORS_DIR) + "/jwt/vectors.json");
    return boost::json::parse(text).as_object();
  }();
  return doc;
}

std::string str(const boost::json::value& v) {
  return std::string(v.as_string().c_str());
}

std::string pem_of(const std::string& key_name) {
  return str(vectors().at("keys").at(key_name).at("pem"));
}

const boost::json::object& jwk_of(const std::string& key_name) {
  return vectors().at("keys").at(key_name).at("jwk").as_object();
}

Alg alg_of(const boost::json::value& v) {
  const auto a = alg_from_string(str(v));
  EXPECT_TRUE(a.has_value()) << str(v);
  return a.value_or(Alg::HS256);
}

// The verification key for a vector: the HMAC secret, or the named public key as PEM.
Key pem_key(const std::string& key_name, Alg alg) {
  if (key_name == "hmac") {
    return Key::hmac(Secret(str(vectors().at("hmac_secret"))), alg, "hmac");
  }
  Key::Loaded loaded = Key::from_pem(pem_of(key_name), alg, key_name);
  EXPECT_TRUE(loaded.key.has_value()) << key_name << ": " << loaded.error;
  return *loaded.key;
}

Key jwk_key(const std::string& key_name) {
  Key::Loaded loaded = Key::from_jwk(jwk_of(key_name));
  EXPECT_TRUE(loaded.key.has_value()) << key_name << ": " << loaded.error;
  return *loaded.key;
}

std::string valid_token(std::string_view alg) {
  for (const auto& v : vectors().at("valid").as_array()) {
    if (v.at("alg").as_string() == alg) {
      return str(v.at("token"));
    }
  }
  ADD_FAILURE() << "no valid vector for " << alg;
  return {};
}

// ---------------------------------------------------------------------------------------------
// Names

TEST(JwtAlg, NamesRoundTripExactly) {
  for (const char* name : {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384",
                           "PS512", "ES256", "ES384", "ES512", "EdDSA"}) {
    const auto a = alg_from_string(name);
    ASSERT_TRUE(a.has_value()) << name;
    EXPECT_EQ(to_string(*a), name);
  }
  for (const char* name : {"none", "None", "hs256", "EDDSA", "ES256K", "RS1", "", "HS256 "}) {
    EXPECT_FALSE(alg_from_string(name).has_value()) << name;
  }
}

TEST(JwtError, NamesAreSnakeCase) {
  EXPECT_EQ(to_string(JwtError::Malformed), "malformed");
  EXPECT_EQ(to_string(JwtError::UnsupportedAlg), "unsupported_alg");
  EXPECT_EQ(to_string(JwtError::AlgNotAllowed), "alg_not_allowed");
  EXPECT_EQ(to_string(JwtError::UnknownKid), "unknown_kid");
  EXPECT_EQ(to_string(JwtError::BadSignature), "bad_signature");
  EXPECT_EQ(to_string(JwtError::Expired), "expired");
  EXPECT_EQ(to_string(JwtError::NotYetValid), "not_yet_valid");
  EXPECT_EQ(to_string(JwtError::BadClaimType), "bad_claim_type");
  EXPECT_EQ(to_string(JwtError::BadIssuer), "bad_issuer");
  EXPECT_EQ(to_string(JwtError::BadAudience), "bad_audience");
}

// ---------------------------------------------------------------------------------------------
// PyJWT vectors

TEST(JwtVectors, EveryAlgorithmVerifiesWithPemAndJwk) {
  const auto& valid = vectors().at("valid").as_array();
  ASSERT_EQ(valid.size(), 14u);
  for (const auto& v : valid) {
    const std::string key_name = str(v.at("key"));
    const Alg alg = alg_of(v.at("alg"));
    SCOPED_TRACE(str(v.at("alg")) + " " + key_name);
    const DecodeResult r = decode(str(v.at("token")));
    ASSERT_TRUE(r.token.has_value()) << to_string(r.error);
    EXPECT_EQ(r.token->alg, alg);
    EXPECT_EQ(r.token->kid, key_name);
    EXPECT_EQ(r.token->claims.at("aud").as_string(), "yatagarasu");
    EXPECT_EQ(r.token->claims.at("sub").as_string(),
              "alice-" + str(v.at("alg")) + (key_name == "rsa4096" ? "-4096" : ""));
    const Key key = pem_key(key_name, alg);
    EXPECT_TRUE(key.allows(alg));
    EXPECT_TRUE(key.verify(*r.token));
    if (key_name != "hmac") {
      const Key from_jwk = jwk_key(key_name);
      EXPECT_EQ(from_jwk.kid(), key_name);
      EXPECT_TRUE(from_jwk.verify(*r.token));
    }
  }
}

TEST(JwtVectors, Pkcs1RsaPublicKeyPem) {
  const std::string pem = str(vectors().at("keys").at("rsa2048").at("pem_pkcs1"));
  ASSERT_NE(pem.find("BEGIN RSA PUBLIC KEY"), std::string::npos);
  Key::Loaded loaded = Key::from_pem(pem, Alg::RS256);
  ASSERT_TRUE(loaded.key.has_value()) << loaded.error;
  EXPECT_TRUE(decodes_and_verifies(valid_token("RS256"), *loaded.key));
}

TEST(JwtVectors, InvalidTokensAreRefused) {
  const auto& invalid = vectors().at("invalid").as_array();
  ASSERT_GE(invalid.size(), 40u);
  for (const auto& v : invalid) {
    const std::string name = str(v.at("name"));
    const std::string expect = str(v.at("expect"));
    SCOPED_TRACE(name);
    const DecodeResult r = decode(str(v.at("token")));
    if (expect == "unsupported_alg") {
      EXPECT_FALSE(r.token.has_value());
      EXPECT_EQ(r.error, JwtError::UnsupportedAlg);
      continue;
    }
    ASSERT_EQ(expect, "bad_signature");
    ASSERT_TRUE(r.token.has_value()) << to_string(r.error);
    const std::string key_name = str(v.at("key"));
    const auto alg = alg_from_string(str(v.at("alg")));
    ASSERT_TRUE(alg.has_value());
    if (key_name == "hmac") {
      EXPECT_FALSE(pem_key(key_name, *alg).verify(*r.token));
      continue;
    }
    // Every public key form: PEM for the token's algorithm (when it fits) and the JWK.
    Key::Loaded pem = Key::from_pem(pem_of(key_name), *alg);
    if (pem.key) {
      EXPECT_FALSE(pem.key->verify(*r.token));
    }
    EXPECT_FALSE(jwk_key(key_name).verify(*r.token));
  }
}

TEST(JwtVectors, HmacKeyedWithRsaPublicKeyIsRefused) {
  std::string token;
  for (const auto& v : vectors().at("invalid").as_array()) {
    if (v.at("name").as_string() == "hs256_with_rsa_public_key") {
      token = str(v.at("token"));
    }
  }
  ASSERT_FALSE(token.empty());
  const DecodeResult r = decode(token);
  ASSERT_TRUE(r.token.has_value());
  EXPECT_EQ(r.token->alg, Alg::HS256);
  // The PEM cannot become an HMAC secret, and RSA keys never verify HS tokens.
  const Key::Loaded as_hmac = Key::from_pem(pem_of("rsa2048"), Alg::HS256);
  EXPECT_FALSE(as_hmac.key.has_value());
  EXPECT_NE(as_hmac.error.find("shared secret"), std::string::npos) << as_hmac.error;
  for (const Alg a : {Alg::RS256, Alg::PS256}) {
    const Key rsa = pem_key("rsa2048", a);
    EXPECT_FALSE(rsa.allows(Alg::HS256));
    EXPECT_FALSE(rsa.verify(*r.token));
  }
  const Key rsa_jwk = jwk_key("rsa2048");
  EXPECT_FALSE(rsa_jwk.allows(Alg::HS256));
  EXPECT_FALSE(rsa_jwk.verify(*r.token));
  // The vector is a real attack: a server using the PEM text as HMAC secret would accept it.
  EXPECT_TRUE(Key::hmac(Secret(pem_of("rsa2048")), Alg::HS256).verify(*r.token));
}

TEST(JwtVectors, AlgorithmNotAllowedByKey) {
  const DecodeResult rs256 = decode(valid_token("RS256"));
  const DecodeResult es256 = decode(valid_token("ES256"));
  const DecodeResult ps256 = decode(valid_token("PS256"));
  const DecodeResult hs256 = decode(valid_token("HS256"));
  const DecodeResult eddsa = decode(valid_token("EdDSA"));
  ASSERT_TRUE(rs256.token && es256.token && ps256.token && hs256.token && eddsa.token);

  // RS256 token vs an EC key; EdDSA token vs an RSA key; HS token vs public keys.
  const Key p256 = pem_key("p256", Alg::ES256);
  EXPECT_FALSE(p256.allows(Alg::RS256));
  EXPECT_FALSE(p256.verify(*rs256.token));
  EXPECT_FALSE(pem_key("rsa2048", Alg::RS256).verify(*eddsa.token));
  EXPECT_FALSE(jwk_key("ed25519").verify(*hs256.token));
  EXPECT_FALSE(jwk_key("p256").verify(*hs256.token));

  // ES256 token vs a P-384 key: refused at load for ES256, and not allowed otherwise.
  const Key::Loaded p384_as_es256 = Key::from_pem(pem_of("p384"), Alg::ES256);
  EXPECT_FALSE(p384_as_es256.key.has_value());
  EXPECT_NE(p384_as_es256.error.find("P-256"), std::string::npos) << p384_as_es256.error;
  const Key p384 = pem_key("p384", Alg::ES384);
  EXPECT_FALSE(p384.allows(Alg::ES256));
  EXPECT_FALSE(p384.verify(*es256.token));
  const Key p384_jwk = jwk_key("p384");
  EXPECT_TRUE(p384_jwk.allows(Alg::ES384));
  EXPECT_FALSE(p384_jwk.allows(Alg::ES256));
  EXPECT_FALSE(p384_jwk.allows(Alg::ES512));
  EXPECT_FALSE(p384_jwk.verify(*es256.token));

  // A PEM key is pinned to its configured algorithm; a JWK without "alg" takes its family.
  const Key rs_only = pem_key("rsa2048", Alg::RS256);
  EXPECT_FALSE(rs_only.allows(Alg::PS256));
  EXPECT_FALSE(rs_only.verify(*ps256.token));
  const Key rsa_jwk = jwk_key("rsa2048");
  EXPECT_TRUE(rsa_jwk.verify(*ps256.token));
  EXPECT_TRUE(rsa_jwk.verify(*rs256.token));
  EXPECT_FALSE(rsa_jwk.allows(Alg::ES256));
  EXPECT_FALSE(rsa_jwk.allows(Alg::EdDSA));

  // HMAC keys: pinned to their HS algorithm, never an asymmetric one.
  const Key hs = pem_key("hmac", Alg::HS384);
  EXPECT_FALSE(hs.allows(Alg::HS256));
  EXPECT_FALSE(hs.verify(*hs256.token));
  for (const Alg a : {Alg::RS256, Alg::PS256, Alg::ES256, Alg::EdDSA}) {
    EXPECT_FALSE(Key::hmac(Secret(kSecret), a).allows(a));
  }
  EXPECT_FALSE(Key::hmac(Secret(), Alg::HS256)
                   .verify(*decode(hs256_token(R"({"alg":"HS256"})", "{}", "")).token));
}

TEST(JwtVectors, KeysAreCheapCopiesAndThreadSafe) {
  const Key es = jwk_key("p256");
  const Key hs = pem_key("hmac", Alg::HS256);
  const DecodedToken es_token = *decode(valid_token("ES256")).token;
  const DecodedToken hs_token = *decode(valid_token("HS256")).token;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, es_copy = es, hs_copy = hs] {
      for (int n = 0; n < 50; ++n) {
        if (!es_copy.verify(es_token) || !hs_copy.verify(hs_token)) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Decoding

TEST(JwtDecode, CraftedTokenVerifies) {
  const std::string token = hs256_payload(R"({"sub":"bob","n":[1,2.5,true,null,{"k":"v"}]})");
  const DecodeResult r = decode(token);
  ASSERT_TRUE(r.token.has_value());
  EXPECT_EQ(r.token->signing_input, token.substr(0, token.rfind('.')));
  EXPECT_EQ(r.token->signature.size(), 32u);
  EXPECT_EQ(r.token->header.at("typ").as_string(), "JWT");
  EXPECT_EQ(r.token->claims.at("n").as_array().size(), 5u);
  EXPECT_TRUE(r.token->kid.empty());
  EXPECT_TRUE(hs256_key().verify(*r.token));
}

TEST(JwtDecode, WrongNumberOfParts) {
  const std::string token = hs256_payload(R"({"sub":"bob"})");
  const std::size_t dot2 = token.rfind('.');
  EXPECT_EQ(decode_error(""), JwtError::Malformed);
  EXPECT_EQ(decode_error("."), JwtError::Malformed);
  EXPECT_EQ(decode_error(token.substr(0, token.find('.'))), JwtError::Malformed);  // 1 part
  EXPECT_EQ(decode_error(token.substr(0, dot2)), JwtError::Malformed);             // 2 parts
  EXPECT_EQ(decode_error(token + ".abc"), JwtError::Malformed);                    // 4 parts
  EXPECT_EQ(decode_error(token + "."), JwtError::Malformed);
  EXPECT_EQ(decode_error("." + token), JwtError::Malformed);
}

TEST(JwtDecode, TruncatedTokenNeverVerifies) {
  const std::string token = hs256_payload(R"({"sub":"bob"})");
  for (std::size_t len = 0; len < token.size(); ++len) {
    EXPECT_FALSE(decodes_and_verifies(token.substr(0, len), hs256_key())) << len;
  }
  // Cut inside the header: not even decodable.
  EXPECT_EQ(decode_error(token.substr(0, 10)), JwtError::Malformed);
}

TEST(JwtDecode, OnlyUnpaddedUrlAlphabet) {
  const std::string token = hs256_payload(R"({"sub":"bob"})");
  ASSERT_TRUE(decode(token).token.has_value());
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.rfind('.');
  // Padding on any part ('{"alg":"HS256","typ":"JWT"}' is 27 bytes: no padding needed, so
  // pad the 32-byte signature, which would take one '=').
  EXPECT_EQ(decode_error(token + "="), JwtError::Malformed);
  EXPECT_EQ(decode_error(token.substr(0, dot1) + "=" + token.substr(dot1)), JwtError::Malformed);
  // Standard-alphabet characters and whitespace anywhere.
  for (const char bad : {'+', '/', ' ', '\n', '\t', '\0', '*', '\xc3'}) {
    for (const std::size_t pos : {std::size_t{3}, dot1 + 2, dot2 + 5}) {
      std::string t = token;
      t[pos] = bad;
      EXPECT_EQ(decode_error(t), JwtError::Malformed) << int(bad) << " at " << pos;
    }
    std::string t = token;
    t.insert(dot2 + 1, 1, bad);
    EXPECT_EQ(decode_error(t), JwtError::Malformed) << int(bad);
  }
  // Non-canonical trailing bits: a 32-byte signature is 43 characters whose last one carries
  // two unused bits; setting one of them must not decode to the same signature.
  std::string t = token;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const std::size_t idx = alphabet.find(t.back());
  ASSERT_EQ(idx & 3u, 0u);
  t.back() = alphabet[idx | 1u];
  EXPECT_EQ(decode_error(t), JwtError::Malformed);
  // A part of length 4k+1 cannot be base64 (the signature has 43 characters).
  EXPECT_EQ(decode_error(token + "AA"), JwtError::Malformed);
}

TEST(JwtDecode, SizeLimit) {
  // A token just under the limit decodes; one byte over does not.
  const std::string base = hs256_payload(R"({"pad":""})");
  std::string pad(kMaxTokenBytes, 'x');
  std::string token;
  for (std::size_t n = (kMaxTokenBytes - base.size()) * 3 / 4; n > 0; --n) {
    token = hs256_payload(R"({"pad":")" + pad.substr(0, n) + R"("})");
    if (token.size() <= kMaxTokenBytes) {
      break;
    }
  }
  ASSERT_LE(token.size(), kMaxTokenBytes);
  ASSERT_GT(token.size(), kMaxTokenBytes - 8);
  EXPECT_TRUE(decodes_and_verifies(token, hs256_key()));
  const std::string over = hs256_payload(R"({"pad":")" + pad + R"("})");
  ASSERT_GT(over.size(), kMaxTokenBytes);
  EXPECT_EQ(decode_error(over), JwtError::Malformed);
  EXPECT_EQ(decode_error(std::string(kMaxTokenBytes + 1, 'A')), JwtError::Malformed);
}

TEST(JwtDecode, DuplicateKeysAreMalformed) {
  EXPECT_EQ(decode_error(hs256_token(R"({"alg":"HS256","alg":"none"})", "{}")),
            JwtError::Malformed);
  EXPECT_EQ(decode_error(hs256_token(R"({"alg":"HS256","kid":"a","kid":"b"})", "{}")),
            JwtError::Malformed);
  EXPECT_EQ(decode_error(hs256_payload(R"({"sub":"alice","sub":"admin"})")), JwtError::Malformed);
  EXPECT_EQ(decode_error(hs256_payload(R"({"a":{"x":1,"y":2,"x":3}})")), JwtError::Malformed);
  EXPECT_EQ(decode_error(hs256_payload(R"({"a":[{"x":1,"x":1}]})")), JwtError::Malformed);
  // The same key spelled with an escape is the same key.
  EXPECT_EQ(decode_error(hs256_payload(R"({"sub":"alice","s\u0075b":"admin"})")),
            JwtError::Malformed);
  // The same name in different objects is fine.
  EXPECT_TRUE(decodes_and_verifies(
      hs256_payload(R"({"x":1,"a":{"x":2,"b":{"x":3}},"c":[{"x":4}]})"), hs256_key()));
}

std::string nested(int depth) {
  std::string s;
  for (int i = 1; i < depth; ++i) {
    s += R"({"a":)";
  }
  s += "{}";
  for (int i = 1; i < depth; ++i) {
    s += "}";
  }
  return s;
}

TEST(JwtDecode, DepthLimit) {
  EXPECT_TRUE(decodes_and_verifies(hs256_payload(nested(16)), hs256_key()));
  EXPECT_EQ(decode_error(hs256_payload(nested(17))), JwtError::Malformed);
  EXPECT_EQ(decode_error(hs256_payload(nested(40))), JwtError::Malformed);
  EXPECT_EQ(
      decode_error(hs256_payload(R"({"a":)" + std::string(40, '[') + std::string(40, ']') + "}")),
      JwtError::Malformed);
  EXPECT_EQ(decode_error(hs256_token(nested(40), "{}")), JwtError::Malformed);
}

TEST(JwtDecode, PayloadAndHeaderMustBeObjects) {
  for (const char* payload : {"[1,2]", R"("str")", "123", "null", "true", "", " ", "{", "{}x",
                              "{} {}", R"({"a":1,})", "{/*c*/}", "{\"a\":\"\xff\"}"}) {
    EXPECT_EQ(decode_error(hs256_payload(payload)), JwtError::Malformed) << payload;
  }
  for (const char* header : {R"(["HS256"])", R"("HS256")", "", "{"}) {
    EXPECT_EQ(decode_error(hs256_token(header, "{}")), JwtError::Malformed) << header;
  }
  // Surrounding whitespace is still one JSON object.
  EXPECT_TRUE(decodes_and_verifies(hs256_payload(" {\"a\":1}\n"), hs256_key()));
}

TEST(JwtDecode, HeaderMembers) {
  // kid must be a string.
  for (const char* kid : {"5", "null", "true", R"(["a"])", R"({"a":1})"}) {
    EXPECT_EQ(decode_error(hs256_token(std::string(R"({"alg":"HS256","kid":)") + kid + "}", "{}")),
              JwtError::Malformed)
        << kid;
  }
  const DecodeResult with_kid = decode(hs256_token(R"({"alg":"HS256","kid":"k-1"})", "{}"));
  ASSERT_TRUE(with_kid.token.has_value());
  EXPECT_EQ(with_kid.token->kid, "k-1");
  // alg: missing, not a string, unknown, wrong case, "none".
  for (const char* header : {"{}", R"({"typ":"JWT"})", R"({"alg":256})", R"({"alg":null})",
                             R"({"alg":["HS256"]})", R"({"alg":"hs256"})", R"({"alg":"none"})",
                             R"({"alg":"None"})", R"({"alg":"HS256 "})", R"({"alg":"ES256K"})"}) {
    EXPECT_EQ(decode_error(hs256_token(header, "{}")), JwtError::UnsupportedAlg) << header;
  }
  // crit, whatever its value.
  for (const char* header : {R"({"alg":"HS256","crit":["exp"],"exp":1})",
                             R"({"alg":"HS256","crit":[]})", R"({"alg":"HS256","crit":null})"}) {
    EXPECT_EQ(decode_error(hs256_token(header, "{}")), JwtError::UnsupportedAlg) << header;
  }
}

TEST(JwtDecode, EmptyOrWrongLengthSignatureFails) {
  const std::string token = hs256_payload(R"({"sub":"bob"})");
  const std::string input = token.substr(0, token.rfind('.') + 1);
  const DecodeResult empty = decode(input);
  ASSERT_TRUE(empty.token.has_value());
  EXPECT_TRUE(empty.token->signature.empty());
  EXPECT_FALSE(hs256_key().verify(*empty.token));
  EXPECT_FALSE(decodes_and_verifies(input + b64url(std::string(31, 'x')), hs256_key()));
  EXPECT_FALSE(decodes_and_verifies(valid_token("ES256") + "AAAA", jwk_key("p256")));
  EXPECT_FALSE(decodes_and_verifies(valid_token("EdDSA") + "AAAA", jwk_key("ed25519")));
  EXPECT_FALSE(decodes_and_verifies(valid_token("RS256") + "AAAA", jwk_key("rsa2048")));
  // ES: r||s of 64 zero bytes is not a signature.
  const std::string es = valid_token("ES256");
  EXPECT_FALSE(decodes_and_verifies(es.substr(0, es.rfind('.') + 1) + b64url(std::string(64, '\0')),
                                    jwk_key("p256")));
}

// ---------------------------------------------------------------------------------------------
// JWK and JWKS

boost::json::object jwk_with(const std::string& key_name, std::string_view member,
                             boost::json::value v) {
  boost::json::object jwk = jwk_of(key_name);
  jwk[member] = std::move(v);
  return jwk;
}

std::string reencode_trimmed(const boost::json::value& v, std::size_t drop) {
  const std::string raw = b64url_decode(v.as_string().c_str());
  return b64url(std::string_view(raw).substr(drop));
}

TEST(Jwk, GoodSetSkipsEncryptionAndSymmetricKeys) {
  boost::json::array keys;
  for (const char* name : {"rsa2048", "rsa4096", "p256", "p384", "p521", "ed25519"}) {
    keys.push_back(jwk_of(name));
  }
  boost::json::object enc = jwk_of("rsa2048");
  enc["use"] = "enc";
  enc["kid"] = "enc-key";
  enc.erase("key_ops");
  keys.push_back(enc);
  keys.push_back(boost::json::object{{"kty", "oct"}, {"kid", "shared"}, {"k", "c2VjcmV0"}});
  keys.push_back(boost::json::object{{"kty", "OKP"}, {"crv", "X25519"}, {"x", "AAAA"}});
  const std::string body = boost::json::serialize(boost::json::object{{"keys", keys}});

  const JwksResult set = parse_jwks(body);
  EXPECT_TRUE(set.error.empty()) << set.error;
  ASSERT_EQ(set.keys.size(), 6u);
  ASSERT_EQ(set.skipped.size(), 3u);
  EXPECT_NE(set.skipped[0].find("enc-key"), std::string::npos) << set.skipped[0];
  EXPECT_NE(set.skipped[0].find("sig"), std::string::npos) << set.skipped[0];
  EXPECT_NE(set.skipped[1].find("oct"), std::string::npos) << set.skipped[1];
  EXPECT_NE(set.skipped[2].find("X25519"), std::string::npos) << set.skipped[2];

  // Every asymmetric vector verifies with the key of its kid from the set.
  for (const auto& v : vectors().at("valid").as_array()) {
    if (v.at("key").as_string() == "hmac") {
      continue;
    }
    const DecodeResult r = decode(str(v.at("token")));
    ASSERT_TRUE(r.token.has_value());
    int verified = 0;
    for (const Key& k : set.keys) {
      if (k.kid() == r.token->kid && k.allows(r.token->alg)) {
        verified += k.verify(*r.token) ? 1 : 0;
      }
    }
    EXPECT_EQ(verified, 1) << str(v.at("alg"));
  }
}

TEST(Jwk, MalformedSets) {
  for (const char* body :
       {"", "not json", "[]", R"("keys")", "{}", R"({"keys":{}})", R"({"keys":"x"})",
        R"({"keys":null})", R"({"keys":[],"keys":[]})", R"({"keys":[]} trailing)"}) {
    const JwksResult r = parse_jwks(body);
    EXPECT_FALSE(r.error.empty()) << body;
    EXPECT_TRUE(r.keys.empty()) << body;
  }
  const JwksResult empty = parse_jwks(R"({"keys":[]})");
  EXPECT_TRUE(empty.error.empty());
  EXPECT_TRUE(empty.keys.empty());
  const JwksResult junk = parse_jwks(R"({"keys":[1,"x",null,[],{}]})");
  EXPECT_TRUE(junk.error.empty());
  EXPECT_TRUE(junk.keys.empty());
  EXPECT_EQ(junk.skipped.size(), 5u);
}

TEST(Jwk, BadMembersAreRefused) {
  const auto refused = [](const boost::json::object& jwk, std::string_view why) {
    const Key::Loaded l = Key::from_jwk(jwk);
    EXPECT_FALSE(l.key.has_value()) << boost::json::serialize(jwk);
    EXPECT_NE(l.error.find(why), std::string::npos) << l.error;
  };
  const std::string n = str(jwk_of("rsa2048").at("n"));
  const std::string x256 = str(jwk_of("p256").at("x"));
  refused(jwk_with("rsa2048", "n", boost::json::value(n + "=")), "base64url");
  refused(jwk_with("rsa2048", "n", boost::json::value("+" + n.substr(1))), "base64url");
  refused(jwk_with("rsa2048", "n", boost::json::value(n.substr(0, 10) + " " + n.substr(10))),
          "base64url");
  refused(jwk_with("rsa2048", "n", boost::json::value(5)), "\"n\"");
  refused(jwk_with("rsa2048", "e", boost::json::value("")), "\"e\"");
  refused(jwk_with("p256", "x", boost::json::value(x256 + "=")), "base64url");
  // Coordinates of the wrong length, or of another curve.
  refused(jwk_with("p256", "x", boost::json::value(reencode_trimmed(jwk_of("p256").at("x"), 1))),
          "32 bytes");
  refused(jwk_with("p256", "x", jwk_of("p384").at("x")), "32 bytes");
  boost::json::object mixed = jwk_of("p256");
  mixed["x"] = jwk_of("p384").at("x");
  mixed["y"] = jwk_of("p384").at("y");
  refused(mixed, "32 bytes");
  refused(jwk_with("p384", "crv", boost::json::value("P-256")), "32 bytes");
  // A point off the curve.
  std::string y = b64url_decode(str(jwk_of("p256").at("y")));
  y[5] = static_cast<char>(y[5] ^ 0x40);
  refused(jwk_with("p256", "y", boost::json::value(b64url(y))), "not on curve");
  refused(jwk_with("p256", "crv", boost::json::value("secp256k1")), "curve");
  refused(
      jwk_with("ed25519", "x", boost::json::value(reencode_trimmed(jwk_of("ed25519").at("x"), 1))),
      "32 bytes");
  refused(jwk_with("ed25519", "crv", boost::json::value("Ed448")), "curve");
  // Type, use, key_ops, alg pins that do not fit.
  refused(jwk_with("rsa2048", "kty", boost::json::value("oct")), "kty");
  refused(jwk_with("rsa2048", "kty", boost::json::value(1)), "strings");
  refused(jwk_with("rsa2048", "use", boost::json::value("enc")), "sig");
  refused(jwk_with("rsa2048", "key_ops", boost::json::array{"encrypt"}), "key_ops");
  refused(jwk_with("rsa2048", "alg", boost::json::value("none")), "alg");
  refused(jwk_with("rsa2048", "alg", boost::json::value("HS256")), "HS256");
  refused(jwk_with("rsa2048", "alg", boost::json::value("ES256")), "ES256");
  refused(jwk_with("p256", "alg", boost::json::value("ES384")), "P-384");
  refused(jwk_with("ed25519", "alg", boost::json::value("ES256")), "ES256");
  refused(jwk_of("rsa1024"), "2048");
  boost::json::object no_kty = jwk_of("p256");
  no_kty.erase("kty");
  refused(no_kty, "kty");
}

TEST(Jwk, AlgMemberPinsTheAlgorithm) {
  const Key::Loaded pinned = Key::from_jwk(jwk_with("rsa2048", "alg", boost::json::value("PS256")));
  ASSERT_TRUE(pinned.key.has_value()) << pinned.error;
  EXPECT_TRUE(pinned.key->allows(Alg::PS256));
  EXPECT_FALSE(pinned.key->allows(Alg::RS256));
  EXPECT_TRUE(decodes_and_verifies(valid_token("PS256"), *pinned.key));
  EXPECT_FALSE(decodes_and_verifies(valid_token("RS256"), *pinned.key));
  const Key::Loaded es = Key::from_jwk(jwk_with("p521", "alg", boost::json::value("ES512")));
  ASSERT_TRUE(es.key.has_value()) << es.error;
  EXPECT_TRUE(decodes_and_verifies(valid_token("ES512"), *es.key));
}

// ---------------------------------------------------------------------------------------------
// PEM

class PemFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("yg-jwt-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(PemFile, LoadsAndVerifies) {
  const Key::Loaded l = Key::from_pem_file(write("ec.pem", pem_of("p256")), Alg::ES256, "kid-1");
  ASSERT_TRUE(l.key.has_value()) << l.error;
  EXPECT_EQ(l.key->kid(), "kid-1");
  EXPECT_TRUE(decodes_and_verifies(valid_token("ES256"), *l.key));
}

TEST_F(PemFile, LoadErrors) {
  const Key::Loaded missing = Key::from_pem_file((dir_ / "missing.pem").string(), Alg::RS256);
  EXPECT_FALSE(missing.key.has_value());
  EXPECT_NE(missing.error.find("cannot read"), std::string::npos) << missing.error;
  EXPECT_NE(missing.error.find("missing.pem"), std::string::npos) << missing.error;

  for (const std::string& garbage : {std::string(), std::string("hello"),
                                     std::string("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                                 "-----END PUBLIC KEY-----\n"),
                                     std::string(1000, '\0')}) {
    const Key::Loaded l = Key::from_pem_file(write("garbage.pem", garbage), Alg::RS256);
    EXPECT_FALSE(l.key.has_value());
    EXPECT_NE(l.error.find("garbage.pem"), std::string::npos) << l.error;
  }

  // Key type that does not fit the algorithm.
  const std::string ec = write("ec.pem", pem_of("p256"));
  const std::string rsa = write("rsa.pem", pem_of("rsa2048"));
  const std::string ed = write("ed.pem", pem_of("ed25519"));
  for (const auto& [path, alg] : std::vector<std::pair<std::string, Alg>>{{ec, Alg::RS256},
                                                                          {ec, Alg::ES384},
                                                                          {ec, Alg::EdDSA},
                                                                          {ec, Alg::HS256},
                                                                          {rsa, Alg::ES256},
                                                                          {rsa, Alg::EdDSA},
                                                                          {rsa, Alg::HS512},
                                                                          {ed, Alg::ES256},
                                                                          {ed, Alg::PS256}}) {
    const Key::Loaded l = Key::from_pem_file(path, alg);
    EXPECT_FALSE(l.key.has_value()) << path << " " << to_string(alg);
    EXPECT_FALSE(l.error.empty());
  }
  // Small RSA keys are refused.
  const Key::Loaded small = Key::from_pem_file(write("small.pem", pem_of("rsa1024")), Alg::RS256);
  EXPECT_FALSE(small.key.has_value());
  EXPECT_NE(small.error.find("2048"), std::string::npos) << small.error;
  // A private key is not what the configuration should hold.
  const Key::Loaded priv = Key::from_pem(
      "-----BEGIN PRIVATE "
      "KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n"
      "-----END PRIVATE KEY-----\n",
      Alg::EdDSA);
  EXPECT_FALSE(priv.key.has_value());
  EXPECT_NE(priv.error.find("private"), std::string::npos) << priv.error;
}

}  // namespace
}  // namespace yg::auth
