// TLS (rediss://) against redis-server's TLS port, with a CA and certificates made here by the
// openssl CLI.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "redis/client.h"
#include "redis_test_util.h"
#include "support/redis_server.h"

namespace yg::redis {
namespace {

using test::exec;
using yg::test::RedisServer;
using yg::test::RedisServerOptions;
using yg::test::run_capture;

// A CA and a server certificate for 127.0.0.1 (IP SAN only), plus an unrelated CA.
class TlsFiles {
 public:
  TlsFiles() {
    char tmpl[] = "/tmp/yg-redis-tls-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    const std::string ec = "ec";
    const std::string curve = "ec_paramgen_curve:prime256v1";
    for (const char* ca : {"ca", "other-ca"}) {
      run({"req", "-x509", "-newkey", ec, "-pkeyopt", curve, "-nodes", "-keyout",
           path(std::string(ca) + ".key"), "-out", path(std::string(ca) + ".crt"), "-days", "2",
           "-subj", std::string("/CN=yg-test-") + ca});
    }
    run({"req", "-newkey", ec, "-pkeyopt", curve, "-nodes", "-keyout", path("server.key"), "-out",
         path("server.csr"), "-subj", "/CN=yg-test-server"});
    std::ofstream(path("ext.cnf")) << "subjectAltName=IP:127.0.0.1\n";
    run({"x509", "-req", "-in", path("server.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
         "-CAcreateserial", "-out", path("server.crt"), "-days", "2", "-extfile", path("ext.cnf")});
    if (!std::filesystem::exists(path("server.crt"))) {
      throw std::runtime_error("openssl failed");
    }
  }
  ~TlsFiles() {
    std::error_code e;
    std::filesystem::remove_all(dir_, e);
  }
  std::string path(const std::string& f) const { return dir_ + "/" + f; }

 private:
  void run(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    run_capture(args);
  }
  std::string dir_;
};

class RedisTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    files_ = new TlsFiles();
    RedisServerOptions so;
    so.tls = true;
    so.args = {"--tls-cert-file",    files_->path("server.crt"),
               "--tls-key-file",     files_->path("server.key"),
               "--tls-ca-cert-file", files_->path("ca.crt"),
               "--tls-auth-clients", "no",
               "--requirepass",      "tls-pw"};
    server_ = new RedisServer(so);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete files_;
  }
  static ClientOptions options(const std::string& host, const std::string& ca) {
    ClientOptions o;
    o.nodes = {Endpoint{host, server_->port()}};
    o.tls = true;
    o.tls_ca_file = ca;
    o.password = Secret("tls-pw");
    return o;
  }
  static TlsFiles* files_;
  static RedisServer* server_;
};
TlsFiles* RedisTls::files_ = nullptr;
RedisServer* RedisTls::server_ = nullptr;

// With the right CA the server's IP SAN is verified and commands (AUTH included) run over TLS.
TEST_F(RedisTls, ConnectsAndVerifiesTheServerCertificate) {
  auto c = Client::create(options("127.0.0.1", files_->path("ca.crt")));
  ASSERT_TRUE(exec(c, Command{"SET", "t", "over tls"}).reply.is_ok());
  Result r = exec(c, Command{"GET", "t"});
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.reply.str, "over tls");
}

// A server certificate from another CA is refused: unavailable, with the TLS reason.
TEST_F(RedisTls, RefusesAServerSignedByAnotherCa) {
  auto c = Client::create(options("127.0.0.1", files_->path("other-ca.crt")));
  Result r = exec(c, Command{"PING"});
  EXPECT_EQ(r.err, Errc::unavailable);
  EXPECT_NE(r.detail.find("TLS"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("tls-pw"), std::string::npos);
}

// The certificate names 127.0.0.1 only: reaching the same server as "localhost" fails the
// host name check.
TEST_F(RedisTls, ChecksTheHostNameAgainstTheCertificate) {
  auto c = Client::create(options("localhost", files_->path("ca.crt")));
  Result r = exec(c, Command{"PING"});
  EXPECT_EQ(r.err, Errc::unavailable) << r.detail;
}

}  // namespace
}  // namespace yg::redis
