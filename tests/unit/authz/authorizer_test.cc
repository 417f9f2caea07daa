// Authorizer::check (the loop shared by OPA and OpenFGA) against a scripted engine: retries,
// error classification, the decision cache, the timeout budget.
#include "authz/authorizer.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json/parse.hpp>

#include "authz/opa.h"
#include "support/scripted_server.h"

namespace yg::authz {
namespace {
namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::ok;
using test::ScriptedServer;

std::string status(unsigned code, std::string_view body = "{}") {
  return "HTTP/1.1 " + std::to_string(code) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

struct Harness {
  asio::io_context io{1};
  net::UpstreamPool pool{io.get_executor()};
  std::shared_ptr<const Authorizer> a;
  boost::json::object claims = boost::json::parse(R"({"sub":"ann"})").as_object();

  Harness(uint16_t port, bool cache, uint64_t timeout_ms = 2000) {
    config::AuthorizationConfig cfg;
    cfg.opa_url = "http://127.0.0.1:" + std::to_string(port);
    cfg.opa_policy_path = "p/allow";
    cfg.opa_timeout_ms = timeout_ms;
    cfg.cache_enabled = cache;
    cfg.cache_ttl_seconds = 60;
    cfg.deny_cache_ttl_seconds = 30;
    a = make_authorizer(cfg, nullptr);
  }
  Result check(std::string_view key = "k") {
    Result out;
    Input in;
    in.claims = &claims;
    in.bucket = "b";
    in.path = "/b/k";
    in.key = key;
    in.method = "GET";
    in.client_ip = "127.0.0.1";
    in.request_id = "r";
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          out = co_await a->check(in, pool, SteadyClock::now() + 10s);
        },
        asio::detached);
    io.restart();
    io.run();
    return out;
  }
};

std::size_t count(const Result& r, obs::AuthzError e) {
  return r.errors[static_cast<std::size_t>(e)];
}

TEST(Authorizer, AllowIsCachedAndCounted) {
  ScriptedServer srv([](int, int) { return ok(R"({"result":true})"); });
  Harness h(srv.port(), true);
  auto r = h.check();
  EXPECT_EQ(r.decision, Decision::Allow);
  EXPECT_TRUE(r.asked);
  EXPECT_FALSE(r.cached);
  r = h.check();
  EXPECT_EQ(r.decision, Decision::Allow);
  EXPECT_TRUE(r.cached);
  EXPECT_FALSE(r.asked);
  EXPECT_EQ(srv.requests(), 1);
  EXPECT_EQ(h.a->cache()->size(), 1u);
}

TEST(Authorizer, A503IsRetriedOnceOnANewConnection) {
  ScriptedServer srv([](int conn, int) {
    return conn == 0 ? status(503) : ok(R"({"result":{"allow":false,"reason":"no"}})");
  });
  Harness h(srv.port(), true);
  const auto r = h.check();
  EXPECT_EQ(r.decision, Decision::Deny);
  EXPECT_EQ(r.reason, "no");
  EXPECT_EQ(count(r, obs::AuthzError::Status), 1u);
  EXPECT_EQ(srv.connections(), 2);  // not the pooled connection that answered 503
}

TEST(Authorizer, TwoTransientFailuresAreAnErrorAndNotCached) {
  ScriptedServer srv([](int, int) { return status(502); });
  Harness h(srv.port(), true);
  const auto r = h.check();
  EXPECT_EQ(r.decision, Decision::Error);
  EXPECT_FALSE(r.misconfigured);
  EXPECT_EQ(count(r, obs::AuthzError::Status), 2u);
  EXPECT_NE(r.reason.find("HTTP 502"), std::string::npos) << r.reason;
  EXPECT_EQ(h.a->cache()->size(), 0u);
  h.check();
  EXPECT_EQ(srv.requests(), 4);  // errors are never cached
}

TEST(Authorizer, A4xxIsAConfigurationFaultNotRetried) {
  ScriptedServer srv([](int, int) { return status(400, R"({"code":"invalid_tuple"})"); });
  Harness h(srv.port(), true);
  const auto r = h.check();
  EXPECT_EQ(r.decision, Decision::Error);
  EXPECT_TRUE(r.misconfigured);
  EXPECT_EQ(srv.requests(), 1);
  EXPECT_NE(r.reason.find("invalid_tuple"), std::string::npos) << r.reason;
}

TEST(Authorizer, GarbageIsABadResponse) {
  ScriptedServer srv([](int, int) { return ok("<html>"); });
  Harness h(srv.port(), false);
  const auto r = h.check();
  EXPECT_EQ(r.decision, Decision::Error);
  EXPECT_EQ(count(r, obs::AuthzError::BadResponse), 1u);
  EXPECT_EQ(srv.requests(), 1);
}

TEST(Authorizer, TimeoutSpendsTheBudgetOnceAndIsNotRetried) {
  ScriptedServer srv([](int, int) { return std::string("SLEEP700"); });
  Harness h(srv.port(), false, 150);
  const auto t0 = SteadyClock::now();
  const auto r = h.check();
  EXPECT_EQ(r.decision, Decision::Error);
  EXPECT_EQ(count(r, obs::AuthzError::Timeout), 1u);
  EXPECT_LT(SteadyClock::now() - t0, 600ms);
  EXPECT_EQ(srv.connections(), 1);
}

TEST(Authorizer, RefusedIsRetriedThenAnError) {
  uint16_t port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor acc(io, {asio::ip::tcp::v4(), 0});
    port = acc.local_endpoint().port();
  }
  Harness h(port, false);
  const auto r = h.check();
  EXPECT_EQ(r.decision, Decision::Error);
  EXPECT_EQ(count(r, obs::AuthzError::Connect), 2u);
  EXPECT_NE(r.reason.find("could not connect"), std::string::npos) << r.reason;
}

TEST(Authorizer, ReloadKeepsTheCacheOnlyWhenNothingDecisionRelevantChanged) {
  config::AuthorizationConfig cfg;
  cfg.opa_url = "http://127.0.0.1:1";
  cfg.opa_policy_path = "p";
  const auto first = make_authorizer(cfg, nullptr);
  const auto same = make_authorizer(cfg, first.get());
  EXPECT_EQ(same->cache(), first->cache());
  auto changed = cfg;
  changed.opa_input_headers = {"x-tenant"};
  EXPECT_NE(make_authorizer(changed, first.get())->cache(), first->cache());
  changed = cfg;
  changed.deny_cache_ttl_seconds = 5;
  EXPECT_NE(make_authorizer(changed, first.get())->cache(), first->cache());
  changed = cfg;
  changed.fail_mode = config::FailMode::Open;  // does not change a decision
  EXPECT_EQ(make_authorizer(changed, first.get())->cache(), first->cache());
  changed.cache_enabled = false;
  EXPECT_EQ(make_authorizer(changed, first.get())->cache(), nullptr);
}

}  // namespace
}  // namespace yg::authz
