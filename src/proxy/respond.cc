#include "proxy/respond.h"

#include <boost/json/serialize.hpp>

#include "proxy/http_util.h"

namespace yg::proxy {
namespace http = boost::beast::http;

boost::asio::awaitable<bool> serve_text(net::ClientStream& stream, Exchange& ex,
                                        http::status status, std::string_view type,
                                        std::string body, bool keep_alive) {
  http::response<http::string_body> res{status, ex.head->version};
  set_common_headers(res, ex.request_id);
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  if (ex.head_only) {
    strip_body_for_head(res);
  }
  res.keep_alive(keep_alive);
  co_return co_await write_response(stream, ex, res) && keep_alive;
}

boost::asio::awaitable<bool> serve_json(net::ClientStream& stream, Exchange& ex,
                                        http::status status, const boost::json::object& body,
                                        bool keep_alive) {
  co_return co_await serve_text(stream, ex, status, "application/json",
                                boost::json::serialize(body), keep_alive);
}

}  // namespace yg::proxy
