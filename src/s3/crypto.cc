#include "s3/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

namespace yg::s3::crypto {
namespace {

// A failing SHA-256 or HMAC means the OpenSSL library itself is broken (no provider, out of
// memory): there is no request-level recovery, and signing garbage would only hide it.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "yatagarasu: OpenSSL %s failed; aborting\n", what);
  std::abort();
}

const EVP_MD* sha256_md() {
  static EVP_MD* const md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) {
      fail("EVP_MD_fetch(SHA256)");
    }
    return m;
  }();
  return md;
}

EVP_MAC* hmac_mac() {
  static EVP_MAC* const mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) {
      fail("EVP_MAC_fetch(HMAC)");
    }
    return m;
  }();
  return mac;
}

// Per-thread contexts, created on first use and freed at thread exit.
struct ThreadContexts {
  EVP_MD_CTX* md = nullptr;
  EVP_MAC_CTX* mac = nullptr;

  ThreadContexts() {
    md = EVP_MD_CTX_new();
    mac = EVP_MAC_CTX_new(hmac_mac());
    if (md == nullptr || mac == nullptr) {
      fail("context allocation");
    }
    // The digest is bound once; each HMAC then only re-keys the context in EVP_MAC_init.
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params) != 1) {
      fail("EVP_MAC_CTX_set_params(digest=SHA256)");
    }
  }
  ~ThreadContexts() {
    EVP_MAC_CTX_free(mac);
    EVP_MD_CTX_free(md);
  }
  ThreadContexts(const ThreadContexts&) = delete;
  ThreadContexts& operator=(const ThreadContexts&) = delete;
};

ThreadContexts& contexts() {
  thread_local ThreadContexts ctx;
  return ctx;
}

}  // namespace

Digest sha256(std::string_view data) {
  EVP_MD_CTX* ctx = contexts().md;
  Digest out{};
  unsigned int len = 0;
  if (EVP_DigestInit_ex2(ctx, sha256_md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size()) {
    fail("SHA-256");
  }
  return out;
}

Digest hmac_sha256(const unsigned char* key, std::size_t key_len, std::string_view data) {
  EVP_MAC_CTX* ctx = contexts().mac;
  Digest out{};
  std::size_t len = 0;
  if (EVP_MAC_init(ctx, key, key_len, nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != out.size()) {
    fail("HMAC-SHA256");
  }
  return out;
}

void cleanse(void* p, std::size_t len) {
  OPENSSL_cleanse(p, len);
}

}  // namespace yg::s3::crypto
