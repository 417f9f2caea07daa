#pragma once
// The upstream step of the request path: sign, send to S3, map S3's answer, and stream the
// body to the client with backpressure (FEATURES.md S3-1..S3-4, HTTP-3, HTTP-6, HTTP-8).

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "proxy/exchange.h"
#include "proxy/worker.h"

namespace yg::proxy {

// Writes the whole response for `ex` to `client`. Returns whether the client connection may
// serve another request (false after a mid-stream failure, where the connection is cut so the
// client never takes a partial body for a complete one).
boost::asio::awaitable<bool> proxy_to_s3(boost::beast::tcp_stream& client, Exchange& ex, Worker& w,
                                         bool keep_alive);

}  // namespace yg::proxy
