#include "auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace yg::auth {
namespace {

// ---------------------------------------------------------------------------------------------
// Algorithms

struct AlgInfo {
  Alg alg;
  std::string_view name;
};
constexpr std::array<AlgInfo, 13> kAlgs{{
    {Alg::HS256, "HS256"},
    {Alg::HS384, "HS384"},
    {Alg::HS512, "HS512"},
    {Alg::RS256, "RS256"},
    {Alg::RS384, "RS384"},
    {Alg::RS512, "RS512"},
    {Alg::PS256, "PS256"},
    {Alg::PS384, "PS384"},
    {Alg::PS512, "PS512"},
    {Alg::ES256, "ES256"},
    {Alg::ES384, "ES384"},
    {Alg::ES512, "ES512"},
    {Alg::EdDSA, "EdDSA"},
}};

enum class Family : uint8_t { Hmac, Rsa, Ec, Ed25519 };

Family family_of(Alg a) noexcept {
  switch (a) {
    case Alg::HS256:
    case Alg::HS384:
    case Alg::HS512:
      return Family::Hmac;
    case Alg::RS256:
    case Alg::RS384:
    case Alg::RS512:
    case Alg::PS256:
    case Alg::PS384:
    case Alg::PS512:
      return Family::Rsa;
    case Alg::ES256:
    case Alg::ES384:
    case Alg::ES512:
      return Family::Ec;
    case Alg::EdDSA:
      return Family::Ed25519;
  }
  return Family::Hmac;
}

bool is_pss(Alg a) noexcept {
  return a == Alg::PS256 || a == Alg::PS384 || a == Alg::PS512;
}

// 0: SHA-256, 1: SHA-384, 2: SHA-512 (EdDSA has none; it hashes internally).
int digest_index(Alg a) noexcept {
  switch (a) {
    case Alg::HS256:
    case Alg::RS256:
    case Alg::PS256:
    case Alg::ES256:
      return 0;
    case Alg::HS384:
    case Alg::RS384:
    case Alg::PS384:
    case Alg::ES384:
      return 1;
    case Alg::HS512:
    case Alg::RS512:
    case Alg::PS512:
    case Alg::ES512:
      return 2;
    case Alg::EdDSA:
      return -1;
  }
  return -1;
}

constexpr std::array<const char*, 3> kDigestNames{"SHA256", "SHA384", "SHA512"};

// Digests are fetched once: the implicit fetch behind EVP_sha256() costs a lookup per call.
// A missing SHA-2 means a broken OpenSSL installation; verification then simply fails.
const EVP_MD* digest(int index) {
  static const std::array<EVP_MD*, 3> mds = [] {
    std::array<EVP_MD*, 3> m{};
    for (std::size_t i = 0; i < m.size(); ++i) {
      m[i] = EVP_MD_fetch(nullptr, kDigestNames[i], nullptr);
    }
    return m;
  }();
  return index < 0 ? nullptr : mds[static_cast<std::size_t>(index)];
}

// Per-thread HMAC contexts, one per digest, re-keyed by every verification.
struct HmacContexts {
  std::array<EVP_MAC_CTX*, 3> ctx{};

  HmacContexts() {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr) {
      return;
    }
    for (std::size_t i = 0; i < ctx.size(); ++i) {
      ctx[i] = EVP_MAC_CTX_new(mac);
      char name[16];
      std::snprintf(name, sizeof(name), "%s", kDigestNames[i]);
      OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name, 0),
                             OSSL_PARAM_construct_end()};
      if (ctx[i] != nullptr && EVP_MAC_CTX_set_params(ctx[i], params) != 1) {
        EVP_MAC_CTX_free(ctx[i]);
        ctx[i] = nullptr;
      }
    }
    EVP_MAC_free(mac);  // the contexts hold their own references
  }
  ~HmacContexts() {
    for (EVP_MAC_CTX* c : ctx) {
      EVP_MAC_CTX_free(c);
    }
  }
  HmacContexts(const HmacContexts&) = delete;
  HmacContexts& operator=(const HmacContexts&) = delete;
};

EVP_MAC_CTX* hmac_context(int index) {
  thread_local HmacContexts contexts;
  return contexts.ctx[static_cast<std::size_t>(index)];
}

// ---------------------------------------------------------------------------------------------
// base64url (RFC 4648 section 5) without padding, canonical only.

constexpr std::array<int8_t, 256> make_b64url_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) {
    v = -1;
  }
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  }
  return t;
}
constexpr std::array<int8_t, 256> kB64url = make_b64url_table();

// Decodes `in` into `out`; false for any character outside the URL alphabet (padding,
// whitespace, '+', '/'), an impossible length, or non-zero bits after the last full byte.
bool b64url_decode(std::string_view in, std::string& out) {
  const std::size_t rem = in.size() % 4;
  if (rem == 1) {
    return false;
  }
  const std::size_t full = in.size() - rem;
  out.resize(full / 4 * 3 + (rem == 0 ? 0 : rem - 1));
  const auto* src = reinterpret_cast<const unsigned char*>(in.data());
  char* dst = out.data();
  int bad = 0;  // OR of all table entries: negative if any character was outside the alphabet
  for (std::size_t i = 0; i < full; i += 4) {
    const int a = kB64url[src[i]];
    const int b = kB64url[src[i + 1]];
    const int c = kB64url[src[i + 2]];
    const int d = kB64url[src[i + 3]];
    bad |= a | b | c | d;
    const uint32_t v = (static_cast<uint32_t>(a & 63) << 18) |
                       (static_cast<uint32_t>(b & 63) << 12) |
                       (static_cast<uint32_t>(c & 63) << 6) | static_cast<uint32_t>(d & 63);
    *dst++ = static_cast<char>(v >> 16);
    *dst++ = static_cast<char>((v >> 8) & 0xff);
    *dst++ = static_cast<char>(v & 0xff);
  }
  if (rem != 0) {
    const int a = kB64url[src[full]];
    const int b = kB64url[src[full + 1]];
    const int c = rem == 3 ? kB64url[src[full + 2]] : 0;
    bad |= a | b | c;
    if (bad < 0) {
      return false;
    }
    *dst++ = static_cast<char>((a << 2) | (b >> 4));
    if (rem == 2) {
      return (b & 0x0f) == 0;  // the 4 unused bits must be zero (canonical encoding)
    }
    *dst++ = static_cast<char>(((b & 0x0f) << 4) | (c >> 2));
    return (c & 0x03) == 0;  // the 2 unused bits must be zero
  }
  return bad >= 0;
}

// ---------------------------------------------------------------------------------------------
// Strict JSON: Boost.JSON's basic_parser feeding a value_stack, plus a duplicate-key check
// (Boost.JSON itself keeps the last of duplicate keys without a word).

class StrictHandler {
 public:
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  boost::json::value_stack st;
  bool duplicate = false;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t n, boost::system::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_object_begin(boost::system::error_code&) {
    starts_.push_back(keys_.size());
    return true;
  }
  bool on_object_end(std::size_t n, boost::system::error_code& ec) {
    const auto first = keys_.begin() + static_cast<std::ptrdiff_t>(starts_.back());
    if (has_duplicate(first, keys_.end())) {
      duplicate = true;
      ec = boost::json::error::syntax;
      return false;
    }
    keys_.erase(first, keys_.end());
    starts_.pop_back();
    st.push_object(n);
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    key_.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    key_.append(s.data(), s.size());
    keys_.push_back(std::move(key_));
    key_.clear();
    st.push_key(s);
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(int64_t i, boost::json::string_view, boost::system::error_code&) {
    st.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, boost::json::string_view, boost::system::error_code&) {
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, boost::json::string_view, boost::system::error_code&) {
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, boost::system::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(boost::system::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

 private:
  using Iter = std::vector<std::string>::iterator;
  static bool has_duplicate(Iter first, Iter last) {
    if (last - first <= 16) {  // the usual token: a few keys, no allocation
      for (Iter i = first; i != last; ++i) {
        if (std::find(i + 1, last, *i) != last) {
          return true;
        }
      }
      return false;
    }
    std::sort(first, last);
    return std::adjacent_find(first, last) != last;
  }

  std::vector<std::string> keys_;    // keys of all open objects, innermost last
  std::vector<std::size_t> starts_;  // where each open object's keys begin in keys_
  std::string key_;                  // the key being assembled from parts
};

// Parses `text` as one JSON document (no comments, no trailing commas, valid UTF-8, no
// duplicate keys, at most `max_depth` levels). nullopt when any of that fails.
std::optional<boost::json::value> parse_strict(std::string_view text, std::size_t max_depth) {
  boost::json::parse_options opt;
  opt.max_depth = max_depth;
  boost::json::basic_parser<StrictHandler> parser(opt);
  try {
    parser.handler().st.reset();
    boost::system::error_code ec;
    const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (ec || used != text.size() || !parser.done()) {
      return std::nullopt;
    }
    return parser.handler().st.release();
  } catch (const std::exception&) {  // allocation failure inside value_stack
    return std::nullopt;
  }
}

std::optional<boost::json::object> parse_object(std::string_view text) {
  auto v = parse_strict(text, 16);
  if (!v || !v->is_object()) {
    return std::nullopt;
  }
  return std::move(v->get_object());
}

// ---------------------------------------------------------------------------------------------
// OpenSSL helpers

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
struct DecoderCtxFree {
  void operator()(OSSL_DECODER_CTX* p) const noexcept { OSSL_DECODER_CTX_free(p); }
};

const unsigned char* bytes(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}

constexpr int kMinRsaBits = 2048;

// EC curves we verify with: OpenSSL group name, JWK "crv", coordinate size, algorithm.
struct Curve {
  std::string_view group;
  std::string_view crv;
  std::size_t coord;
  Alg alg;
};
constexpr std::array<Curve, 3> kCurves{{
    {"prime256v1", "P-256", 32, Alg::ES256},
    {"secp384r1", "P-384", 48, Alg::ES384},
    {"secp521r1", "P-521", 66, Alg::ES512},
}};

const Curve* curve_for_alg(Alg a) noexcept {
  for (const Curve& c : kCurves) {
    if (c.alg == a) {
      return &c;
    }
  }
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Key::Impl

struct Key::Impl {
  Family family = Family::Hmac;
  // The one algorithm this key verifies; nullopt: any algorithm of `family` (for EC: of the
  // curve, which `coord` names).
  std::optional<Alg> pinned;
  std::string secret;     // HMAC
  PkeyPtr pkey;           // RSA, EC, Ed25519
  std::size_t coord = 0;  // EC coordinate size in bytes (32, 48, 66)

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (!secret.empty()) {
      OPENSSL_cleanse(secret.data(), secret.size());
    }
  }
};

namespace {

// Shared checks once an EVP_PKEY is in hand: its type fits (`want`, when given, else the type
// decides), RSA is large enough, an EC curve is one of ours. Fills `impl`; error text on failure.
std::string adopt_pkey(PkeyPtr pkey, std::optional<Alg> want, Key::Impl& impl) {
  EVP_PKEY* p = pkey.get();
  if (EVP_PKEY_is_a(p, "RSA")) {
    if (want && family_of(*want) != Family::Rsa) {
      return "an RSA key cannot verify " + std::string(to_string(*want));
    }
    const int bits = EVP_PKEY_get_bits(p);
    if (bits < kMinRsaBits) {
      return "RSA key of " + std::to_string(bits) + " bits; at least 2048 are required";
    }
    impl.family = Family::Rsa;
  } else if (EVP_PKEY_is_a(p, "EC")) {
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) !=
        1) {
      return "EC key without a named curve";
    }
    const Curve* curve = nullptr;
    for (const Curve& c : kCurves) {
      if (c.group == std::string_view(group, len)) {
        curve = &c;
      }
    }
    if (curve == nullptr) {
      return "unsupported EC curve " + std::string(group, len);
    }
    if (want && *want != curve->alg) {
      const Curve* wanted = curve_for_alg(*want);
      return wanted != nullptr ? "not an EC " + std::string(wanted->crv) + " key"
                               : "an EC key cannot verify " + std::string(to_string(*want));
    }
    impl.family = Family::Ec;
    impl.coord = curve->coord;
  } else if (EVP_PKEY_is_a(p, "ED25519")) {
    if (want && *want != Alg::EdDSA) {
      return "an Ed25519 key cannot verify " + std::string(to_string(*want));
    }
    impl.family = Family::Ed25519;
  } else {
    return "unsupported key type " +
           std::string(EVP_PKEY_get0_type_name(p) != nullptr ? EVP_PKEY_get0_type_name(p) : "?");
  }
  impl.pkey = std::move(pkey);
  impl.pinned = want;
  return {};
}

Key::Loaded fail_load(std::string why) {
  ERR_clear_error();
  return Key::Loaded{std::nullopt, std::move(why)};
}

// JWK member helpers: a base64url member decoded, or an error.
bool jwk_bytes(const boost::json::object& jwk, std::string_view name, std::string& out,
               std::string& error) {
  const boost::json::value* v = jwk.if_contains(name);
  if (v == nullptr || !v->is_string()) {
    error = "JWK member \"" + std::string(name) + "\" missing or not a string";
    return false;
  }
  const boost::json::string& s = v->get_string();
  if (!b64url_decode(std::string_view(s.data(), s.size()), out) || out.empty()) {
    error = "JWK member \"" + std::string(name) + "\" is not base64url";
    return false;
  }
  return true;
}

std::optional<std::string_view> jwk_string(const boost::json::object& jwk, std::string_view name,
                                           bool& bad_type) {
  const boost::json::value* v = jwk.if_contains(name);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_string()) {
    bad_type = true;
    return std::nullopt;
  }
  return std::string_view(v->get_string().data(), v->get_string().size());
}

PkeyPtr pkey_fromdata(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return nullptr;
  }
  EVP_PKEY* out = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  return PkeyPtr(out);
}

PkeyPtr rsa_from_jwk(const boost::json::object& jwk, std::string& error) {
  std::string n;
  std::string e;
  if (!jwk_bytes(jwk, "n", n, error) || !jwk_bytes(jwk, "e", e, error)) {
    return nullptr;
  }
  if (e.size() > 8) {
    error = "RSA exponent too large";
    return nullptr;
  }
  BnPtr bn_n(BN_bin2bn(bytes(n), static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(bytes(e), static_cast<int>(e.size()), nullptr));
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    error = "cannot build RSA key";
    return nullptr;
  }
  PkeyPtr pkey = pkey_fromdata("RSA", bld.get());
  if (!pkey) {
    error = "invalid RSA key";
  }
  return pkey;
}

PkeyPtr ec_from_jwk(const boost::json::object& jwk, const Curve& curve, std::string& error) {
  std::string x;
  std::string y;
  if (!jwk_bytes(jwk, "x", x, error) || !jwk_bytes(jwk, "y", y, error)) {
    return nullptr;
  }
  if (x.size() != curve.coord || y.size() != curve.coord) {
    error = "EC " + std::string(curve.crv) + " coordinates must be " + std::to_string(curve.coord) +
            " bytes";
    return nullptr;
  }
  std::string point;
  point.reserve(1 + 2 * curve.coord);
  point.push_back('\x04');  // uncompressed
  point += x;
  point += y;
  std::string group(curve.group);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group.c_str(), 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    error = "cannot build EC key";
    return nullptr;
  }
  PkeyPtr pkey = pkey_fromdata("EC", bld.get());
  if (!pkey) {
    error = "EC point is not on curve " + std::string(curve.crv);
  }
  return pkey;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public functions

std::optional<Alg> alg_from_string(std::string_view s) noexcept {
  for (const AlgInfo& a : kAlgs) {
    if (a.name == s) {
      return a.alg;
    }
  }
  return std::nullopt;
}

std::string_view to_string(Alg a) noexcept {
  for (const AlgInfo& i : kAlgs) {
    if (i.alg == a) {
      return i.name;
    }
  }
  return "?";
}

std::string_view to_string(JwtError e) noexcept {
  switch (e) {
    case JwtError::Malformed:
      return "malformed";
    case JwtError::UnsupportedAlg:
      return "unsupported_alg";
    case JwtError::AlgNotAllowed:
      return "alg_not_allowed";
    case JwtError::UnknownKid:
      return "unknown_kid";
    case JwtError::BadSignature:
      return "bad_signature";
    case JwtError::Expired:
      return "expired";
    case JwtError::NotYetValid:
      return "not_yet_valid";
    case JwtError::BadClaimType:
      return "bad_claim_type";
    case JwtError::BadIssuer:
      return "bad_issuer";
    case JwtError::BadAudience:
      return "bad_audience";
  }
  return "unknown";
}

DecodeResult decode(std::string_view compact) {
  DecodeResult r;
  r.error = JwtError::Malformed;
  if (compact.size() > kMaxTokenBytes) {
    return r;
  }
  const std::size_t dot1 = compact.find('.');
  if (dot1 == std::string_view::npos) {
    return r;
  }
  const std::size_t dot2 = compact.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || compact.find('.', dot2 + 1) != std::string_view::npos) {
    return r;
  }
  const std::string_view header_b64 = compact.substr(0, dot1);
  const std::string_view payload_b64 = compact.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = compact.substr(dot2 + 1);

  DecodedToken t;
  std::string header_json;
  std::string payload_json;
  if (!b64url_decode(header_b64, header_json) || !b64url_decode(payload_b64, payload_json) ||
      !b64url_decode(signature_b64, t.signature)) {
    return r;
  }

  auto header = parse_object(header_json);
  if (!header) {
    return r;
  }
  const boost::json::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string() || header->contains("crit")) {
    r.error = JwtError::UnsupportedAlg;
    return r;
  }
  const auto parsed_alg =
      alg_from_string(std::string_view(alg->get_string().data(), alg->get_string().size()));
  if (!parsed_alg) {
    r.error = JwtError::UnsupportedAlg;
    return r;
  }
  t.alg = *parsed_alg;
  if (const boost::json::value* kid = header->if_contains("kid")) {
    if (!kid->is_string()) {
      return r;
    }
    t.kid.assign(kid->get_string().data(), kid->get_string().size());
  }

  auto claims = parse_object(payload_json);
  if (!claims) {
    return r;
  }
  t.header = std::move(*header);
  t.claims = std::move(*claims);
  t.signing_input.assign(compact.data(), dot2);
  r.token = std::move(t);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Key

Key Key::hmac(const Secret& secret, Alg alg, std::string kid) {
  auto impl = std::make_shared<Impl>();
  impl->family = Family::Hmac;
  impl->pinned = alg;  // a non-HS `alg` leaves a key that allows nothing
  impl->secret = secret.reveal();
  Key k;
  k.impl_ = std::move(impl);
  k.kid_ = std::move(kid);
  return k;
}

Key::Loaded Key::from_pem(std::string_view pem, Alg alg, std::string kid) {
  if (family_of(alg) == Family::Hmac) {
    return fail_load(std::string(to_string(alg)) + " needs a shared secret, not a PEM key");
  }
  if (pem.find("PRIVATE KEY") != std::string_view::npos) {
    return fail_load("PEM holds a private key; configure the public key");
  }
  EVP_PKEY* raw = nullptr;
  std::unique_ptr<OSSL_DECODER_CTX, DecoderCtxFree> dctx(OSSL_DECODER_CTX_new_for_pkey(
      &raw, "PEM", nullptr, nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  const unsigned char* data = bytes(pem);
  std::size_t len = pem.size();
  if (!dctx || OSSL_DECODER_from_data(dctx.get(), &data, &len) != 1 || raw == nullptr) {
    EVP_PKEY_free(raw);
    return fail_load("not a PEM public key");
  }
  auto impl = std::make_shared<Impl>();
  std::string error = adopt_pkey(PkeyPtr(raw), alg, *impl);
  if (!error.empty()) {
    return fail_load(std::move(error));
  }
  ERR_clear_error();  // decoders tried and rejected on the way leave errors queued
  Key k;
  k.impl_ = std::move(impl);
  k.kid_ = std::move(kid);
  return Loaded{std::move(k), {}};
}

Key::Loaded Key::from_pem_file(const std::string& path, Alg alg, std::string kid) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail_load("cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return fail_load("cannot read " + path);
  }
  Loaded loaded = from_pem(text.str(), alg, std::move(kid));
  if (!loaded.key) {
    loaded.error = path + ": " + loaded.error;
  }
  return loaded;
}

Key::Loaded Key::from_jwk(const boost::json::object& jwk) {
  bool bad_type = false;
  const auto kty = jwk_string(jwk, "kty", bad_type);
  const auto kid = jwk_string(jwk, "kid", bad_type);
  const auto use = jwk_string(jwk, "use", bad_type);
  const auto alg_name = jwk_string(jwk, "alg", bad_type);
  const auto crv = jwk_string(jwk, "crv", bad_type);
  if (bad_type) {
    return fail_load("JWK kty/kid/use/alg/crv must be strings");
  }
  if (!kty) {
    return fail_load("JWK without kty");
  }
  if (use && *use != "sig") {
    return fail_load("JWK use is \"" + std::string(*use) + "\", not \"sig\"");
  }
  if (const boost::json::value* ops = jwk.if_contains("key_ops")) {
    bool verify = false;
    if (ops->is_array()) {
      for (const boost::json::value& op : ops->get_array()) {
        verify = verify || (op.is_string() && op.get_string() == "verify");
      }
    }
    if (!verify) {
      return fail_load("JWK key_ops does not include \"verify\"");
    }
  }
  std::optional<Alg> pinned;
  if (alg_name) {
    pinned = alg_from_string(*alg_name);
    if (!pinned) {
      return fail_load("unsupported JWK alg \"" + std::string(*alg_name) + "\"");
    }
  }

  std::string error;
  PkeyPtr pkey;
  if (*kty == "RSA") {
    pkey = rsa_from_jwk(jwk, error);
  } else if (*kty == "EC") {
    const Curve* curve = nullptr;
    for (const Curve& c : kCurves) {
      if (crv && c.crv == *crv) {
        curve = &c;
      }
    }
    if (curve == nullptr) {
      return fail_load("unsupported EC curve \"" + std::string(crv.value_or("")) + "\"");
    }
    pkey = ec_from_jwk(jwk, *curve, error);
  } else if (*kty == "OKP") {
    if (!crv || *crv != "Ed25519") {
      return fail_load("unsupported OKP curve \"" + std::string(crv.value_or("")) + "\"");
    }
    std::string x;
    if (!jwk_bytes(jwk, "x", x, error)) {
      return fail_load(std::move(error));
    }
    if (x.size() != 32) {
      return fail_load("Ed25519 public key must be 32 bytes");
    }
    pkey.reset(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, bytes(x), x.size()));
    if (!pkey) {
      error = "invalid Ed25519 public key";
    }
  } else {
    return fail_load("unsupported JWK kty \"" + std::string(*kty) + "\"");
  }
  if (!pkey) {
    return fail_load(std::move(error));
  }
  auto impl = std::make_shared<Impl>();
  error = adopt_pkey(std::move(pkey), pinned, *impl);
  if (!error.empty()) {
    return fail_load(std::move(error));
  }
  Key k;
  k.impl_ = std::move(impl);
  k.kid_ = std::string(kid.value_or(""));
  return Loaded{std::move(k), {}};
}

bool Key::allows(Alg a) const noexcept {
  if (!impl_ || family_of(a) != impl_->family) {
    return false;
  }
  if (impl_->pinned && *impl_->pinned != a) {
    return false;
  }
  if (impl_->family == Family::Ec) {
    const Curve* c = curve_for_alg(a);
    return c != nullptr && c->coord == impl_->coord;
  }
  return true;
}

namespace {

bool verify_hmac(const Key::Impl& impl, const DecodedToken& t) {
  if (impl.secret.empty()) {
    return false;  // never key HMAC with nothing (and never let OpenSSL reuse an older key)
  }
  EVP_MAC_CTX* ctx = hmac_context(digest_index(t.alg));
  if (ctx == nullptr) {
    return false;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  const bool ok = EVP_MAC_init(ctx, bytes(impl.secret), impl.secret.size(), nullptr) == 1 &&
                  EVP_MAC_update(ctx, bytes(t.signing_input), t.signing_input.size()) == 1 &&
                  EVP_MAC_final(ctx, mac, &len, sizeof(mac)) == 1;
  const bool match =
      ok && len == t.signature.size() && CRYPTO_memcmp(mac, t.signature.data(), len) == 0;
  OPENSSL_cleanse(mac, sizeof(mac));
  return match;
}

// r||s (each `coord` bytes, big-endian) -> DER ECDSA-Sig-Value.
bool ecdsa_raw_to_der(std::string_view raw, std::size_t coord, std::string& der) {
  if (raw.size() != 2 * coord) {
    return false;
  }
  std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(ECDSA_SIG_new());
  BnPtr r(BN_bin2bn(bytes(raw), static_cast<int>(coord), nullptr));
  BnPtr s(BN_bin2bn(bytes(raw) + coord, static_cast<int>(coord), nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return false;
  }
  (void)r.release();  // owned by sig now
  (void)s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) {
    return false;
  }
  der.resize(static_cast<std::size_t>(len));
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  return i2d_ECDSA_SIG(sig.get(), &p) == len;
}

bool verify_pkey(const Key::Impl& impl, const DecodedToken& t) {
  std::string_view sig = t.signature;
  std::string der;
  if (impl.family == Family::Ec) {
    if (!ecdsa_raw_to_der(sig, impl.coord, der)) {
      return false;
    }
    sig = der;
  } else if (impl.family == Family::Rsa) {
    if (sig.size() != static_cast<std::size_t>(EVP_PKEY_get_size(impl.pkey.get()))) {
      return false;
    }
  } else if (sig.size() != 64) {  // Ed25519
    return false;
  }
  const EVP_MD* md = digest(digest_index(t.alg));
  if (md == nullptr && impl.family != Family::Ed25519) {
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, impl.pkey.get()) != 1) {
    return false;
  }
  if (is_pss(t.alg) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
                        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), bytes(sig), sig.size(), bytes(t.signing_input),
                          t.signing_input.size()) == 1;
}

}  // namespace

bool Key::verify(const DecodedToken& t) const {
  if (!allows(t.alg)) {
    return false;
  }
  const bool ok = impl_->family == Family::Hmac ? verify_hmac(*impl_, t) : verify_pkey(*impl_, t);
  if (!ok) {
    ERR_clear_error();  // a failed check leaves errors queued on this thread
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// JWKS

JwksResult parse_jwks(std::string_view body) {
  JwksResult r;
  auto doc = parse_strict(body, 32);
  if (!doc) {
    r.error = "JWKS is not valid JSON";
    return r;
  }
  if (!doc->is_object()) {
    r.error = "JWKS is not a JSON object";
    return r;
  }
  const boost::json::value* keys = doc->get_object().if_contains("keys");
  if (keys == nullptr || !keys->is_array()) {
    r.error = "JWKS has no \"keys\" array";
    return r;
  }
  std::size_t index = 0;
  for (const boost::json::value& entry : keys->get_array()) {
    const std::string where = "key " + std::to_string(index++);
    if (!entry.is_object()) {
      r.skipped.push_back(where + ": not a JSON object");
      continue;
    }
    Key::Loaded loaded = Key::from_jwk(entry.get_object());
    if (!loaded.key) {
      std::string name = where;
      if (const boost::json::value* kid = entry.get_object().if_contains("kid");
          kid != nullptr && kid->is_string()) {
        name += " (kid \"" + std::string(kid->get_string().c_str()) + "\")";
      }
      r.skipped.push_back(name + ": " + loaded.error);
      continue;
    }
    r.keys.push_back(std::move(*loaded.key));
  }
  return r;
}

}  // namespace yg::auth
