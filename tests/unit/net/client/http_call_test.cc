// net::call against a scripted server on loopback (a thread with blocking sockets): pooling,
// stale pooled connections, interim responses, body limits, deadlines, fresh connections.
#include "net/client/http_call.h"

#include "support/scripted_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace yg::net {
namespace {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using test::ok;
using test::ScriptedServer;

struct Client {
  asio::io_context io{1};
  UpstreamPool pool{io.get_executor()};
  ServiceUrl svc;
  explicit Client(uint16_t port)
      : svc(parse_service_url("http://127.0.0.1:" + std::to_string(port) + "/base", "test")) {}

  Result<HttpReply> post(SteadyClock::duration budget = 2s, CallOptions opt = {},
                         std::size_t limit = 4096) {
    Result<HttpReply> out = Error::of(errc::internal);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          http::request<http::string_body> req{http::verb::post, svc.base_path + "/x", 11};
          req.body() = R"({"input":{}})";
          out = co_await call(pool, svc, req, SteadyClock::now() + budget, 4, limit, opt);
        },
        asio::detached);
    io.restart();
    io.run();
    return out;
  }
};

TEST(HttpCall, ParsesServiceUrls) {
  const auto s = parse_service_url("HTTPS://user:pw@opa.example:8443/v0/?q=1", "t");
  EXPECT_TRUE(s.target.tls);
  EXPECT_EQ(s.target.host, "opa.example");
  EXPECT_EQ(s.target.port, 8443);
  EXPECT_EQ(s.host_header, "opa.example:8443");
  EXPECT_EQ(s.base_path, "/v0");
  EXPECT_EQ(s.for_logs, "https://opa.example:8443/v0/");  // no user info, no query
  EXPECT_THROW(parse_service_url("ftp://x/", "t"), std::invalid_argument);
  EXPECT_THROW(parse_service_url("opa:8181", "t"), std::invalid_argument);
}

TEST(HttpCall, KeepsTheConnectionForTheNextCall) {
  ScriptedServer srv([](int, int) { return ok(R"({"result":true})"); });
  Client c(srv.port());
  for (int i = 0; i < 5; ++i) {
    auto r = c.post();
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body, R"({"result":true})");
  }
  EXPECT_EQ(srv.connections(), 1);
  EXPECT_EQ(srv.requests(), 5);
}

TEST(HttpCall, FreshConnectionSkipsThePool) {
  ScriptedServer srv([](int, int) { return ok("{}"); });
  Client c(srv.port());
  ASSERT_TRUE(c.post());
  ASSERT_TRUE(c.post(2s, {.fresh_connection = true}));
  EXPECT_EQ(srv.connections(), 2);
}

TEST(HttpCall, StalePooledConnectionIsReplacedOnce) {
  // The first connection answers once, then closes when the next request arrives.
  ScriptedServer srv([](int conn, int req) { return conn == 0 && req == 1 ? "" : ok("{}"); });
  Client c(srv.port());
  ASSERT_TRUE(c.post());
  auto r = c.post();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(srv.connections(), 2);
}

TEST(HttpCall, InterimResponsesAreSkipped) {
  ScriptedServer srv([](int, int) {
    return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
           ok(R"({"allowed":true})");
  });
  Client c(srv.port());
  auto r = c.post();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->body, R"({"allowed":true})");
  ASSERT_TRUE(c.post());  // and the connection is still in step
  EXPECT_EQ(srv.connections(), 1);
}

TEST(HttpCall, NonOkStatusIsAReplyAndNotPooledWhenClosed) {
  ScriptedServer srv([](int, int) {
    return std::string(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n"
        "Connection: close\r\n\r\nno");
  });
  Client c(srv.port());
  auto r = c.post();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503u);
  EXPECT_EQ(c.pool.idle_count(), 0u);
}

TEST(HttpCall, BodyOverTheLimitIsABadResponse) {
  ScriptedServer srv([](int, int) { return ok(std::string(10000, 'x')); });
  Client c(srv.port());
  std::string detail;
  auto r = c.post(2s, {.detail = &detail}, 1024);
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(errc::upstream_bad_response));
  EXPECT_NE(detail.find("unusable response"), std::string::npos) << detail;
  EXPECT_EQ(c.pool.idle_count(), 0u);
}

TEST(HttpCall, NotHttpIsABadResponse) {
  ScriptedServer srv([](int, int) { return std::string("SSH-2.0-OpenSSH\r\n\r\n"); });
  Client c(srv.port());
  auto r = c.post();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(errc::upstream_bad_response));
}

TEST(HttpCall, ASilentServerTimesOutAtTheDeadline) {
  ScriptedServer srv([](int, int) { return std::string("SLEEP600"); });
  Client c(srv.port());
  std::string detail;
  const auto t0 = SteadyClock::now();
  auto r = c.post(200ms, {.detail = &detail});
  const auto took = SteadyClock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(errc::upstream_timeout));
  EXPECT_TRUE(r.error().retryable);
  EXPECT_EQ(detail, "timed out");
  EXPECT_LT(took, 1s);  // bounded by the deadline, not by the server
}

TEST(HttpCall, RefusedConnectionIsUnreachable) {
  uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, {tcp::v4(), 0});
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  Client c(port);
  std::string detail;
  auto r = c.post(1s, {.detail = &detail});
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().is(errc::upstream_unreachable));
  EXPECT_TRUE(r.error().retryable);
  EXPECT_EQ(detail, "could not connect");
}

}  // namespace
}  // namespace yg::net
