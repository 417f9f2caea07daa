#include "net/server/listener.h"

#include <sys/socket.h>

#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/ip/address.hpp>
#include <stdexcept>

namespace yg::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

tcp::acceptor make_listener(const asio::any_io_executor& ex, const std::string& address,
                            uint16_t port) {
  boost::system::error_code ec;
  tcp::endpoint ep;
  auto addr = asio::ip::make_address(address, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, port);
  } else {
    asio::io_context tmp;
    tcp::resolver resolver(tmp);
    auto results = resolver.resolve(address, std::to_string(port), ec);
    if (ec || results.empty()) {
      throw std::runtime_error("cannot resolve listen address '" + address + "': " + ec.message());
    }
    ep = results.begin()->endpoint();
  }
  tcp::acceptor acc(ex);
  acc.open(ep.protocol());
  acc.set_option(asio::socket_base::reuse_address(true));
  using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  acc.set_option(reuse_port(true));
  acc.bind(ep, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + address + ":" + std::to_string(port) + ": " +
                             ec.message());
  }
  acc.listen(asio::socket_base::max_listen_connections);
  return acc;
}

}  // namespace yg::net
