#pragma once
// JSON Web Tokens (RFC 7519, JWS compact serialization RFC 7515, algorithms RFC 7518 + RFC 8037)
// verified with OpenSSL 3 (FEATURES.md AUTH-2, AUTH-3).
//
// Decoding is strict: three base64url parts without padding and only the URL-safe alphabet,
// header and payload JSON objects without duplicate keys and at most 16 levels deep, a size
// limit, "alg" one of the algorithms below ("none" and anything else are refused), no "crit".
// Verification picks nothing from the token that the configuration did not allow: the caller
// passes the algorithms it accepts, and a key verifies only the algorithm family of its type
// (an RSA key never acts as an HMAC secret).

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.h"

namespace yg::auth {

enum class Alg : uint8_t {
  HS256,
  HS384,
  HS512,
  RS256,
  RS384,
  RS512,
  PS256,
  PS384,
  PS512,
  ES256,
  ES384,
  ES512,
  EdDSA,
};
std::optional<Alg> alg_from_string(std::string_view s) noexcept;  // exact: "HS256", "EdDSA"
std::string_view to_string(Alg a) noexcept;

// Why a token was refused. Every one of these is a 401 with error="invalid_token".
enum class JwtError : uint8_t {
  Malformed,       // not three base64url parts, bad JSON, duplicate keys, too large/deep
  UnsupportedAlg,  // "none", unknown, or "crit" present
  AlgNotAllowed,   // a known algorithm the configuration does not accept
  UnknownKid,      // no key with the token's kid (or no key for its algorithm)
  BadSignature,
  Expired,       // exp + leeway <= now
  NotYetValid,   // nbf - leeway > now, or iat in the future beyond leeway
  BadClaimType,  // exp/nbf/iat not numbers, iss not a string, aud not string/array
  BadIssuer,
  BadAudience,
};
std::string_view to_string(JwtError e) noexcept;  // "expired", "bad_signature", ...

inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;

struct DecodedToken {
  Alg alg = Alg::HS256;
  std::string kid;  // empty when the header has none
  boost::json::object header;
  boost::json::object claims;  // the payload
  std::string signing_input;   // "<header b64>.<payload b64>"
  std::string signature;       // raw bytes (base64url-decoded)
};

struct DecodeResult {
  std::optional<DecodedToken> token;
  JwtError error = JwtError::Malformed;  // meaningful when !token
};
DecodeResult decode(std::string_view compact);

// A verification key: an HMAC secret (HS*) or a public key (RSA for RS*/PS*, EC P-256/384/521
// for ES256/384/512, Ed25519 for EdDSA). Cheap to copy (shares the OpenSSL key).
class Key {
 public:
  struct Loaded;  // result type of the factories below

  // HS256/384/512 secret. `alg` must be an HS algorithm.
  static Key hmac(const Secret& secret, Alg alg, std::string kid = {});
  // PEM public key (SubjectPublicKeyInfo, or "BEGIN RSA PUBLIC KEY"); its type must fit `alg`.
  static Loaded from_pem(std::string_view pem, Alg alg, std::string kid = {});
  static Loaded from_pem_file(const std::string& path, Alg alg, std::string kid = {});
  // One JWK (RFC 7517): kty RSA (n, e), EC (crv P-256/P-384/P-521, x, y), OKP (crv Ed25519,
  // x). Its "alg", when present, pins the algorithm; else any algorithm of the key's family.
  static Loaded from_jwk(const boost::json::object& jwk);

  const std::string& kid() const noexcept { return kid_; }
  // Whether this key may verify a token signed with `a` (type family and pinned algorithm).
  bool allows(Alg a) const noexcept;
  // Signature check of `t` with this key (HMAC compared in constant time; ES signatures are
  // raw r||s of the curve's size; PS uses PSS with MGF1 and salt = digest length).
  bool verify(const DecodedToken& t) const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
  std::string kid_;
};

struct Key::Loaded {
  std::optional<Key> key;
  std::string error;  // why loading failed ("not an EC P-256 key", "cannot read ...: ...")
};

// A JWK Set (RFC 7517 section 5). Keys that are not signature keys (use != "sig") or of an
// unsupported type/curve are skipped, not fatal; a body that is not a JSON object with a "keys"
// array is an error.
struct JwksResult {
  std::vector<Key> keys;
  std::vector<std::string> skipped;  // one reason per skipped key
  std::string error;                 // set when the whole set is unusable
};
JwksResult parse_jwks(std::string_view body);

}  // namespace yg::auth
