#include "net/server/client_stream.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

namespace yg::net {
namespace asio = boost::asio;
namespace ssl = asio::ssl;

asio::awaitable<boost::system::error_code> ClientStream::handshake() {
  if (!tls_) {
    co_return boost::system::error_code{};
  }
  auto [ec] =
      co_await tls_->async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

obs::TlsVersion ClientStream::tls_version() noexcept {
  if (tls_ && SSL_version(tls_->native_handle()) == TLS1_3_VERSION) {
    return obs::TlsVersion::V1_3;
  }
  return obs::TlsVersion::V1_2;
}

asio::awaitable<void> ClientStream::shutdown_tls(std::chrono::steady_clock::duration wait) {
  if (!tls_ || !tcp_.socket().is_open()) {
    co_return;
  }
  // The deadline closes the socket if the client never answers (most clients simply close).
  tcp_.expires_after(wait);
  auto [ec] = co_await tls_->async_shutdown(asio::as_tuple(asio::use_awaitable));
  (void)ec;  // truncated, reset or timed out: the connection ends either way
}

void ClientStream::abort() noexcept {
  boost::system::error_code ec;
  tcp_.socket().set_option(asio::socket_base::linger(true, 0), ec);
  tcp_.socket().close(ec);
}

obs::TlsFailure classify_handshake_error(const boost::system::error_code& ec) noexcept {
  using F = obs::TlsFailure;
  if (ec == boost::beast::error::timeout) {
    return F::Timeout;
  }
  if (ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated ||
      ec == asio::error::operation_aborted) {
    return F::Closed;
  }
  if (ec.category() != asio::error::get_ssl_category()) {
    return F::Other;
  }
  // OpenSSL reason codes (openssl/sslerr.h); alerts the client sent are 1000 + alert number.
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
      return F::NotTls;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      return F::Version;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return F::Cipher;
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
      return F::CertificateRejected;
    default:
      return F::Other;
  }
}

}  // namespace yg::net
