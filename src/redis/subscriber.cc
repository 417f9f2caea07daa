// Subscriber: one dedicated connection that stays SUBSCRIBEd, reconnecting with backoff.
//
// Threads: the connection lives on a strand of the given executor; messages are posted to the
// executor itself, each checking the stopped flag right before the handler runs, so after stop()
// returns on that (serial) executor no handler runs. Liveness: a PING every second on the
// subscribed connection; 3 s without any data from the server (a hung or partitioned node)
// closes it and resubscribes elsewhere.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <stdexcept>

#include "core/log.h"
#include "redis/client.h"
#include "redis/reply_reader.h"
#include "redis/shared.h"
#include "redis/topology.h"
#include "redis/transport.h"

namespace yg::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::seconds kPingInterval{1};
constexpr std::chrono::seconds kSilenceLimit{3};
constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";

// One connection's worth of state; the ping timer's callbacks hold it, not the Subscriber's
// next connection.
struct Session {
  Session(const asio::any_io_executor& strand, std::shared_ptr<asio::ssl::context> tls)
      : transport(strand, std::move(tls)), ping(strand) {}
  Transport transport;
  asio::steady_timer ping;
  Clock::time_point last_rx = Clock::now();
  bool ping_writing = false;
  bool closed = false;
  bool timed_out = false;  // connect_timeout expired
  void close() {
    closed = true;
    ping.cancel();
    transport.close();
  }
};

// Every kPingInterval: close when the server has been silent too long, else PING (the reply,
// ["pong", ""], counts as data).
void arm_ping(std::shared_ptr<Session> s) {
  s->ping.expires_after(kPingInterval);
  s->ping.async_wait([s](const boost::system::error_code& ec) {
    if (ec || s->closed) {
      return;
    }
    if (Clock::now() - s->last_rx > kSilenceLimit) {
      s->close();  // the read loop ends and the run loop resubscribes
      return;
    }
    if (!s->ping_writing) {
      s->ping_writing = true;
      s->transport.async_write(
          asio::buffer(kPing.data(), kPing.size()),
          [s](const boost::system::error_code&, std::size_t) { s->ping_writing = false; });
    }
    arm_ping(s);
  });
}

class SubscriberImpl : public std::enable_shared_from_this<SubscriberImpl> {
 public:
  SubscriberImpl(asio::any_io_executor ex, ClientOptions o, std::vector<std::string> channels,
                 Subscriber::Handler h)
      : ex_(ex),
        strand_(asio::make_strand(ex)),
        opts_(std::move(o)),
        tls_(opts_.tls ? make_tls_context(opts_) : nullptr),
        channels_(std::move(channels)),
        handler_(std::move(h)),
        log_(yg::log::get("redis")),
        wait_timer_(strand_),
        candidates_(opts_.nodes) {}

  void begin() { asio::co_spawn(strand_, run(shared_from_this()), asio::detached); }

  void stop() {
    if (stopped_.exchange(true)) {
      return;
    }
    subscribed_.store(false);
    asio::post(strand_, [self = shared_from_this()] {
      self->wait_timer_.cancel();
      if (self->session_) {
        self->session_->close();
      }
    });
  }

  bool subscribed() const noexcept { return subscribed_.load(); }
  uint64_t reconnects() const noexcept { return reconnects_.load(); }

 private:
  asio::awaitable<void> run(std::shared_ptr<SubscriberImpl> self) {
    (void)self;
    unsigned failures = 0;
    std::size_t next = 0;
    bool down_logged = false;
    while (!stopped_) {
      const Endpoint ep = candidates_[next % candidates_.size()];
      bool reached = false;  // SUBSCRIBE confirmed on this connection
      std::string why;
      try {
        why = co_await session(ep, reached);
      } catch (const std::exception& ex) {
        why = ex.what();
      }
      subscribed_.store(false);
      session_.reset();
      if (stopped_) {
        break;
      }
      if (reached) {
        failures = 0;
        log_->warn("redis: subscription on {} lost: {}; resubscribing", ep.to_string(), why);
        down_logged = false;
      } else {
        ++failures;
        ++next;  // try another node next time (cluster)
        if (!down_logged) {
          log_->warn("redis: cannot subscribe on {}: {}; retrying with backoff", ep.to_string(),
                     why);
          down_logged = true;
        }
      }
      if (failures > 0) {
        wait_timer_.expires_after(backoff_delay(opts_, failures));
        co_await wait_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      }
    }
  }

  // Connects, subscribes and reads until the connection ends; returns why it ended.
  asio::awaitable<std::string> session(Endpoint ep, bool& reached) {
    auto s = std::make_shared<Session>(strand_, tls_);
    session_ = s;
    ReplyReader reader(opts_.max_reply_bytes);
    std::vector<char> buf(16 * 1024);

    wait_timer_.expires_after(opts_.connect_timeout);
    wait_timer_.async_wait([s](const boost::system::error_code& ec) {
      if (!ec && !s->closed) {
        s->timed_out = true;
        s->close();
      }
    });
    std::string err = co_await s->transport.connect(ep);
    std::vector<Reply> replies;
    if (err.empty()) {
      const std::vector<Command> cmds = handshake_commands(opts_, false);
      err = co_await roundtrip(s->transport, reader, buf, cmds, replies);
      if (err.empty()) {
        err = check_handshake(cmds, replies);
      }
    }
    if (err.empty() && opts_.cluster) {
      // Learn the other nodes, to resubscribe elsewhere when this one goes away.
      std::vector<Command> cmds;
      cmds.push_back(Command{"CLUSTER", "SLOTS"});
      err = co_await roundtrip(s->transport, reader, buf, cmds, replies);
      if (err.empty() && !replies.empty()) {
        if (auto t = parse_cluster_slots(replies[0], ep.host)) {
          for (const auto* list : {&t->masters, &t->replicas}) {
            for (const auto& e : *list) {
              if (std::find(candidates_.begin(), candidates_.end(), e) == candidates_.end()) {
                candidates_.push_back(e);
              }
            }
          }
        }
      }
    }
    wait_timer_.cancel();
    if (s->timed_out) {
      err = "connect timed out after " + std::to_string(opts_.connect_timeout.count()) + " ms";
    }
    if (stopped_) {
      s->close();
      co_return "stopped";
    }
    if (!err.empty()) {
      s->close();
      co_return err;
    }

    Command sub{"SUBSCRIBE"};
    for (const auto& ch : channels_) {
      sub.arg(ch);
    }
    const std::string hdr = sub.header();
    const std::vector<asio::const_buffer> bufs{asio::buffer(hdr), asio::buffer(sub.body())};
    auto [wec, wn] = co_await s->transport.write(bufs);
    (void)wn;
    if (wec) {
      s->close();
      co_return "write: " + wec.message();
    }
    s->last_rx = Clock::now();
    arm_ping(s);

    std::size_t confirmed = 0;
    for (;;) {
      auto [ec, n] = co_await s->transport.read_some(asio::buffer(buf));
      if (stopped_ || s->closed) {
        s->close();
        co_return stopped_ ? "stopped" : "no data from the server for 3 s";
      }
      if (ec) {
        s->close();
        co_return ec == asio::error::eof ? std::string("connection closed by the server")
                                         : "read: " + ec.message();
      }
      s->last_rx = Clock::now();
      if (!reader.feed(buf.data(), n)) {
        s->close();
        co_return "protocol: " + reader.error();
      }
      for (;;) {
        Reply r;
        const auto st = reader.next(r);
        if (st == ReplyReader::Status::NeedMore) {
          break;
        }
        if (st == ReplyReader::Status::Error) {
          s->close();
          co_return "protocol: " + reader.error();
        }
        if (r.is_error()) {
          s->close();
          co_return "SUBSCRIBE failed: " + r.str;
        }
        if (!r.is_array() || r.elements.empty() || !r.elements[0].is_string()) {
          continue;
        }
        const std::string& kind = r.elements[0].str;
        if (kind == "message" && r.elements.size() == 3) {
          deliver(std::move(r.elements[1].str), std::move(r.elements[2].str));
        } else if (kind == "subscribe" && ++confirmed == channels_.size()) {
          reached = true;
          subscribed_.store(true);
          if (ever_subscribed_) {
            reconnects_.fetch_add(1);
            log_->info("redis: resubscribed on {}", ep.to_string());
          }
          ever_subscribed_ = true;
        }
      }
    }
  }

  void deliver(std::string channel, std::string payload) {
    asio::post(ex_, [self = shared_from_this(), channel = std::move(channel),
                     payload = std::move(payload)] {
      if (self->stopped_) {
        return;
      }
      try {
        self->handler_(channel, payload);
      } catch (const std::exception& ex) {
        self->log_->error("redis: subscriber handler threw: {}", ex.what());
      }
    });
  }

  asio::any_io_executor ex_;
  asio::any_io_executor strand_;
  ClientOptions opts_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::vector<std::string> channels_;
  Subscriber::Handler handler_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> subscribed_{false};
  std::atomic<uint64_t> reconnects_{0};
  // Strand only.
  asio::steady_timer wait_timer_;
  std::vector<Endpoint> candidates_;
  std::shared_ptr<Session> session_;
  bool ever_subscribed_ = false;
};

class SubscriberHandle final : public Subscriber {
 public:
  explicit SubscriberHandle(std::shared_ptr<SubscriberImpl> impl) : impl_(std::move(impl)) {}
  ~SubscriberHandle() override { impl_->stop(); }
  void stop() override { impl_->stop(); }
  bool subscribed() const noexcept override { return impl_->subscribed(); }
  uint64_t reconnects() const noexcept override { return impl_->reconnects(); }

 private:
  std::shared_ptr<SubscriberImpl> impl_;
};

}  // namespace

std::shared_ptr<Subscriber> Subscriber::start(asio::any_io_executor ex, ClientOptions o,
                                              std::vector<std::string> channels,
                                              Handler on_message) {
  if (o.nodes.empty()) {
    throw std::invalid_argument("redis: no node given");
  }
  if (channels.empty()) {
    throw std::invalid_argument("redis: a subscriber needs at least one channel");
  }
  auto impl = std::make_shared<SubscriberImpl>(std::move(ex), std::move(o), std::move(channels),
                                               std::move(on_message));
  impl->begin();
  return std::make_shared<SubscriberHandle>(std::move(impl));
}

}  // namespace yg::redis
