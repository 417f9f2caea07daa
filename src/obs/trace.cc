#include "obs/trace.h"

#include <algorithm>

#include "core/hex.h"
#include "obs/request_id.h"

namespace yg::obs {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;  // upper case is invalid in traceparent
}

template <std::size_t N>
bool parse_hex(std::string_view s, std::array<uint8_t, N>& out) noexcept {
  if (s.size() != 2 * N) {
    return false;
  }
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(s[2 * i]);
    const int lo = hex_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<uint8_t, N>& a) noexcept {
  return std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; });
}

template <std::size_t N>
std::string to_hex(const std::array<uint8_t, N>& a) {
  std::string s;
  append_hex(s, a.data(), N);
  return s;
}

template <std::size_t N>
void fill_random(std::array<uint8_t, N>& a) {
  do {
    random_bytes(a.data(), N);
  } while (all_zero(a));
}

// tracestate: at most 512 chars of printable ASCII (spec 3.3.1.5 lets us drop it when invalid).
bool sane_tracestate(std::string_view s) noexcept {
  return !s.empty() && s.size() <= 512 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

std::optional<ParsedTraceparent> parse_traceparent(std::string_view v) noexcept {
  // version "-" trace-id "-" parent-id "-" flags  = 2+1+32+1+16+1+2 = 55
  if (v.size() < 55) {
    return std::nullopt;
  }
  std::array<uint8_t, 1> version{};
  if (!parse_hex(v.substr(0, 2), version) || version[0] == 0xff) {
    return std::nullopt;
  }
  if (version[0] == 0 && v.size() != 55) {
    return std::nullopt;
  }
  if (version[0] != 0 && v.size() > 55 && v[55] != '-') {
    return std::nullopt;
  }
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') {
    return std::nullopt;
  }
  ParsedTraceparent p;
  std::array<uint8_t, 1> flags{};
  if (!parse_hex(v.substr(3, 32), p.trace_id) || !parse_hex(v.substr(36, 16), p.parent_id) ||
      !parse_hex(v.substr(53, 2), flags)) {
    return std::nullopt;
  }
  if (all_zero(p.trace_id) || all_zero(p.parent_id)) {
    return std::nullopt;
  }
  p.flags = flags[0];
  return p;
}

TraceContext start_span(std::string_view traceparent, std::string_view tracestate) {
  TraceContext t;
  if (auto p = parse_traceparent(traceparent)) {
    t.trace_id = p->trace_id;
    t.flags = p->flags & 0x01;  // only "sampled" is defined for version 00
    t.joined = true;
    if (sane_tracestate(tracestate)) {
      t.tracestate = std::string(tracestate);
    }
  } else {
    fill_random(t.trace_id);
  }
  fill_random(t.span_id);
  return t;
}

std::string traceparent_header(const TraceContext& t) {
  std::string s = "00-" + to_hex(t.trace_id) + "-" + to_hex(t.span_id) + "-";
  append_hex(s, &t.flags, 1);
  return s;
}

std::string trace_id_hex(const TraceContext& t) {
  return to_hex(t.trace_id);
}
std::string span_id_hex(const TraceContext& t) {
  return to_hex(t.span_id);
}

}  // namespace yg::obs
