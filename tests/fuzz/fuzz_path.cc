// libFuzzer target: request-target -> split_target -> decode_path -> RouteTable::match, and
// decode_query + looks_like_sql_injection on the query. Traps when a successful decode breaks
// a ROUTE-1/ROUTE-2 invariant. Seeds: tests/fuzz/corpus/fuzz_path/.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "router/path.h"
#include "router/router.h"

namespace {

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

// An independent oracle on purpose: the fuzzer checks decode_path against its own reading of
// ROUTE-2, not against the code under test.
bool has_dot_segment(std::string_view s) {
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '/' || s[i] == '\\') {
      const std::string_view seg = s.substr(start, i - start);
      if (seg == "." || seg == "..") {
        return true;
      }
      start = i + 1;
    }
  }
  return false;
}

bool has_control(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return true;
    }
  }
  return false;
}

const yg::router::RouteTable& table() {
  static const yg::router::RouteTable t(
      {"/pub", "/pub/img/", "/pubx", "/a/b/c", "/a", "/", "/x//y", "/%2e"});
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  const auto split = yg::router::split_target(target);
  check(split.path.find('?') == std::string_view::npos);
  if (split.path.size() == size) {
    check(split.query.empty());
  } else {
    check(split.path.size() + 1 + split.query.size() == size && target[split.path.size()] == '?');
  }

  auto decoded = yg::router::decode_path(split.path);
  if (decoded) {
    const std::string& p = *decoded;
    check(!p.empty() && p.front() == '/');
    check(p.size() <= split.path.size());  // decoding never grows
    check(!has_dot_segment(p));
    check(!has_control(p));
    auto m = table().match(p);
    if (m) {
      check(m->bucket_index < table().size());
      // The key is the tail of the path right after a '/'.
      check(m->key.size() < p.size());
      check(std::string_view(p).ends_with(m->key));
      check(p[p.size() - m->key.size() - 1] == '/' || m->key.empty());
    } else {
      check(false);  // prefix "/" is in the table, so every decoded path routes
    }
    (void)yg::router::looks_like_sql_injection(p);
  }

  auto query = yg::router::decode_query(split.query);
  if (query) {
    for (const auto& [name, value] : *query) {
      check(!has_control(name) && !has_control(value));
      (void)yg::router::looks_like_sql_injection(value);
    }
  }
  return 0;
}
