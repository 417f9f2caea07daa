#include "auth/jwks.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/string_body.hpp>
#include <stdexcept>

#include "core/log.h"
#include "net/client/http_call.h"

namespace yg::auth {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxJwksBytes = 1024 * 1024;
}  // namespace

struct JwksClient::Impl {
  JwksClient& owner;
  asio::io_context io{1};
  net::UpstreamPool pool{io.get_executor()};
  net::ServiceUrl svc;
  std::chrono::seconds refresh, min_refetch, timeout;
  asio::steady_timer wake{io};
  bool fetch_requested = false;
  std::chrono::steady_clock::time_point last_fetch{};
  std::atomic<uint64_t> ok{0}, failed{0}, refetches{0};
  std::atomic<bool> ready{false};
  std::shared_ptr<spdlog::logger> log = log::get("jwks");

  explicit Impl(JwksClient& o) : owner(o) {}

  asio::awaitable<void> fetch_once() {
    last_fetch = std::chrono::steady_clock::now();
    http::request<http::string_body> req{http::verb::get, svc.target_path, 11};
    req.set(http::field::accept, "application/json");
    req.set(http::field::user_agent, "yatagarasu-jwks");
    std::string why;
    auto r = co_await net::call(pool, svc, req, SteadyClock::now() + timeout, 0, kMaxJwksBytes,
                                {.detail = &why});
    std::optional<std::string> body;
    if (!r) {
    } else if (r->status != 200) {
      why = "HTTP " + std::to_string(r->status);
    } else {
      body = std::move(r->body);
    }
    if (body) {
      auto set = parse_jwks(*body);
      if (!set.error.empty()) {
        why = "not a usable JWK Set: " + set.error;
      } else if (set.keys.empty()) {
        why = "the JWK Set has no usable signature key";
      } else {
        const std::size_t n = set.keys.size();
        owner.keys_.store(std::make_shared<const std::vector<Key>>(std::move(set.keys)));
        ok.fetch_add(1);
        const bool first = !ready.exchange(true);
        log->info("JWKS {}: {} key(s) loaded{}{}", owner.log_url_, n,
                  set.skipped.empty() ? "" : ", skipped: ",
                  set.skipped.empty() ? "" : set.skipped.front());
        (void)first;
        co_return;
      }
    }
    failed.fetch_add(1);
    log->warn("JWKS {} fetch failed ({}); keeping the last good set ({})", owner.log_url_, why,
              ready.load() ? "present" : "none yet: tokens needing it are refused");
  }

  asio::awaitable<void> run() {
    for (;;) {
      try {
        co_await fetch_once();
      } catch (const std::exception& e) {
        // Never let one bad fetch end the refresh loop (stale keys would stay trusted).
        failed.fetch_add(1);
        log->error("JWKS {} fetch failed: {}", owner.log_url_, e.what());
      }
      fetch_requested = false;
      // Sleep until the refresh is due or a refetch is asked for (and allowed). Before the
      // first good fetch, retry every min_refetch (bounded by refresh).
      const auto next = ready.load() ? refresh : std::min(refresh, min_refetch);
      wake.expires_after(next);
      auto [ec] = co_await wake.async_wait(use_tuple);
      if (ec && !fetch_requested) {
        // cancelled without a request: io is stopping
        if (io.stopped()) {
          co_return;
        }
      }
      if (fetch_requested) {
        const auto since = std::chrono::steady_clock::now() - last_fetch;
        if (since < min_refetch) {
          wake.expires_after(min_refetch - since);
          co_await wake.async_wait(use_tuple);
        }
        refetches.fetch_add(1);
      }
    }
  }
};

JwksClient::JwksClient(std::string url, std::chrono::seconds refresh,
                       std::chrono::seconds min_refetch,
                       std::shared_ptr<const std::vector<Key>> seed, std::chrono::seconds timeout)
    : url_(std::move(url)), impl_(std::make_unique<Impl>(*this)) {
  const bool seeded = seed && !seed->empty();
  keys_.store(seeded ? std::move(seed) : std::make_shared<const std::vector<Key>>());
  impl_->ready.store(seeded);
  try {
    impl_->svc = net::parse_service_url(url_, "jwks");
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("jwks_url is not an http(s) URL");
  }
  log_url_ = impl_->svc.for_logs;
  impl_->refresh = std::max(refresh, std::chrono::seconds(1));
  impl_->min_refetch = min_refetch;
  impl_->timeout = timeout;
  asio::co_spawn(impl_->io, impl_->run(), asio::detached);
  thread_ = std::thread([this] { impl_->io.run(); });
}

JwksClient::~JwksClient() {
  impl_->io.stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void JwksClient::unknown_kid() {
  asio::post(impl_->io, [impl = impl_.get()] {
    if (!impl->fetch_requested) {
      impl->fetch_requested = true;
      impl->wake.cancel();
    }
  });
}

JwksStats JwksClient::stats() const {
  JwksStats s;
  s.fetches_ok = impl_->ok.load();
  s.fetches_failed = impl_->failed.load();
  s.refetches_on_unknown_kid = impl_->refetches.load();
  s.ready = impl_->ready.load();
  s.keys = keys()->size();
  return s;
}

}  // namespace yg::auth
