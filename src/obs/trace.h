#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the proxy joins the client's trace
// when it sends a valid `traceparent`, or starts one, and passes its own span to S3, OPA and
// OpenFGA so the proxy's hop shows up in an existing trace. The trace id is logged with every
// access and audit line.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace yg::obs {

struct TraceContext {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> span_id{};  // this proxy's span
  uint8_t flags = 0;                 // bit 0: sampled
  bool joined = false;               // the client's trace (true) or a new one (false)
  std::string tracestate;            // passed through unchanged when the client sent one
};

struct ParsedTraceparent {
  std::array<uint8_t, 16> trace_id{};
  std::array<uint8_t, 8> parent_id{};
  uint8_t flags = 0;
};

// Version 00 exactly as the spec's grammar; for a higher version, the 00 prefix fields are read
// and the rest ignored (spec section 4.3). All-zero ids and version ff are invalid.
std::optional<ParsedTraceparent> parse_traceparent(std::string_view v) noexcept;

// The context for one request: joins `traceparent` if valid (keeping a sane `tracestate`),
// else starts a new trace. Always a fresh span id.
TraceContext start_span(std::string_view traceparent, std::string_view tracestate);

// "00-<trace>-<span>-<flags>": the header to send downstream of the proxy.
std::string traceparent_header(const TraceContext& t);
std::string trace_id_hex(const TraceContext& t);
std::string span_id_hex(const TraceContext& t);

}  // namespace yg::obs
