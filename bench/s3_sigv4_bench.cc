// SigV4 signing costs on the request hot path (every cache miss signs one request).
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include "s3/request.h"
#include "s3/sigv4.h"

namespace {

using yg::Secret;
using yg::SysTime;
using namespace yg::s3;

SysTime fixed_now() {
  using namespace std::chrono;
  return sys_days{year{2024} / 3 / 15} + hours{8} + minutes{30} + seconds{45};
}

Credentials creds() {
  return {"AKIDEXAMPLE", Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), Secret()};
}

// A whole GET as the proxy builds it on a cache miss: path encoding, headers, canonical
// request, string to sign and signature, with the day's signing key already cached.
void BM_BuildObjectRequestGet(benchmark::State& state) {
  const SigV4Signer signer(creds(), "us-east-1");
  Endpoint ep;
  ep.tls = false;
  ep.host = "127.0.0.1";
  ep.port = 9000;
  ep.host_header = "127.0.0.1:9000";
  const HeaderList query = {{"versionId", "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}};
  const SysTime now = fixed_now();
  for (auto _ : state) {
    ObjectRequest r =
        build_object_request("GET", ep, "test-bucket",
                             "photos/2024/summer holiday (1)/IMG_0001.jpg", query, signer, now);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_BuildObjectRequestGet);

// Signing-key derivation (4 HMACs): a fresh signer each iteration, so the cache is cold.
void BM_SigningKeyDerivationCold(benchmark::State& state) {
  SignRequest req;
  req.method = "GET";
  req.canonical_uri = "/";
  req.headers = {{"host", "h"}, {"x-amz-date", "20240315T083045Z"}};
  req.payload_hash = kEmptyPayloadSha256;
  const SysTime now = fixed_now();
  const Credentials c = creds();
  for (auto _ : state) {
    const SigV4Signer signer(c, "us-east-1");
    benchmark::DoNotOptimize(signer.authorization(req, now));
  }
}
BENCHMARK(BM_SigningKeyDerivationCold);

// Same request with a warm signer, to show what the cache saves.
void BM_AuthorizationWarm(benchmark::State& state) {
  SignRequest req;
  req.method = "GET";
  req.canonical_uri = "/";
  req.headers = {{"host", "h"}, {"x-amz-date", "20240315T083045Z"}};
  req.payload_hash = kEmptyPayloadSha256;
  const SysTime now = fixed_now();
  const SigV4Signer signer(creds(), "us-east-1");
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer.authorization(req, now));
  }
}
BENCHMARK(BM_AuthorizationWarm);

// Canonical request construction alone, with N signed headers (arg).
void BM_CanonicalRequest(benchmark::State& state) {
  const SigV4Signer signer(creds(), "us-east-1");
  SignRequest req;
  req.method = "GET";
  req.canonical_uri = "/test-bucket/photos/2024/summer%20holiday%20%281%29/IMG_0001.jpg";
  req.query = {{"versionId", "v1"}};
  req.headers = {{"Host", "127.0.0.1:9000"},
                 {"X-Amz-Date", "20240315T083045Z"},
                 {"X-Amz-Content-Sha256", std::string(kEmptyPayloadSha256)}};
  for (int i = static_cast<int>(req.headers.size()); i < state.range(0); ++i) {
    req.headers.emplace_back("X-Amz-Meta-Header-" + std::to_string(i),
                             "  some   value with  spaces " + std::to_string(i));
  }
  req.payload_hash = kEmptyPayloadSha256;
  for (auto _ : state) {
    benchmark::DoNotOptimize(signer.canonical_request(req));
  }
}
BENCHMARK(BM_CanonicalRequest)->Arg(5)->Arg(15);

}  // namespace
