#include "net/server/request_head.h"

#include <gtest/gtest.h>

#include <string>

namespace yg::net {
namespace {

namespace http = boost::beast::http;

Result<RequestHead> parse(const std::string& raw, HeadLimits lim = {}) {
  auto end = find_head_end(raw);
  if (end.bare_lf || end.end == std::string_view::npos) {
    return Error::of(errc::bad_request);
  }
  return parse_request_head(std::string_view(raw).substr(0, end.end), lim);
}

// A plain GET parses with its target, Host and keep-alive.
TEST(RequestHead, ParsesSimpleGet) {
  auto h = parse("GET /pub/a.txt?versionId=1 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->method, http::verb::get);
  EXPECT_EQ(h->target, "/pub/a.txt?versionId=1");
  EXPECT_EQ(h->version, 11u);
  EXPECT_TRUE(h->keep_alive);
  EXPECT_FALSE(h->has_body());
  EXPECT_EQ(h->fields[http::field::range], "bytes=0-1");
}

// HTTP/1.0 without keep-alive closes; Connection: close on 1.1 closes.
TEST(RequestHead, KeepAliveFollowsVersionAndConnection) {
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n")->keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")->keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")->keep_alive);
}

struct Refusal {
  const char* name;
  std::string raw;
  errc expected;
};

class RequestHeadRefusal : public ::testing::TestWithParam<Refusal> {};

// HTTP-9 / HTTP-3: smuggling shapes and malformed heads are refused with the right code.
TEST_P(RequestHeadRefusal, IsRefused) {
  const auto& p = GetParam();
  auto end = find_head_end(p.raw);
  if (p.expected == errc::bad_request && end.bare_lf) {
    SUCCEED();
    return;
  }
  ASSERT_NE(end.end, std::string_view::npos) << p.name;
  auto h = parse_request_head(std::string_view(p.raw).substr(0, end.end), HeadLimits{1024, 64});
  ASSERT_FALSE(h) << p.name;
  EXPECT_TRUE(h.error().is(p.expected)) << p.name << ": " << h.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RequestHeadRefusal,
    ::testing::Values(
        Refusal{"ClAndTe",
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: "
                "chunked\r\n\r\n",
                errc::bad_request},
        Refusal{"TeAndCl",
                "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: "
                "4\r\n\r\n",
                errc::bad_request},
        Refusal{"DuplicateClSameValue",
                "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
                errc::bad_request},
        Refusal{"DuplicateClDifferent",
                "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
                errc::bad_request},
        Refusal{"ClList", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n",
                errc::bad_request},
        Refusal{"ObsFold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", errc::bad_request},
        Refusal{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n",
                errc::bad_request},
        Refusal{"InvalidNameChar", "GET / HTTP/1.1\r\nHost: x\r\nX(A): a\r\n\r\n",
                errc::bad_request},
        Refusal{"EmptyName", "GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n", errc::bad_request},
        Refusal{"NulInValue", std::string("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 37),
                errc::bad_request},
        Refusal{"TeNotChunked", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                errc::bad_request},
        Refusal{"TeChunkedTwice",
                "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                errc::bad_request},
        Refusal{"NoHost11", "GET / HTTP/1.1\r\n\r\n", errc::bad_request},
        Refusal{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", errc::bad_request},
        Refusal{"AbsoluteForm", "GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n", errc::bad_request},
        Refusal{"Http2Preface", "PRI * HTTP/2.0\r\n\r\n", errc::bad_request},
        Refusal{"GarbageLine", "HELLO\r\n\r\n", errc::bad_request},
        Refusal{"BareLf", "GET / HTTP/1.1\nHost: x\n\n", errc::bad_request},
        Refusal{"UriTooLong", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
                errc::uri_too_long},
        Refusal{"HeadTooLarge",
                "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + std::string(1100, 'a') + "\r\n\r\n",
                errc::headers_too_large}),
    [](const auto& info) { return std::string(info.param.name); });

// A bare LF is detected at once instead of waiting for a CRLFCRLF that never comes.
TEST(RequestHead, FindHeadEndFlagsBareLf) {
  EXPECT_TRUE(find_head_end("GET / HTTP/1.1\nHost").bare_lf);
  auto e = find_head_end("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next");
  EXPECT_FALSE(e.bare_lf);
  EXPECT_EQ(e.end, std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n").size());
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: x\r\n").end, std::string_view::npos);
}

// A body-carrying request is recognised so the session can close after answering it.
TEST(RequestHead, DetectsBodies) {
  EXPECT_TRUE(parse("PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")->has_body());
  EXPECT_TRUE(
      parse("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")->has_body());
  EXPECT_FALSE(parse("GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")->has_body());
}

}  // namespace
}  // namespace yg::net

namespace yg::net {
namespace {

// A resumed search finds a CRLFCRLF split across reads and still flags a bare LF.
TEST(RequestHead, FindHeadEndResumes) {
  const std::string_view head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  for (std::size_t from = 0; from < head.size(); ++from) {
    EXPECT_EQ(find_head_end(head, from).end, head.size()) << from;
  }
  EXPECT_TRUE(find_head_end("GET / HTTP/1.1\r\nHost: x\n", 20).bare_lf);
}

}  // namespace
}  // namespace yg::net
