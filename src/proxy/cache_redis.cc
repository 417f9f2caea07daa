#include "proxy/cache_redis.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <future>
#include <random>
#include <stdexcept>
#include <utility>

#include "core/log.h"

namespace yg::proxy {

namespace asio = boost::asio;

namespace {

redis::Endpoint parse_endpoint(std::string_view hp) {
  redis::Endpoint e;
  std::string_view host = hp, port;
  if (hp.starts_with('[')) {
    const auto close = hp.find(']');
    if (close == std::string_view::npos) {
      throw std::invalid_argument("'" + std::string(hp) + "' is not host:port");
    }
    host = hp.substr(1, close - 1);
    if (close + 1 < hp.size() && hp[close + 1] == ':') {
      port = hp.substr(close + 2);
    }
  } else if (const auto colon = hp.rfind(':'); colon != std::string_view::npos) {
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
  }
  e.host = std::string(host);
  if (!port.empty()) {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc{} || end != port.data() + port.size() || v == 0 || v > 65535) {
      throw std::invalid_argument("'" + std::string(hp) + "' has an invalid port");
    }
    e.port = static_cast<uint16_t>(v);
  }
  return e;
}

std::string random_id() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return fmt::format("{:016x}", v);
}

}  // namespace

redis::ClientOptions redis_client_options(const config::RedisCacheConfig& c) {
  redis::ClientOptions o;
  if (!c.redis_url.empty()) {
    auto r = boost::urls::parse_uri(c.redis_url);
    if (!r) {
      throw std::invalid_argument("cache.redis.redis_url is not a URL");
    }
    const auto& u = *r;
    o.tls = u.scheme() == "rediss";
    if (u.has_userinfo()) {
      o.username = u.user();
      if (u.has_password()) {
        o.password = Secret(u.password());
      }
    }
    redis::Endpoint e;
    e.host = u.host_type() == boost::urls::host_type::ipv6 ? u.host_address() : u.host();
    if (u.has_port()) {
      e.port = u.port_number();
    }
    o.nodes.push_back(e);
    const std::string path = u.path();
    if (path.size() > 1) {
      unsigned db = 0;
      const auto [end, ec] = std::from_chars(path.data() + 1, path.data() + path.size(), db);
      if (ec != std::errc{} || end != path.data() + path.size()) {
        throw std::invalid_argument("cache.redis.redis_url: the path must be a database number");
      }
      o.db = db;
    }
  }
  if (!c.redis_username.empty()) {
    o.username = c.redis_username;
  }
  if (!c.redis_password.empty()) {
    o.password = c.redis_password;
  }
  if (c.redis_db != 0) {
    o.db = static_cast<uint32_t>(c.redis_db);
  }
  if (!c.cluster.empty()) {
    o.cluster = true;
    o.db = 0;
    for (const auto& s : c.cluster) {
      auto e = parse_endpoint(s);
      if (std::find(o.nodes.begin(), o.nodes.end(), e) == o.nodes.end()) {
        o.nodes.push_back(std::move(e));
      }
    }
  }
  o.tls_ca_file = c.tls_ca_file;
  o.pool_size = static_cast<std::size_t>(c.pool_size);
  o.connect_timeout = std::chrono::milliseconds(c.connect_timeout_ms);
  o.command_timeout = std::chrono::milliseconds(c.command_timeout_ms);
  // A value is at most one stored object plus its metadata; anything much larger is not ours.
  o.max_reply_bytes = static_cast<std::size_t>(c.max_value_size_mb) * 1024 * 1024 + (1u << 20);
  return o;
}

FillLock::FillLock(std::shared_ptr<redis::Client> client, std::string key_prefix,
                   std::chrono::milliseconds ttl)
    : client_(std::move(client)), prefix_(std::move(key_prefix)), ttl_(ttl) {}

asio::awaitable<FillLock::Attempt> FillLock::acquire(const std::string& key) {
  Attempt a;
  a.token = random_id();
  redis::Command c;
  c.arg("SET")
      .arg(lock_key(key))
      .arg(a.token)
      .arg("NX")
      .arg("PX")
      .arg(static_cast<int64_t>(ttl_.count()));
  auto r = co_await client_->exec(std::move(c));
  if (!r.ok() || r.reply.is_error()) {
    ++unavailable;
    a.state = State::Unavailable;
  } else if (r.reply.is_nil()) {
    a.state = State::Held;
  } else {
    ++acquired;
    a.state = State::Acquired;
  }
  co_return a;
}

asio::awaitable<bool> FillLock::held(const std::string& key) {
  redis::Command c{"EXISTS", lock_key(key)};
  auto r = co_await client_->exec(std::move(c));
  co_return r.ok() && r.reply.is_integer() && r.reply.integer > 0;
}

asio::awaitable<void> FillLock::release(std::string key, std::string token) {
  redis::Command c;
  c.arg("EVAL")
      .arg(
          "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
          "else return 0 end")
      .arg("1")
      .arg(lock_key(key))
      .arg(token)
      .key_index(3);
  co_await client_->exec(std::move(c));  // a lock that cannot be deleted expires by itself
}

PurgeBus::PurgeBus(std::shared_ptr<redis::Client> client, const config::RedisCacheConfig& c,
                   cache::TieredCache& engine)
    : client_(std::move(client)),
      engine_(engine),
      channel_(c.redis_key_prefix + "purge"),
      instance_(random_id()),
      work_(io_.get_executor()) {
  sub_ = redis::Subscriber::start(
      io_.get_executor(), client_->options(), {channel_},
      [this](const std::string&, const std::string& payload) { on_message(payload); });
  thread_ = std::thread([this] { io_.run(); });
  log::get("cache")->info("redis purge propagation on channel {} (instance {})", channel_,
                          instance_);
}

PurgeBus::~PurgeBus() {
  // stop() must run on the subscriber's executor so no callback follows it. Purges being applied
  // may be waiting on the disk layer's threads, which post back here: let them end (bounded)
  // before the context goes.
  std::promise<void> stopped;
  asio::post(io_, [this, &stopped] {
    sub_->stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  const auto until = SteadyClock::now() + std::chrono::seconds(5);
  while (applying_.load() != 0 && SteadyClock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  asio::post(io_, [this] {
    work_.reset();
    io_.stop();
  });
  thread_.join();
}

bool PurgeBus::subscribed() const noexcept {
  return sub_ && sub_->subscribed();
}

asio::awaitable<void> PurgeBus::publish(std::string prefix) {
  redis::Command c{"PUBLISH", channel_};
  c.arg("1 " + instance_ + " " + prefix).key_index(-1);
  auto r = co_await client_->exec(std::move(c));
  if (!r.ok() || !r.reply.is_integer()) {
    publish_failed_.fetch_add(1);
    log::get("cache")->warn(
        "purge not propagated to other instances (redis {}: {}); their copies expire with their "
        "ttl",
        redis::errc_name(r.err), r.ok() ? r.reply.str : r.detail);
    co_return;
  }
  published_.fetch_add(1);
}

void PurgeBus::on_message(const std::string& payload) {
  // "1 <instance> <prefix>": the prefix is the rest, spaces included.
  if (!payload.starts_with("1 ")) {
    return;
  }
  const auto space = payload.find(' ', 2);
  if (space == std::string::npos) {
    return;
  }
  if (std::string_view(payload).substr(2, space - 2) == instance_) {
    return;  // ours: already applied
  }
  received_.fetch_add(1);
  applying_.fetch_add(1);
  asio::co_spawn(io_, apply(this, payload.substr(space + 1)), asio::detached);
}

asio::awaitable<void> PurgeBus::apply(PurgeBus* self, std::string prefix) {
  try {
    const auto counts = co_await self->engine_.remove_prefix(prefix, /*local_only=*/true);
    std::size_t n = 0;
    for (const auto& [layer, c] : counts) {
      n += c;
    }
    self->applied_.fetch_add(1);
    log::get("cache")->info("purge from another instance applied: prefix '{}', {} removed", prefix,
                            n);
  } catch (const std::exception& e) {
    log::get("cache")->warn("purge from another instance failed: {}", e.what());
  }
  self->applying_.fetch_sub(1);
}

}  // namespace yg::proxy
