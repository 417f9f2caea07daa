#pragma once
// Writing a complete response the proxy builds itself (errors, health, metrics, admin, cache
// answers): the send timeout, the exchange's status / first-byte time / body bytes.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <type_traits>

#include "net/server/client_stream.h"
#include "proxy/exchange.h"

namespace yg::proxy {

inline constexpr auto kSendTimeout = std::chrono::seconds(60);

// Writes `res` whole; counts a string body's bytes once written. Returns whether it was written.
template <class Response>
boost::asio::awaitable<bool> write_response(net::ClientStream& stream, Exchange& ex,
                                            Response& res) {
  stream.expires_after(kSendTimeout);
  ex.status = res.result_int();
  ex.mark_first_byte();
  auto [ec, n] = co_await boost::beast::http::async_write(
      stream, res, boost::asio::as_tuple(boost::asio::use_awaitable));
  if constexpr (std::is_same_v<typename Response::body_type, boost::beast::http::string_body>) {
    if (!ec) {
      ex.bytes_sent += res.body().size();
    }
  }
  co_return !ec;
}

// A small complete response from the proxy itself, never cached (Cache-Control: no-store).
// Returns whether the connection may serve another request.
boost::asio::awaitable<bool> serve_text(net::ClientStream& stream, Exchange& ex,
                                        boost::beast::http::status status, std::string_view type,
                                        std::string body, bool keep_alive);
boost::asio::awaitable<bool> serve_json(net::ClientStream& stream, Exchange& ex,
                                        boost::beast::http::status status,
                                        const boost::json::object& body, bool keep_alive);

}  // namespace yg::proxy
