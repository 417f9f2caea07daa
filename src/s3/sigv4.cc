#include "s3/sigv4.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>

#include "s3/crypto.h"

namespace yg::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// The whitespace Trimall removes; ASCII only, matching botocore's str.split() on header values
// that are ASCII in practice (host, dates, hashes, tokens).
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// SigV4 step 1, CanonicalHeaders value: "Trimall" - leading/trailing whitespace removed and
// each run of inner whitespace collapsed to one space (AWS test suite: get-header-value-trim).
// Appends whole runs of non-space bytes: header values are mostly one run.
void append_trimmed(std::string& out, std::string_view v) {
  std::size_t i = 0;
  bool first = true;
  while (i < v.size()) {
    while (i < v.size() && is_space(v[i])) {
      ++i;
    }
    std::size_t j = i;
    while (j < v.size() && !is_space(v[j])) {
      ++j;
    }
    if (j > i) {
      if (!first) {
        out.push_back(' ');
      }
      out.append(v.substr(i, j - i));
      first = false;
    }
    i = j;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

struct HeaderRef {
  std::string_view name;  // trimmed and lowercased, in the arena below
  std::string_view value;
};

// CanonicalHeaders and SignedHeaders (SigV4 step 1). Names are lowercased and sorted; values of
// repeated names are joined with ',' in the order given (test suite: get-header-key-duplicate).
void append_canonical_headers(std::string& creq, std::string& signed_headers,
                              const HeaderList& headers) {
  // All lowercased names live in one buffer (one allocation), so sorting compares plain bytes.
  std::size_t total = 0;
  for (const auto& h : headers) {
    total += h.first.size();
  }
  std::string arena;
  arena.reserve(total);
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  spans.reserve(headers.size());
  for (const auto& h : headers) {
    const std::string_view name = trim(h.first);
    const std::size_t at = arena.size();
    spans.emplace_back(at, name.size());
    arena.append(name);
    std::transform(arena.begin() + static_cast<std::ptrdiff_t>(at), arena.end(),
                   arena.begin() + static_cast<std::ptrdiff_t>(at), lower);
  }
  std::vector<HeaderRef> refs;
  refs.reserve(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) {
    refs.push_back(
        {std::string_view(arena).substr(spans[i].first, spans[i].second), headers[i].second});
  }
  std::stable_sort(refs.begin(), refs.end(),
                   [](const HeaderRef& a, const HeaderRef& b) { return a.name < b.name; });
  for (std::size_t i = 0; i < refs.size(); ++i) {
    if (i > 0 && refs[i].name == refs[i - 1].name) {
      creq.push_back(',');
    } else {
      if (i > 0) {
        creq.push_back('\n');
        signed_headers.push_back(';');
      }
      creq.append(refs[i].name);
      creq.push_back(':');
      signed_headers.append(refs[i].name);
    }
    append_trimmed(creq, refs[i].value);
  }
  if (!refs.empty()) {
    creq.push_back('\n');
  }
}

// CanonicalRequest (SigV4 step 1):
//   Method \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n
//   HashedPayload
// The URI is used exactly as given: S3 does not normalise paths (no dot-segment removal, no
// slash merging) and the caller passes the already-encoded path it sends, so encoding it again
// here would sign a different URI than the one S3 sees.
std::string build_canonical_request(const SignRequest& req, std::string& signed_headers) {
  std::string creq;
  creq.reserve(256 + req.canonical_uri.size() + 64 * req.headers.size());
  creq.append(req.method);
  creq.push_back('\n');
  if (req.canonical_uri.empty()) {
    creq.push_back('/');
  } else {
    creq.append(req.canonical_uri);
  }
  creq.push_back('\n');
  creq.append(canonical_query(req.query));
  creq.push_back('\n');
  append_canonical_headers(creq, signed_headers, req.headers);
  creq.push_back('\n');
  creq.append(signed_headers);
  creq.push_back('\n');
  creq.append(req.payload_hash);
  return creq;
}

void append_2(std::string& out, unsigned v) {
  out.push_back(static_cast<char>('0' + (v / 10) % 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

}  // namespace

std::string uri_encode(std::string_view s, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

std::string canonical_query(const HeaderList& query) {
  if (query.empty()) {
    return {};
  }
  // Sorted by encoded name, then encoded value (byte order), as the SigV4 spec and every AWS
  // SDK do; the test suite's get-vanilla-query-order-key-case checks case-sensitive ordering.
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(uri_encode(name, true), uri_encode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) {
      out.push_back('&');
    }
    out.append(name);
    out.push_back('=');
    out.append(value);
  }
  return out;
}

std::string amz_date(SysTime now) {
  using namespace std::chrono;
  const auto day = floor<days>(now);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<seconds>(now - day)};
  std::string out;
  out.reserve(16);
  const int y = static_cast<int>(ymd.year());
  append_2(out, static_cast<unsigned>(y / 100));
  append_2(out, static_cast<unsigned>(y % 100));
  append_2(out, static_cast<unsigned>(ymd.month()));
  append_2(out, static_cast<unsigned>(ymd.day()));
  out.push_back('T');
  append_2(out, static_cast<unsigned>(hms.hours().count()));
  append_2(out, static_cast<unsigned>(hms.minutes().count()));
  append_2(out, static_cast<unsigned>(hms.seconds().count()));
  out.push_back('Z');
  return out;
}

// One cached signing key: the key depends only on (secret, date, region, service), and region
// and service are fixed per signer, so the UTC date is the whole cache key. The lock is held
// only to copy 40 bytes; derivation (4 HMACs) happens outside it.
struct SigV4Signer::KeyCache {
  std::mutex mu;
  bool valid = false;
  char date[8] = {};
  Key key{};
};

SigV4Signer::SigV4Signer(Credentials creds, std::string region, std::string service)
    : creds_(std::move(creds)),
      region_(std::move(region)),
      service_(std::move(service)),
      cache_(std::make_unique<KeyCache>()) {}

SigV4Signer::SigV4Signer(const SigV4Signer& other)
    : creds_(other.creds_),
      region_(other.region_),
      service_(other.service_),
      cache_(std::make_unique<KeyCache>()) {}

SigV4Signer::SigV4Signer(SigV4Signer&&) noexcept = default;

SigV4Signer::~SigV4Signer() {
  if (cache_) {
    crypto::cleanse(cache_->key.data(), cache_->key.size());
  }
}

SigV4Signer::Key SigV4Signer::signing_key(std::string_view yyyymmdd) const {
  if (cache_) {
    std::lock_guard lock(cache_->mu);
    if (cache_->valid && std::string_view(cache_->date, sizeof cache_->date) == yyyymmdd) {
      return cache_->key;
    }
  }
  // SigV4 "Calculate the signature": kDate = HMAC("AWS4" + secret, date),
  // kRegion = HMAC(kDate, region), kService = HMAC(kRegion, service),
  // kSigning = HMAC(kService, "aws4_request").
  std::string seed;
  seed.reserve(4 + creds_.secret_key.reveal().size());
  seed.append("AWS4").append(creds_.secret_key.reveal());
  Key k = crypto::hmac_sha256(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(),
                              yyyymmdd);
  crypto::cleanse(seed.data(), seed.size());
  k = crypto::hmac_sha256(k, region_);
  k = crypto::hmac_sha256(k, service_);
  k = crypto::hmac_sha256(k, kTerminator);
  if (cache_ && yyyymmdd.size() == sizeof cache_->date) {
    std::lock_guard lock(cache_->mu);
    std::memcpy(cache_->date, yyyymmdd.data(), sizeof cache_->date);
    cache_->key = k;
    cache_->valid = true;
  }
  return k;
}

std::string SigV4Signer::canonical_request(const SignRequest& req) const {
  std::string signed_headers;
  return build_canonical_request(req, signed_headers);
}

std::string SigV4Signer::string_to_sign_for(std::string_view creq,
                                            std::string_view date_time) const {
  // SigV4 step 2: Algorithm \n RequestDateTime \n CredentialScope \n Hex(SHA256(CanonicalRequest))
  std::string sts;
  sts.reserve(kAlgorithm.size() + date_time.size() + region_.size() + service_.size() + 100);
  sts.append(kAlgorithm).push_back('\n');
  sts.append(date_time).push_back('\n');
  sts.append(date_time.substr(0, 8)).push_back('/');
  sts.append(region_).push_back('/');
  sts.append(service_).push_back('/');
  sts.append(kTerminator).push_back('\n');
  const crypto::Digest h = crypto::sha256(creq);
  crypto::append_hex(sts, h.data(), h.size());
  return sts;
}

std::string SigV4Signer::string_to_sign(const SignRequest& req, SysTime now) const {
  return string_to_sign_for(canonical_request(req), amz_date(now));
}

std::string SigV4Signer::authorization(const SignRequest& req, SysTime now) const {
  std::string signed_headers;
  const std::string creq = build_canonical_request(req, signed_headers);
  const std::string date_time = amz_date(now);
  const std::string_view date = std::string_view(date_time).substr(0, 8);
  const std::string sts = string_to_sign_for(creq, date_time);
  // SigV4 step 3: Signature = Hex(HMAC(kSigning, StringToSign)).
  Key key = signing_key(date);
  const crypto::Digest sig = crypto::hmac_sha256(key, sts);
  crypto::cleanse(key.data(), key.size());

  // SigV4 step 4: the Authorization header, in the exact layout AWS documents.
  std::string out;
  out.reserve(kAlgorithm.size() + creds_.access_key.size() + region_.size() + service_.size() +
              signed_headers.size() + 140);
  out.append(kAlgorithm).append(" Credential=").append(creds_.access_key).push_back('/');
  out.append(date).push_back('/');
  out.append(region_).push_back('/');
  out.append(service_).push_back('/');
  out.append(kTerminator).append(", SignedHeaders=").append(signed_headers);
  out.append(", Signature=");
  crypto::append_hex(out, sig.data(), sig.size());
  return out;
}

}  // namespace yg::s3
