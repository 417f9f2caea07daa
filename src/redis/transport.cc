#include "redis/transport.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace yg::redis {

namespace asio = boost::asio;
using asio::ip::tcp;

Transport::Transport(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> tls)
    : ex_(ex), tls_ctx_(std::move(tls)), resolver_(ex), tcp_(ex) {}

asio::awaitable<std::string> Transport::connect(Endpoint ep) {
  constexpr auto tok = asio::as_tuple(asio::use_awaitable);
  boost::system::error_code addr_ec;
  const auto addr = asio::ip::make_address(ep.host, addr_ec);
  const bool is_ip = !addr_ec;

  std::vector<tcp::endpoint> targets;
  if (is_ip) {
    targets.emplace_back(addr, ep.port);
  } else {
    auto [ec, results] = co_await resolver_.async_resolve(ep.host, std::to_string(ep.port), tok);
    if (ec) {
      co_return "resolve " + ep.host + ": " + ec.message();
    }
    for (const auto& r : results) {
      targets.push_back(r.endpoint());
    }
  }

  tcp::socket& sock = tls_ctx_ ? tls_.emplace(ex_, *tls_ctx_).next_layer() : tcp_;
  auto [ec, connected] = co_await asio::async_connect(sock, targets, tok);
  (void)connected;
  if (ec) {
    co_return "connect " + ep.to_string() + ": " + ec.message();
  }
  sock.set_option(tcp::no_delay(true));
  if (!tls_) {
    co_return "";
  }

  // SNI only for names (RFC 6066 section 3: literal IPs are not sent); the verify callback
  // checks the name, or the IP against the certificate's IP SANs.
  if (!is_ip && SSL_set_tlsext_host_name(tls_->native_handle(), ep.host.c_str()) != 1) {
    co_return "TLS: cannot set SNI";
  }
  tls_->set_verify_mode(asio::ssl::verify_peer);
  tls_->set_verify_callback(asio::ssl::host_name_verification(ep.host));
  auto [hec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, tok);
  if (hec) {
    co_return "TLS handshake with " + ep.to_string() + ": " + hec.message();
  }
  co_return "";
}

void Transport::close() noexcept {
  boost::system::error_code ignored;
  resolver_.cancel();
  if (tls_) {
    tls_->next_layer().close(ignored);
  } else {
    tcp_.close(ignored);
  }
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> Transport::read_some(
    asio::mutable_buffer b) {
  constexpr auto tok = asio::as_tuple(asio::use_awaitable);
  if (tls_) {
    co_return co_await tls_->async_read_some(b, tok);
  }
  co_return co_await tcp_.async_read_some(b, tok);
}

std::vector<Command> handshake_commands(const ClientOptions& o, bool select_db) {
  std::vector<Command> cmds;
  if (!o.password.empty()) {
    Command auth{"AUTH"};
    if (!o.username.empty()) {
      auth.arg(o.username);
    }
    auth.arg(o.password.reveal());
    cmds.push_back(std::move(auth.key_index(-1)));
  }
  if (select_db && o.db != 0) {
    Command sel{"SELECT"};
    sel.arg(static_cast<int64_t>(o.db)).key_index(-1);
    cmds.push_back(std::move(sel));
  }
  return cmds;
}

asio::awaitable<std::string> roundtrip(Transport& t, ReplyReader& reader, std::vector<char>& buf,
                                       const std::vector<Command>& cmds, std::vector<Reply>& out) {
  out.clear();
  if (cmds.empty()) {
    co_return "";
  }
  std::vector<std::string> headers;
  std::vector<asio::const_buffer> bufs;
  headers.reserve(cmds.size());
  for (const auto& c : cmds) {
    headers.push_back(c.header());
  }
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    bufs.push_back(asio::buffer(headers[i]));
    bufs.push_back(asio::buffer(cmds[i].body()));
  }
  auto [wec, wn] = co_await t.write(bufs);
  (void)wn;
  if (wec) {
    co_return "write: " + wec.message();
  }
  while (out.size() < cmds.size()) {
    Reply r;
    const auto st = reader.next(r);
    if (st == ReplyReader::Status::Reply) {
      out.push_back(std::move(r));
      continue;
    }
    if (st == ReplyReader::Status::Error) {
      co_return "protocol: " + reader.error();
    }
    auto [ec, n] = co_await t.read_some(asio::buffer(buf));
    if (ec) {
      co_return ec == asio::error::eof ? std::string("connection closed by the server")
                                       : "read: " + ec.message();
    }
    if (!reader.feed(buf.data(), n)) {
      co_return "protocol: " + reader.error();
    }
  }
  co_return "";
}

std::string check_handshake(const std::vector<Command>& cmds, const std::vector<Reply>& replies) {
  for (std::size_t i = 0; i < replies.size() && i < cmds.size(); ++i) {
    if (replies[i].is_error()) {
      // The command name is the first bulk: "$4\r\nAUTH\r\n..." / "$6\r\nSELECT\r\n...".
      const std::string_view body = cmds[i].body();
      const bool auth = body.substr(4, 4) == "AUTH";
      return std::string(auth ? "AUTH" : "SELECT") + " failed: " + replies[i].str;
    }
  }
  return "";
}

}  // namespace yg::redis
