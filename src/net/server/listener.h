#pragma once
// Listening sockets: one per worker, all bound to the same address with SO_REUSEPORT so the
// kernel spreads connections across workers (DESIGN.md section 2).

#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "core/result.h"

namespace yg::net {

// Resolves `address` (IP literal or host name; startup only, may block) and returns a listening
// acceptor bound with SO_REUSEADDR + SO_REUSEPORT. Throws std::system_error with a message
// naming the address on failure (startup wiring; see STYLE.md section 4).
boost::asio::ip::tcp::acceptor make_listener(const boost::asio::any_io_executor& ex,
                                             const std::string& address, uint16_t port);

}  // namespace yg::net
