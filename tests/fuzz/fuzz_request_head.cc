// libFuzzer target: the request-head path (find_head_end + parse_request_head) never crashes,
// and anything it accepts satisfies the invariants the session relies on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "net/server/request_head.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto end = yg::net::find_head_end(raw);
  if (end.bare_lf || end.end == std::string_view::npos) {
    return 0;
  }
  yg::net::HeadLimits lim{4096, 1024};
  auto head = yg::net::parse_request_head(raw.substr(0, end.end), lim);
  if (head) {
    if (head->target.empty() || head->target.front() != '/') {
      __builtin_trap();
    }
    if (head->chunked && head->content_length) {
      __builtin_trap();  // CL+TE must never pass
    }
    if (head->target.size() > lim.max_uri_length) {
      __builtin_trap();
    }
  }
  return 0;
}
