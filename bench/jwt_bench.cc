// JWT costs on the request path: every authenticated request decodes one token and verifies
// its signature. Tokens are signed in-process with OpenSSL in each benchmark's setup.
#include <benchmark/benchmark.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/jwt.h"
#include "support/base64url.h"

namespace {

using namespace yg::auth;
using yg::test::b64url;

constexpr const char* kSecret = "benchmark secret of at least thirty-two bytes";

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "jwt_bench: %s failed\n", what);
  std::abort();
}

// A typical access-token payload plus `extra` custom claims.
std::string payload(int extra) {
  std::string p =
      R"({"iss":"https://idp.example.com/realms/main","sub":"3f1c9a2e-5b7d-4e8a-9c01-2d3e4f5a6b7c",)"
      R"("aud":["yatagarasu","account"],"iat":1700000000,"nbf":1700000000,"exp":4102444800,)"
      R"("scope":"openid profile s3:read")";
  for (int i = 0; i < extra; ++i) {
    p += ",\"claim_" + std::to_string(i) + "\":{\"role\":\"reader\",\"buckets\":[\"b" +
         std::to_string(i) + "\",\"shared\"],\"level\":" + std::to_string(i) + "}";
  }
  return p + "}";
}

std::string signing_input(std::string_view alg, int extra) {
  return b64url(R"({"alg":")" + std::string(alg) + R"(","typ":"JWT","kid":"bench"})") + "." +
         b64url(payload(extra));
}

std::string hs256_token(int extra) {
  const std::string input = signing_input("HS256", extra);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), kSecret, static_cast<int>(std::string_view(kSecret).size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
           &len) == nullptr) {
    die("HMAC");
  }
  return input + "." + b64url(std::string_view(reinterpret_cast<const char*>(mac), len));
}

struct Signed {
  std::string token;
  std::string public_pem;
};

// Signs with a fresh key of `type`; ES signatures are converted from DER to raw r||s.
Signed sign_with_new_key(EVP_PKEY* pkey, std::string_view alg, const EVP_MD* md,
                         std::size_t ec_coord) {
  const std::string input = signing_input(alg, 0);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  if (ctx == nullptr || EVP_DigestSignInit(ctx, nullptr, md, nullptr, pkey) != 1 ||
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    die("EVP_DigestSignInit");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    die("EVP_DigestSign");
  }
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  if (ec_coord != 0) {
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    if (es == nullptr) {
      die("d2i_ECDSA_SIG");
    }
    std::string raw(2 * ec_coord, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    BN_bn2binpad(ECDSA_SIG_get0_r(es), out, static_cast<int>(ec_coord));
    BN_bn2binpad(ECDSA_SIG_get0_s(es), out + ec_coord, static_cast<int>(ec_coord));
    ECDSA_SIG_free(es);
    sig = raw;
  }
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
    die("PEM_write_bio_PUBKEY");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  Signed s{input + "." + b64url(sig), std::string(data, static_cast<std::size_t>(n))};
  BIO_free(bio);
  return s;
}

void run(benchmark::State& state, const std::string& token, const Key& key) {
  {
    const DecodeResult r = decode(token);
    if (!r.token || !key.verify(*r.token)) {
      state.SkipWithError("setup token does not verify");
      return;
    }
  }
  for (auto _ : state) {
    const DecodeResult r = decode(token);
    const bool ok = r.token && key.verify(*r.token);
    benchmark::DoNotOptimize(ok);
  }
  state.counters["token_bytes"] = static_cast<double>(token.size());
}

// Decode + verify HS256 with 0, 5 and 10 extra (object-valued) claims.
void BM_DecodeVerifyHS256(benchmark::State& state) {
  const std::string token = hs256_token(static_cast<int>(state.range(0)));
  run(state, token, Key::hmac(yg::Secret(kSecret), Alg::HS256));
}
BENCHMARK(BM_DecodeVerifyHS256)->Arg(0)->Arg(5)->Arg(10);

// Decode only, to separate JSON and base64 from the signature check.
void BM_DecodeOnly(benchmark::State& state) {
  const std::string token = hs256_token(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(decode(token));
  }
}
BENCHMARK(BM_DecodeOnly)->Arg(0)->Arg(10);

Key pem_key(const std::string& pem, Alg alg) {
  Key::Loaded l = Key::from_pem(pem, alg);
  if (!l.key) {
    std::fprintf(stderr, "jwt_bench: %s\n", l.error.c_str());
    std::abort();
  }
  return *l.key;
}

void BM_DecodeVerifyRS256(benchmark::State& state) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048));
  if (pkey == nullptr) {
    die("RSA keygen");
  }
  const Signed s = sign_with_new_key(pkey, "RS256", EVP_sha256(), 0);
  EVP_PKEY_free(pkey);
  run(state, s.token, pem_key(s.public_pem, Alg::RS256));
}
BENCHMARK(BM_DecodeVerifyRS256);

void BM_DecodeVerifyES256(benchmark::State& state) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (pkey == nullptr) {
    die("EC keygen");
  }
  const Signed s = sign_with_new_key(pkey, "ES256", EVP_sha256(), 32);
  EVP_PKEY_free(pkey);
  run(state, s.token, pem_key(s.public_pem, Alg::ES256));
}
BENCHMARK(BM_DecodeVerifyES256);

void BM_DecodeVerifyEdDSA(benchmark::State& state) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (pkey == nullptr) {
    die("Ed25519 keygen");
  }
  const Signed s = sign_with_new_key(pkey, "EdDSA", nullptr, 0);
  EVP_PKEY_free(pkey);
  run(state, s.token, pem_key(s.public_pem, Alg::EdDSA));
}
BENCHMARK(BM_DecodeVerifyEdDSA);

}  // namespace
