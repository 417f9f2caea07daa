#include "redis/connection.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>

namespace yg::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
// Bodies up to this size are copied into the staging buffer (one iovec for many commands);
// larger ones are written from the Command itself.
constexpr std::size_t kCopyLimit = 16 * 1024;
constexpr std::string_view kAsking = "*1\r\n$6\r\nASKING\r\n";
}  // namespace

Connection::Connection(asio::any_io_executor strand, std::shared_ptr<Shared> shared, Endpoint node,
                       std::string node_key, std::weak_ptr<ContextPools> pools)
    : ex_(strand),
      shared_(std::move(shared)),
      node_(std::move(node)),
      node_key_(std::move(node_key)),
      pools_(std::move(pools)),
      transport_(strand, shared_->tls),
      reader_(shared_->opts.max_reply_bytes),
      timer_(strand),
      rbuf_(kReadChunk) {}

void Connection::start() {
  asio::co_spawn(ex_, run(shared_from_this()), asio::detached);
}

void Connection::enqueue(std::shared_ptr<const Command> cmd, std::shared_ptr<BatchOp> op,
                         std::size_t index, bool asking) {
  Pending p;
  p.cmd = std::move(cmd);
  p.op = std::move(op);
  p.index = index;
  p.asking = asking;
  p.skip = asking ? 1 : 0;
  p.deadline = Clock::now() + shared_->opts.command_timeout;
  queued_.push_back(std::move(p));
  if (state_ == State::Ready) {
    arm_timer();
  }
}

void Connection::flush() {
  if (state_ != State::Ready || writing_ || queued_.empty()) {
    return;
  }
  // Segments of the write: [off, off+len) of staging_ when ext is null, else ext[0, len).
  struct Seg {
    const char* ext;
    std::size_t off, len;
  };
  std::vector<Seg> segs;
  staging_.clear();
  std::size_t seg_start = 0;
  auto close_staging = [&] {
    if (staging_.size() > seg_start) {
      segs.push_back({nullptr, seg_start, staging_.size() - seg_start});
      seg_start = staging_.size();
    }
  };
  while (!queued_.empty()) {
    Pending& p = queued_.front();
    if (p.asking) {
      staging_.append(kAsking);
    }
    staging_.append(p.cmd->header());
    const std::string& body = p.cmd->body();
    if (body.size() <= kCopyLimit) {
      staging_.append(body);
    } else {
      close_staging();
      segs.push_back({body.data(), 0, body.size()});
      writing_cmds_.push_back(p.cmd);
    }
    inflight_.push_back(std::move(p));
    queued_.pop_front();
  }
  close_staging();
  bufs_.clear();
  for (const Seg& s : segs) {
    bufs_.push_back(s.ext != nullptr ? asio::buffer(s.ext, s.len)
                                     : asio::buffer(staging_.data() + s.off, s.len));
  }
  writing_ = true;
  transport_.async_write(
      bufs_,
      asio::bind_executor(ex_, [self = shared_from_this()](const boost::system::error_code& ec,
                                                           std::size_t) { self->on_written(ec); }));
}

void Connection::on_written(const boost::system::error_code& ec) {
  writing_ = false;
  writing_cmds_.clear();
  if (staging_.capacity() > 1024 * 1024) {
    std::string().swap(staging_);  // do not keep a large batch's buffer per connection
  }
  if (state_ != State::Ready) {
    return;
  }
  if (ec) {
    close(Errc::closed, "write to " + node_key_ + ": " + ec.message());
    return;
  }
  flush();
}

void Connection::arm_timer() {
  if (timer_armed_ || state_ != State::Ready) {
    return;
  }
  const Pending* oldest =
      !inflight_.empty() ? &inflight_.front() : (!queued_.empty() ? &queued_.front() : nullptr);
  if (oldest == nullptr) {
    return;
  }
  timer_armed_ = true;
  timer_.expires_at(oldest->deadline);
  timer_.async_wait(asio::bind_executor(
      ex_,
      [self = shared_from_this()](const boost::system::error_code& ec) { self->on_timer(ec); }));
}

void Connection::on_timer(const boost::system::error_code& ec) {
  timer_armed_ = false;
  if (ec || state_ != State::Ready) {
    return;
  }
  const Pending* oldest =
      !inflight_.empty() ? &inflight_.front() : (!queued_.empty() ? &queued_.front() : nullptr);
  if (oldest == nullptr) {
    return;
  }
  if (oldest->deadline <= Clock::now()) {
    const std::size_t n = load();
    uint64_t suppressed = 0;
    if (shared_->timeout_log.allow(suppressed)) {
      shared_->log->warn(
          "redis: no reply from {} within {} ms; dropping the connection with {} command(s) in "
          "flight ({} similar events suppressed)",
          node_key_, shared_->opts.command_timeout.count(), n, suppressed);
    }
    AtomicStats::inc(shared_->stats.timeouts, n);
    close(Errc::timeout, "no reply from " + node_key_ + " within " +
                             std::to_string(shared_->opts.command_timeout.count()) + " ms");
    return;
  }
  arm_timer();
}

void Connection::on_reply(Reply&& r) {
  if (inflight_.empty()) {
    close(Errc::protocol, "reply from " + node_key_ + " without a command");
    return;
  }
  Pending& p = inflight_.front();
  if (p.skip > 0) {
    --p.skip;  // ASKING's reply; the command's own follows
    return;
  }
  Pending done = std::move(p);
  inflight_.pop_front();
  done.op->set(done.index, Result{Errc::ok, std::move(r), {}});
}

void Connection::fail_all(Errc e, const std::string& detail) {
  std::deque<Pending> a = std::move(inflight_), b = std::move(queued_);
  inflight_.clear();
  queued_.clear();
  for (auto* q : {&a, &b}) {
    for (Pending& p : *q) {
      p.op->set(p.index, Result{e, {}, detail});
    }
  }
}

void Connection::close(Errc e, const std::string& detail) {
  if (state_ == State::Closed) {
    return;
  }
  const bool was_ready = state_ == State::Ready;
  state_ = State::Closed;
  transport_.close();
  timer_.cancel();
  fail_all(e, detail);
  if (auto pools = pools_.lock()) {
    pools->on_closed(*this, was_ready);
  }
}

void Connection::abandon() noexcept {
  state_ = State::Closed;
  transport_.close();
  timer_.cancel();
  inflight_.clear();
  queued_.clear();
}

asio::awaitable<void> Connection::run(std::shared_ptr<Connection> self) {
  (void)self;  // keeps this connection alive while its coroutine runs
  try {
    co_await connect_and_read();
  } catch (const std::exception& ex) {
    close(Errc::closed, std::string("connection to ") + node_key_ + " failed: " + ex.what());
  }
}

asio::awaitable<void> Connection::connect_and_read() {
  const ClientOptions& o = shared_->opts;
  timer_.expires_after(o.connect_timeout);
  timer_.async_wait(
      asio::bind_executor(ex_, [w = weak_from_this()](const boost::system::error_code& ec) {
        auto s = w.lock();
        if (!ec && s && s->state_ == State::Connecting) {
          s->connect_timed_out_ = true;
          s->transport_.close();
        }
      }));

  std::string err = co_await transport_.connect(node_);
  if (err.empty() && state_ == State::Connecting) {
    const std::vector<Command> cmds = handshake_commands(o, !o.cluster);
    std::vector<Reply> replies;
    err = co_await roundtrip(transport_, reader_, rbuf_, cmds, replies);
    if (err.empty()) {
      err = check_handshake(cmds, replies);
    }
  }
  if (state_ != State::Connecting) {
    co_return;  // abandoned or closed meanwhile
  }
  if (connect_timed_out_) {
    err = "connect to " + node_key_ + " timed out after " +
          std::to_string(o.connect_timeout.count()) + " ms";
  }
  timer_.cancel();
  if (!err.empty()) {
    state_ = State::Closed;
    transport_.close();
    if (auto pools = pools_.lock()) {
      pools->on_connect_failed(*this, err);
    }
    fail_all(Errc::unavailable, err);
    co_return;
  }

  state_ = State::Ready;
  if (auto pools = pools_.lock()) {
    pools->on_connected(*this);
  }
  // Commands that queued during the handshake start their clock now.
  const auto deadline = Clock::now() + o.command_timeout;
  for (Pending& p : queued_) {
    p.deadline = deadline;
  }
  flush();
  arm_timer();

  for (;;) {
    auto [ec, n] = co_await transport_.read_some(asio::buffer(rbuf_));
    if (state_ != State::Ready) {
      co_return;
    }
    if (ec) {
      close(Errc::closed, ec == asio::error::eof
                              ? "connection to " + node_key_ + " closed by the server"
                              : "read from " + node_key_ + ": " + ec.message());
      co_return;
    }
    if (!reader_.feed(rbuf_.data(), n)) {
      close(Errc::protocol, "reply from " + node_key_ + ": " + reader_.error());
      co_return;
    }
    for (;;) {
      Reply r;
      const auto st = reader_.next(r);
      if (st == ReplyReader::Status::NeedMore) {
        break;
      }
      if (st == ReplyReader::Status::Error) {
        close(Errc::protocol, "reply from " + node_key_ + ": " + reader_.error());
        co_return;
      }
      on_reply(std::move(r));
      if (state_ != State::Ready) {
        co_return;
      }
    }
  }
}

}  // namespace yg::redis
