#include "obs/trace.h"

#include <gtest/gtest.h>

namespace yg::obs {
namespace {

constexpr const char* kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ParsesTheSpecExample) {
  auto p = parse_traceparent(kValid);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->flags, 1);
  EXPECT_EQ(p->trace_id[0], 0x4b);
  EXPECT_EQ(p->parent_id[7], 0xb7);
}

TEST(Traceparent, RejectsMalformedValues) {
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",     // short flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero parent id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // v00 with extra
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",    // separators
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
       }) {
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
  }
}

TEST(Traceparent, HigherVersionsKeepTheKnownPrefix) {
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
  EXPECT_FALSE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra"));
}

TEST(Traceparent, JoinsTheClientTraceWithANewSpan) {
  auto t = start_span(kValid, "vendor=abc");
  EXPECT_TRUE(t.joined);
  EXPECT_EQ(trace_id_hex(t), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(span_id_hex(t), "00f067aa0ba902b7");
  EXPECT_EQ(t.tracestate, "vendor=abc");
  const auto h = traceparent_header(t);
  EXPECT_EQ(h.substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");
  EXPECT_EQ(h.substr(52), "-01");
  EXPECT_TRUE(parse_traceparent(h));
}

TEST(Traceparent, StartsANewTraceWhenAbsentOrInvalid) {
  auto a = start_span("", "vendor=abc");
  auto b = start_span("garbage", "");
  EXPECT_FALSE(a.joined);
  EXPECT_TRUE(a.tracestate.empty()) << "tracestate without a valid traceparent is dropped";
  EXPECT_NE(trace_id_hex(a), trace_id_hex(b));
  EXPECT_TRUE(parse_traceparent(traceparent_header(a)));
  EXPECT_EQ(traceparent_header(a).substr(52), "-00");
}

TEST(Traceparent, DropsAnInsaneTracestate) {
  auto t = start_span(kValid, std::string(600, 'a'));
  EXPECT_TRUE(t.tracestate.empty());
  t = start_span(kValid, "a=b\r\nX-Evil: 1");
  EXPECT_TRUE(t.tracestate.empty());
}

}  // namespace
}  // namespace yg::obs
