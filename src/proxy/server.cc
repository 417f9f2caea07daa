#include "proxy/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <string>

#include "core/log.h"
#include "net/server/listener.h"
#include "proxy/session.h"

namespace yg::proxy {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr int kAcceptBatch = 63;  // extra connections taken per wake-up

asio::awaitable<void> accept_loop(Worker& w, tcp::acceptor& acceptor, Listener on) {
  acceptor.non_blocking(true);
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) {
        co_return;
      }
      // EMFILE and friends: back off briefly instead of spinning.
      log::get("server")->warn("accept failed: {}", ec.message());
      asio::steady_timer t(w.io, std::chrono::milliseconds(50));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    w.metrics.connections_accepted.add();
    asio::co_spawn(w.io, run_session(std::move(sock), w, on), asio::detached);
    // Take what else is already queued before yielding to the sessions: one connection per
    // wake-up left a burst of new clients waiting seconds in the listen queue behind busy
    // connections (10k-connection campaign). Bounded so accepting cannot starve requests.
    // accept4 on the listening socket itself, not Asio's synchronous accept: that one falls back
    // to a blocking poll() on ECONNABORTED/EPROTO, which would freeze the whole worker.
    boost::system::error_code local_ec;
    const auto protocol = acceptor.local_endpoint(local_ec).protocol();
    for (int i = 0; i < kAcceptBatch && !local_ec; ++i) {
      const int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == ECONNABORTED || errno == EPROTO || errno == EINTR) {
          continue;  // that client gave up; look at the next one
        }
        break;  // EAGAIN: the queue is empty; anything else the next async_accept reports
      }
      tcp::socket more(w.io);
      boost::system::error_code assign_ec;
      more.assign(protocol, fd, assign_ec);
      if (assign_ec) {
        ::close(fd);
        break;
      }
      w.metrics.connections_accepted.add();
      asio::co_spawn(w.io, run_session(std::move(more), w, on), asio::detached);
    }
  }
}
}  // namespace

Server::Server(std::shared_ptr<const Runtime> rt) {
  shared_.runtime.store(std::move(rt));
}

Server::~Server() {
  for (auto& w : workers_) {
    w->io.stop();
  }
  join();
}

void Server::start() {
  auto rt = shared_.runtime.load();
  const auto& sc = rt->config.server;
  unsigned n = sc.threads != 0 ? sc.threads : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>(shared_);
    w->acceptor.emplace(net::make_listener(w->io.get_executor(), sc.address, sc.port));
    workers_.push_back(std::move(w));
  }
  // metrics.port: one listener, on the first worker (scrapes are rare and cheap).
  if (rt->config.metrics_port != 0 && rt->config.metrics_enabled) {
    auto& w0 = *workers_.front();
    w0.metrics_acceptor.emplace(net::make_listener(w0.io.get_executor(), sc.address,
                                                   static_cast<uint16_t>(rt->config.metrics_port)));
    asio::co_spawn(w0.io, accept_loop(w0, *w0.metrics_acceptor, Listener::Metrics), asio::detached);
    log::get("server")->info("metrics on {}:{}/metrics", sc.address, rt->config.metrics_port);
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto& w = workers_[i];
    asio::co_spawn(w->io, accept_loop(*w, *w->acceptor, Listener::Main), asio::detached);
    threads_.emplace_back([&io = w->io, i] {
      // Named so per-thread CPU shows in top -H and /proc/<pid>/task/*/comm (at most 15 chars).
      const std::string name = "yg-worker-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      auto guard = asio::make_work_guard(io);
      io.run();
    });
  }
  log::get("server")->info("listening on {}:{} with {} worker thread(s)", sc.address, sc.port, n);
}

void Server::swap_runtime(std::shared_ptr<const Runtime> rt) {
  shared_.runtime.store(std::move(rt));
}

void Server::begin_drain() {
  if (shared_.draining.exchange(true)) {
    return;
  }
  for (auto& w : workers_) {
    asio::post(w->io, [&w = *w] {
      boost::system::error_code ec;
      if (w.acceptor) {
        w.acceptor->close(ec);
      }
      for (auto* s : w.idle) {
        s->socket().cancel(ec);  // the session sees the cancellation and closes
      }
    });
  }
}

void Server::stop() {
  for (auto& w : workers_) {
    w->io.stop();
  }
}

void Server::drain(std::chrono::seconds timeout) {
  begin_drain();
  const auto until = SteadyClock::now() + timeout;
  for (;;) {
    const std::size_t open = open_connections();
    if (open == 0) {
      break;
    }
    if (SteadyClock::now() >= until) {
      log::get("server")->warn("shutdown timeout: closing {} connection(s) still open", open);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop();
}

void Server::join() {
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

}  // namespace yg::proxy
