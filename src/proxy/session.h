#pragma once
// One coroutine per client connection (STYLE.md section 5.4): reads request heads, answers
// special endpoints, walks the request path for bucket requests, and keeps the connection
// alive between requests (HTTP/1.1 keep-alive and pipelining, FEATURES.md HTTP-9).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/worker.h"

namespace yg::proxy {

// Runs on `w`'s thread until the connection closes. Never throws.
boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket, Worker& w,
                                         Listener on = Listener::Main);

}  // namespace yg::proxy
