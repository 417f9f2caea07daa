#include "net/server/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace yg::net {
namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's reason for the last failure (e.g. "no start line", "key values mismatch"), and an
// empty error queue afterwards: the queue is per thread and a stale entry would be taken for
// the cause of a later, unrelated failure. Reasons never contain file contents.
std::string take_openssl_reason() {
  const unsigned long e = ERR_peek_last_error();
  const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
  std::string out = r != nullptr ? r : (e != 0 ? "error " + std::to_string(e) : "unknown error");
  ERR_clear_error();
  return out;
}

// Opening the file first gives the usual "No such file or directory" / "Permission denied"
// instead of OpenSSL's "system lib".
void check_readable(const std::string& what, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    throw std::runtime_error("cannot read " + what + " '" + path + "': " + std::strerror(errno));
  }
}

// Encrypted keys are not supported (docs/TLS.md): answering no passphrase makes OpenSSL fail
// instead of prompting on the terminal, which would hang a daemon.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

// ALPN (RFC 7301): the proxy speaks HTTP/1.1 only. A client that offers it gets it; one that
// offers only other protocols (h2) gets no ALPN answer and may go on with HTTP/1.1.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                  unsigned int inlen, void*) {
  constexpr std::string_view kHttp11 = "http/1.1";
  unsigned int i = 0;
  while (i < inlen) {
    const unsigned int len = in[i];
    if (i + 1 + len > inlen) {
      break;
    }
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == kHttp11) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const config::TlsConfig& c) {
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  const int floor = c.min_version == config::TlsVersion::V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(h, floor) != 1) {
    throw std::runtime_error("cannot set the minimum TLS version: " + take_openssl_reason());
  }
  // No compression (CRIME), no renegotiation (a client-driven CPU cost), our cipher order.
  SSL_CTX_set_options(
      h, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(h, c.ciphers.c_str()) != 1) {
    throw std::runtime_error("server.tls.ciphers '" + c.ciphers +
                             "': OpenSSL accepts none of these ciphers (" + take_openssl_reason() +
                             ")");
  }
  if (SSL_CTX_set_ciphersuites(h, c.ciphersuites.c_str()) != 1) {
    throw std::runtime_error("server.tls.ciphersuites '" + c.ciphersuites +
                             "': OpenSSL accepts none of these TLS 1.3 suites (" +
                             take_openssl_reason() + ")");
  }
  SSL_CTX_set_default_passwd_cb(h, no_passphrase);

  check_readable("certificate file", c.cert_path);
  if (SSL_CTX_use_certificate_chain_file(h, c.cert_path.c_str()) != 1) {
    throw std::runtime_error(
        "cannot load certificate file '" + c.cert_path +
        "' (PEM certificate, then any intermediates): " + take_openssl_reason());
  }
  check_readable("private key file", c.key_path);
  if (SSL_CTX_use_PrivateKey_file(h, c.key_path.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL compares the key with the certificate already loaded.
    const unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      throw std::runtime_error("private key file '" + c.key_path +
                               "' does not match the certificate in '" + c.cert_path + "'");
    }
    throw std::runtime_error(
        "cannot load private key file '" + c.key_path +
        "' (unencrypted PEM expected; passphrases are not supported): " + take_openssl_reason());
  }
  if (SSL_CTX_check_private_key(h) != 1) {
    throw std::runtime_error("private key file '" + c.key_path +
                             "' does not match the certificate in '" + c.cert_path +
                             "': " + take_openssl_reason());
  }
  SSL_CTX_set_alpn_select_cb(h, select_http11, nullptr);
  // Session resumption: OpenSSL's defaults (a server-side session cache and stateless tickets,
  // both per context). A reload builds a new context, so sessions from before it are not
  // resumed: those clients make one full handshake. See docs/TLS.md.
  ERR_clear_error();
  return ctx;
}

}  // namespace yg::net
