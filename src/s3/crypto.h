#pragma once
// SHA-256 and HMAC-SHA256 on OpenSSL 3 EVP, for the SigV4 signer (internal to yg_s3).
// Each thread keeps its own reusable digest and MAC contexts, so hashing allocates nothing
// and needs no lock; the algorithms are fetched once per process (OpenSSL 3 "explicit fetch",
// which avoids a provider lookup on every call).

#include <array>
#include <cstddef>
#include <string>

#include <string_view>
#include "core/hex.h"

namespace yg::s3::crypto {

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view data);
Digest hmac_sha256(const unsigned char* key, std::size_t key_len, std::string_view data);
inline Digest hmac_sha256(const Digest& key, std::string_view data) {
  return hmac_sha256(key.data(), key.size(), data);
}

// Lowercase hex, as SigV4 wants for hashes and signatures.
using ::yg::append_hex;
inline std::string hex(const Digest& d) {
  std::string s;
  append_hex(s, d.data(), d.size());
  return s;
}

// Overwrites memory that held key material (OPENSSL_cleanse: not optimised away).
void cleanse(void* p, std::size_t len);

}  // namespace yg::s3::crypto
