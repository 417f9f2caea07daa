#pragma once
// A scripted HTTP/1.1 server on 127.0.0.1 for C++ unit tests of client code (net::call, the
// authorizers): a thread with blocking sockets, one handler thread per connection, answers
// chosen by (connection index, request index). Not a real server: only for misbehaviour that
// real servers will not produce on demand (interim responses, closes, silence).

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace yg::test {

// Accepts connections on 127.0.0.1 and answers each request head with
// script(connection index, request index on that connection). An empty answer closes the
// connection without replying.
class ScriptedServer {
 public:
  using Script = std::function<std::string(int conn, int req)>;
  explicit ScriptedServer(Script s)
      : script_(std::move(s)), acceptor_(io_, {boost::asio::ip::tcp::v4(), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket poke(io_);
    poke.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int connections() const { return conns_.load(); }
  int requests() const { return reqs_.load(); }

 private:
  void run() {
    std::vector<std::thread> handlers;
    while (!stop_) {
      boost::asio::ip::tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) {
        break;
      }
      const int c = conns_++;
      handlers.emplace_back(
          [this, c, sock = std::move(s)]() mutable { serve(std::move(sock), c); });
    }
    for (auto& h : handlers) {
      h.join();
    }
  }
  void serve(boost::asio::ip::tcp::socket s, int c) {
    boost::asio::streambuf buf;
    for (int r = 0;; ++r) {
      boost::system::error_code ec;
      const std::size_t n = boost::asio::read_until(s, buf, "\r\n\r\n", ec);
      if (ec) {
        return;
      }
      std::string head(static_cast<const char*>(buf.data().data()), n);
      buf.consume(n);
      // Bodies are small JSON with Content-Length: read and drop them.
      if (auto p = head.find("Content-Length: "); p != std::string::npos) {
        const std::size_t len = std::stoul(head.substr(p + 16));
        if (buf.size() < len) {
          boost::asio::read(s, buf, boost::asio::transfer_exactly(len - buf.size()), ec);
        }
        buf.consume(len);
      }
      ++reqs_;
      const std::string answer = script_(c, r);
      if (answer.empty()) {
        return;
      }
      if (answer.rfind("SLEEP", 0) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(answer.substr(5))));
        return;
      }
      boost::asio::write(s, boost::asio::buffer(answer), ec);
      if (ec) {
        return;
      }
    }
  }

  Script script_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> conns_{0}, reqs_{0};
};

inline std::string ok(std::string_view body, bool close = false) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" +
         std::string(body);
}

}  // namespace yg::test
