// libFuzzer target: compact JWS -> decode -> verify with a fixed HS256 and a fixed Ed25519 key;
// the same bytes also go to parse_jwks. Traps when a decoded token breaks decode()'s promises
// (signing input a prefix of the input, size limit) or when a key verifies an algorithm
// outside its family. Seeds: tests/fuzz/corpus/fuzz_jwt/.

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "auth/jwt.h"

namespace {

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

const yg::auth::Key& hs256_key() {
  static const yg::auth::Key key =
      yg::auth::Key::hmac(yg::Secret("fuzzing secret, 32 bytes or more!"), yg::auth::Alg::HS256);
  return key;
}

// The Ed25519 public key of RFC 8037 appendix A.2.
const yg::auth::Key& ed25519_key() {
  static const yg::auth::Key key = [] {
    const boost::json::object jwk{
        {"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
    auto loaded = yg::auth::Key::from_jwk(jwk);
    check(loaded.key.has_value());
    return *loaded.key;
  }();
  return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const yg::auth::DecodeResult r = yg::auth::decode(input);
  if (r.token) {
    const yg::auth::DecodedToken& t = *r.token;
    check(size <= yg::auth::kMaxTokenBytes);
    check(input.substr(0, t.signing_input.size()) == t.signing_input);
    check(input.size() > t.signing_input.size() && input[t.signing_input.size()] == '.');
    check(t.signature.size() <= input.size());
    const bool hs = hs256_key().verify(t);
    const bool ed = ed25519_key().verify(t);
    check(!hs || t.alg == yg::auth::Alg::HS256);
    check(!ed || t.alg == yg::auth::Alg::EdDSA);
  }
  const yg::auth::JwksResult jwks = yg::auth::parse_jwks(input);
  check(jwks.error.empty() || jwks.keys.empty());
  return 0;
}
