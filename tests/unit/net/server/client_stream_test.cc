// ClientStream (OPS-6): the same bytes over plain TCP and TLS, RST aborts, close_notify, and
// handshake failure reasons; make_server_tls_context's file checks. Real sockets on 127.0.0.1
// and real OpenSSL on both ends; the test certificate is made here with OpenSSL's API.

#include "net/server/client_stream.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <string>

#include "net/server/tls_context.h"

namespace yg::net {
namespace {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// A self-signed P-256 certificate and its key, written as PEM files in a temp dir.
struct TestCert {
  std::filesystem::path dir, cert, key;

  explicit TestCert(const std::string& tag) {
    dir = std::filesystem::temp_directory_path() /
          ("yg-client-stream-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    cert = dir / "cert.pem";
    key = dir / "key.pem";
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, pkey, EVP_sha256());
    FILE* f = std::fopen(cert.c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
  }
  ~TestCert() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  config::TlsConfig config() const {
    config::TlsConfig c;
    c.cert_path = cert.string();
    c.key_path = key.string();
    return c;
  }
};

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) {
    c = static_cast<char>(rng());
  }
  return s;
}

// A connected pair on 127.0.0.1: the server side as a ClientStream (TLS when `ctx`), the client
// side as a raw socket.
struct Pair {
  tcp::socket server, client;
};

Pair connect_pair(asio::io_context& io) {
  tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(io);
  client.connect(acc.local_endpoint());
  tcp::socket server = acc.accept();
  return Pair{std::move(server), std::move(client)};
}

// As cache_phase.cc's gather write: head + body in one async_write with no 64 KiB cap.
struct TransferAll {
  std::size_t operator()(const boost::system::error_code& ec, std::size_t) const {
    return ec ? 0 : std::numeric_limits<std::size_t>::max() / 2;
  }
};

// Serves one gather write (head + body), then closes cleanly; the client reads to the end.
std::string roundtrip_gather(const std::shared_ptr<ssl::context>& server_ctx,
                             const std::string& head, const std::string& body) {
  asio::io_context io;
  auto [server_sock, client_sock] = connect_pair(io);
  ClientStream server(std::move(server_sock), server_ctx);
  ssl::context client_ctx(ssl::context::tls_client);
  client_ctx.set_verify_mode(ssl::verify_none);
  ssl::stream<tcp::socket&> client_tls(client_sock, client_ctx);
  std::string got;
  boost::system::error_code server_ec, client_ec;

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        server.expires_after(std::chrono::seconds(10));
        server_ec = co_await server.handshake();
        if (server_ec) {
          co_return;
        }
        const std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(body)};
        auto [ec, n] = co_await asio::async_write(server, bufs, TransferAll{}, use_tuple);
        server_ec = ec;
        EXPECT_EQ(n, head.size() + body.size());
        co_await server.shutdown_tls(std::chrono::seconds(2));
        server.close();
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::array<char, 65536> chunk{};
        if (server_ctx) {
          auto [hec] = co_await client_tls.async_handshake(ssl::stream_base::client, use_tuple);
          if (hec) {
            client_ec = hec;
            co_return;
          }
        }
        for (;;) {
          auto [ec, n] = server_ctx
                             ? co_await client_tls.async_read_some(asio::buffer(chunk), use_tuple)
                             : co_await client_sock.async_read_some(asio::buffer(chunk), use_tuple);
          got.append(chunk.data(), n);
          if (ec) {
            client_ec = ec;
            break;
          }
        }
        client_sock.close();  // without answering close_notify, as most clients do
      },
      asio::detached);
  io.run();
  EXPECT_FALSE(server_ec) << server_ec.message();
  // A clean end: EOF after close_notify on TLS (ssl's eof), FIN on plain TCP.
  EXPECT_EQ(client_ec, asio::error::eof) << client_ec.message();
  return got;
}

// The proxy's cache-hit write (a gather of head + body in one async_write) delivers every byte,
// in order, over plain TCP and over TLS, for bodies below and above a TLS record.
TEST(ClientStream, GatherWriteDeliversEveryByteOnPlainAndTls) {
  TestCert cert("gather");
  auto tls = make_server_tls_context(cert.config());
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
  for (std::size_t size : {std::size_t{1}, std::size_t{1000}, std::size_t{16 * 1024},
                           std::size_t{100000}, std::size_t{3 * 1024 * 1024 + 7}}) {
    const std::string body = random_bytes(size, static_cast<unsigned>(size));
    const std::string want = head + body;
    const std::string plain = roundtrip_gather(nullptr, head, body);
    EXPECT_EQ(plain.size(), want.size()) << "plain " << size;
    EXPECT_TRUE(plain == want) << "plain " << size;
    const std::string over_tls = roundtrip_gather(tls, head, body);
    EXPECT_EQ(over_tls.size(), want.size()) << "tls " << size;
    EXPECT_TRUE(over_tls == want) << "tls " << size;
  }
}

// abort() resets the TCP connection mid-body without close_notify: a TLS client reads an
// error, never a clean end it could take for a complete (close-delimited) body.
TEST(ClientStream, AbortIsAnErrorForTheTlsClientNotAnEnd) {
  TestCert cert("abort");
  auto tls = make_server_tls_context(cert.config());
  asio::io_context io;
  auto [server_sock, client_sock] = connect_pair(io);
  ClientStream server(std::move(server_sock), tls);
  ssl::context client_ctx(ssl::context::tls_client);
  ssl::stream<tcp::socket&> client(client_sock, client_ctx);
  const std::string part = random_bytes(5000, 1);
  std::string got;
  boost::system::error_code client_ec;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        server.expires_after(std::chrono::seconds(10));
        EXPECT_FALSE(co_await server.handshake());
        auto [ec, n] = co_await asio::async_write(server, asio::buffer(part), use_tuple);
        EXPECT_FALSE(ec);
        // Let the client read what was sent before the reset.
        asio::steady_timer t(io, std::chrono::milliseconds(100));
        co_await t.async_wait(use_tuple);
        server.abort();
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await client.async_handshake(ssl::stream_base::client, use_tuple);
        std::array<char, 65536> chunk{};
        for (;;) {
          auto [ec, n] = co_await client.async_read_some(asio::buffer(chunk), use_tuple);
          got.append(chunk.data(), n);
          if (ec) {
            client_ec = ec;
            break;
          }
        }
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(got == part);
  EXPECT_NE(client_ec, asio::error::eof) << "a reset must not read as a clean TLS close";
  EXPECT_TRUE(client_ec == asio::error::connection_reset ||
              client_ec == ssl::error::stream_truncated)
      << client_ec.message();
}

// The server's handshake error for what the client did, as counted in
// yatagarasu_tls_handshake_failures_total{reason}.
obs::TlsFailure failure_for(const std::shared_ptr<ssl::context>& tls,
                            const std::function<asio::awaitable<void>(tcp::socket&)>& client) {
  asio::io_context io;
  auto [server_sock, client_sock] = connect_pair(io);
  ClientStream server(std::move(server_sock), tls);
  boost::system::error_code ec;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        server.expires_after(std::chrono::seconds(1));
        ec = co_await server.handshake();
        server.close();
      },
      asio::detached);
  asio::co_spawn(io, client(client_sock), asio::detached);
  io.run();
  EXPECT_TRUE(ec);
  return classify_handshake_error(ec);
}

asio::awaitable<void> tls_client(tcp::socket& s, int min_version, int max_version,
                                 const char* ciphers = nullptr) {
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), min_version);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), max_version);
  if (ciphers != nullptr) {
    SSL_CTX_set_cipher_list(ctx.native_handle(), ciphers);
  }
  ssl::stream<tcp::socket&> c(s, ctx);
  co_await c.async_handshake(ssl::stream_base::client, use_tuple);
  s.close();
}

// Plain HTTP, old versions, no common cipher, silence and a hang-up each have their reason.
TEST(ClientStream, HandshakeFailuresAreClassified) {
  TestCert cert("reasons");
  auto cfg = cert.config();
  cfg.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384";
  auto tls = make_server_tls_context(cfg);
  EXPECT_EQ(failure_for(tls,
                        [](tcp::socket& s) -> asio::awaitable<void> {
                          co_await asio::async_write(
                              s, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
                              use_tuple);
                          std::array<char, 256> b{};
                          co_await s.async_read_some(asio::buffer(b), use_tuple);
                        }),
            obs::TlsFailure::NotTls);
  EXPECT_EQ(failure_for(tls,
                        [](tcp::socket& s) {
                          return tls_client(s, TLS1_VERSION, TLS1_1_VERSION, "DEFAULT@SECLEVEL=0");
                        }),
            obs::TlsFailure::Version);
  EXPECT_EQ(failure_for(tls,
                        [](tcp::socket& s) {
                          return tls_client(s, TLS1_2_VERSION, TLS1_2_VERSION,
                                            "ECDHE-ECDSA-AES128-GCM-SHA256");
                        }),
            obs::TlsFailure::Cipher);
  EXPECT_EQ(failure_for(tls,
                        [](tcp::socket& s) -> asio::awaitable<void> {
                          asio::steady_timer t(s.get_executor(), std::chrono::seconds(2));
                          co_await t.async_wait(use_tuple);
                        }),
            obs::TlsFailure::Timeout);
  EXPECT_EQ(failure_for(tls,
                        [](tcp::socket& s) -> asio::awaitable<void> {
                          s.close();
                          co_return;
                        }),
            obs::TlsFailure::Closed);
}

std::string context_error(const config::TlsConfig& c) {
  try {
    make_server_tls_context(c);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// Startup/reload refusals name the file and never print its contents.
TEST(ServerTlsContext, RefusesBadFilesNamingThem) {
  TestCert a("ctx-a");
  TestCert b("ctx-b");
  std::ifstream key_in(b.key);
  const std::string key_pem((std::istreambuf_iterator<char>(key_in)), {});

  auto c = a.config();
  c.key_path = b.key.string();
  auto msg = context_error(c);
  EXPECT_NE(msg.find("'" + b.key.string() + "' does not match the certificate in '" +
                     a.cert.string() + "'"),
            std::string::npos)
      << msg;
  EXPECT_EQ(msg.find(key_pem.substr(30, 40)), std::string::npos);

  c = a.config();
  c.cert_path = (a.dir / "missing.pem").string();
  msg = context_error(c);
  EXPECT_NE(
      msg.find("cannot read certificate file '" + c.cert_path + "': No such file or directory"),
      std::string::npos)
      << msg;

  c = a.config();
  c.key_path = a.cert.string();  // a certificate is not a key
  msg = context_error(c);
  EXPECT_NE(msg.find("cannot load private key file '" + a.cert.string() + "'"), std::string::npos)
      << msg;

  c = a.config();
  c.ciphers = "NO-SUCH-CIPHER";
  msg = context_error(c);
  EXPECT_NE(msg.find("server.tls.ciphers 'NO-SUCH-CIPHER': OpenSSL accepts none"),
            std::string::npos)
      << msg;

  EXPECT_EQ(context_error(a.config()), "");
}

// An encrypted key is refused at once (no passphrase prompt that would hang a daemon).
TEST(ServerTlsContext, RefusesEncryptedKeyWithoutPrompting) {
  TestCert a("ctx-enc");
  EVP_PKEY* pkey = nullptr;
  FILE* f = std::fopen(a.key.c_str(), "r");
  pkey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ASSERT_NE(pkey, nullptr);
  const auto enc = a.dir / "enc.pem";
  f = std::fopen(enc.c_str(), "w");
  char pass[] = "correct horse";
  PEM_write_PrivateKey(f, pkey, EVP_aes_256_cbc(), nullptr, 0, nullptr, pass);
  std::fclose(f);
  EVP_PKEY_free(pkey);
  auto c = a.config();
  c.key_path = enc.string();
  const auto msg = context_error(c);
  EXPECT_NE(msg.find("cannot load private key file '" + enc.string() +
                     "' (unencrypted PEM expected; passphrases are not supported)"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace yg::net
