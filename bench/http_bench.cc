// Per-request HTTP parsing costs (PERF-1): the Range header (HTTP-8: parse_range alone, and
// parse + resolve against the object size + the Content-Range values a 206 writes) with
// 1/2/5/10/20 ranges, and the request head (HTTP-3, HTTP-9: find_head_end over the bytes read,
// then parse_request_head with its smuggling checks and Beast's parser) for heads a proxy sees:
// a bare curl GET, a browser/SDK GET with a bearer token, a conditional range GET, a 4 KiB
// head full of cookies, and one refused as CL+TE smuggling (the cost of saying no).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "net/server/request_head.h"
#include "proxy/range.h"

namespace {

// "bytes=0-99, 1000-1099, ..." with n ranges spread over a 1 MB object.
std::string range_header(int64_t n) {
  std::string header = "bytes=0-99";
  for (int64_t i = 1; i < n; ++i) {
    header += ", " + std::to_string(i * 1000) + "-" + std::to_string(i * 1000 + 99);
  }
  return header;
}

// Arg: number of ranges. Parsing only (what every GET with a Range header pays).
void BM_RangeParse(benchmark::State& state) {
  const std::string header = range_header(state.range(0));
  for (auto _ : state) {
    auto specs = yg::proxy::parse_range(header);
    benchmark::DoNotOptimize(specs);
  }
  if (!yg::proxy::parse_range(header)) {
    state.SkipWithError("the range header did not parse");
  }
}
BENCHMARK(BM_RangeParse)->Arg(1)->Arg(2)->Arg(5)->Arg(10)->Arg(20);

// Arg: number of ranges. Parse, resolve against a 1 MB representation and format each part's
// Content-Range: the whole header-side work of a 206.
void BM_RangeParseResolve(benchmark::State& state) {
  const std::string header = range_header(state.range(0));
  constexpr std::uint64_t kSize = 1'000'000;
  for (auto _ : state) {
    auto specs = yg::proxy::parse_range(header);
    auto ranges = yg::proxy::resolve_ranges(*specs, kSize);
    for (const auto& r : ranges) {
      auto cr = yg::proxy::content_range(r, kSize);
      benchmark::DoNotOptimize(cr);
    }
    benchmark::DoNotOptimize(ranges);
  }
}
BENCHMARK(BM_RangeParseResolve)->Arg(1)->Arg(2)->Arg(5)->Arg(10)->Arg(20);

// Suffix and open ranges ("bytes=-500", "bytes=9500-"), the video players' favourites.
void BM_RangeParseSuffixOpen(benchmark::State& state) {
  const std::string header = "bytes=-500, 9500-";
  for (auto _ : state) {
    auto specs = yg::proxy::parse_range(header);
    auto ranges = yg::proxy::resolve_ranges(*specs, 10'000);
    benchmark::DoNotOptimize(ranges);
  }
}
BENCHMARK(BM_RangeParseSuffixOpen);

const std::string kCurlHead =
    "GET /products/2024/05/photos/img_0001.jpg HTTP/1.1\r\n"
    "Host: cdn.example.com\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "\r\n";

// A JWT of realistic size (about 700 bytes) in the Authorization header, as SDKs and the
// browser dashboard send it.
std::string typical_head() {
  const std::string token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoLWtleS0xIiwidHlwIjoiSldUIn0." +
                            std::string(420, 'A') + "." + std::string(342, 'B');
  return "GET /products/2024/05/photos/summer%20holiday/IMG_0001.jpg?versionId=v1 HTTP/1.1\r\n"
         "Host: cdn.example.com\r\n"
         "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/120.0.0.0 Safari/537.36\r\n"
         "Accept: image/avif,image/webp,image/apng,image/*,*/*;q=0.8\r\n"
         "Accept-Encoding: gzip, deflate, br\r\n"
         "Accept-Language: en-GB,en;q=0.9,ja;q=0.8\r\n"
         "Authorization: Bearer " +
         token +
         "\r\n"
         "Referer: https://app.example.com/gallery\r\n"
         "Sec-Fetch-Dest: image\r\n"
         "Sec-Fetch-Mode: no-cors\r\n"
         "Sec-Fetch-Site: same-site\r\n"
         "X-Request-Id: 7f9c2ba4-e88f-11ee-8c90-0242ac120002\r\n"
         "Connection: keep-alive\r\n"
         "\r\n";
}

const std::string kRangeHead =
    "GET /videos/launch-keynote-2024.mp4 HTTP/1.1\r\n"
    "Host: cdn.example.com\r\n"
    "User-Agent: AppleCoreMedia/1.0.0.21E236 (iPhone; U; CPU OS 17_4 like Mac OS X)\r\n"
    "Accept: */*\r\n"
    "Range: bytes=1048576-2097151\r\n"
    "If-Range: \"9b2cf535f27731c974343645a3985328\"\r\n"
    "If-None-Match: \"9b2cf535f27731c974343645a3985328\"\r\n"
    "Accept-Encoding: identity\r\n"
    "\r\n";

// About 4 KiB: 40 cookies of 80 bytes, the shape that hits header-size limits.
std::string large_head() {
  std::string h =
      "GET /assets/app.js HTTP/1.1\r\n"
      "Host: cdn.example.com\r\n"
      "User-Agent: Mozilla/5.0\r\n"
      "Cookie: ";
  for (int i = 0; i < 40; ++i) {
    h += (i ? "; " : "") + std::string("session_part_") + std::to_string(i) + "=" +
         std::string(64, static_cast<char>('a' + i % 26));
  }
  h += "\r\n\r\n";
  return h;
}

// Content-Length together with Transfer-Encoding: refused by parse_request_head (400).
const std::string kSmuggleHead =
    "POST /upload/part HTTP/1.1\r\n"
    "Host: cdn.example.com\r\n"
    "Content-Length: 13\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n";

std::string head_for(int64_t which) {
  switch (which) {
    case 0:
      return kCurlHead;
    case 1:
      return typical_head();
    case 2:
      return kRangeHead;
    case 3:
      return large_head();
    default:
      return kSmuggleHead;
  }
}

// Arg: 0 curl, 1 browser with bearer token, 2 conditional range, 3 4 KiB of cookies, 4 CL+TE
// (refused). What the session does once per request: find the end of the head in the bytes
// read, then parse and validate it.
void BM_RequestHead(benchmark::State& state) {
  const std::string raw = head_for(state.range(0));
  const yg::net::HeadLimits limits{};
  const bool expect_ok = state.range(0) != 4;
  const auto once = [&] {
    const auto end = yg::net::find_head_end(raw);
    return yg::net::parse_request_head(std::string_view(raw).substr(0, end.end), limits);
  };
  if (static_cast<bool>(once()) != expect_ok) {
    state.SkipWithError(expect_ok ? "the head was refused" : "the smuggling head was accepted");
    return;
  }
  for (auto _ : state) {
    auto head = once();
    benchmark::DoNotOptimize(head);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_RequestHead)->ArgName("head")->DenseRange(0, 4);

// The end-of-head scan alone on the browser head, as if it arrived in one read.
void BM_FindHeadEnd(benchmark::State& state) {
  const std::string raw = typical_head();
  for (auto _ : state) {
    auto end = yg::net::find_head_end(raw);
    benchmark::DoNotOptimize(end);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}
BENCHMARK(BM_FindHeadEnd);

}  // namespace
