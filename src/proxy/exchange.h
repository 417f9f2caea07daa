#pragma once
// Per-request state (STYLE.md section 3): a plain struct with a field per concern, created in
// the session's frame and passed by reference to each step of the request path.

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "net/server/request_head.h"
#include "proxy/runtime.h"

namespace yg::proxy {

enum class CacheStatus { Bypass, Miss, Hit, Stale, Revalidated };
std::string_view to_string(CacheStatus s) noexcept;

struct Exchange {
  // request
  std::string request_id;
  const net::RequestHead* head = nullptr;
  boost::asio::ip::tcp::endpoint client;
  SteadyClock::time_point start{};
  SteadyClock::time_point
      deadline{};  // start + server.request_timeout: bounds time to response head
  std::shared_ptr<const Runtime> runtime;  // the snapshot this request started with
  bool head_only = false;                  // HEAD request

  // route
  const BucketRuntime* bucket = nullptr;
  std::string key;                                         // decoded object key
  std::vector<std::pair<std::string, std::string>> query;  // decoded client query

  // outcome
  unsigned status = 0;
  uint64_t bytes_sent = 0;  // body bytes written to the client
  CacheStatus cache_status = CacheStatus::Bypass;
  std::string upstream;  // replica name that served, if any
};

}  // namespace yg::proxy
