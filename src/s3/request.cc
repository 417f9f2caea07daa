#include "s3/request.h"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <charconv>

namespace yg::s3 {
namespace {

Error config_error(std::string* reason, std::string_view why) {
  if (reason != nullptr) {
    reason->assign(why);
  }
  return Error::of(errc::internal, Source::Internal);
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// A bucket that can be the first label of "<bucket>.s3.<region>.amazonaws.com" under TLS: a
// single DNS label of lowercase letters, digits and '-', starting and ending alphanumeric.
// Dots are legal in bucket names but the wildcard certificate "*.s3.<region>.amazonaws.com"
// covers only one label, so such buckets are addressed path-style (AWS S3 User Guide,
// "Virtual hosting of buckets": "if you use a virtual-hosted-style bucket with SSL, the SSL
// wildcard certificate matches only buckets that don't contain periods").
bool virtual_host_compatible(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) {
    return false;
  }
  if (!is_lower_alnum(bucket.front()) || !is_lower_alnum(bucket.back())) {
    return false;
  }
  return std::all_of(bucket.begin(), bucket.end(),
                     [](char c) { return is_lower_alnum(c) || c == '-'; });
}

bool valid_region(std::string_view region) {
  return !region.empty() && std::all_of(region.begin(), region.end(),
                                        [](char c) { return is_lower_alnum(c) || c == '-'; });
}

Result<Endpoint> resolve_aws(const config::S3Replica& r, std::string* reason) {
  if (!valid_region(r.region)) {
    return config_error(reason, "S3 region must be non-empty and only contain a-z, 0-9 and '-'");
  }
  // China regions live under their own partition domain.
  const std::string_view suffix =
      r.region.starts_with("cn-") ? ".amazonaws.com.cn" : ".amazonaws.com";
  Endpoint ep;
  ep.tls = true;
  ep.port = 443;
  ep.path_style = !virtual_host_compatible(r.bucket);
  ep.host = ep.path_style ? "" : r.bucket + ".";
  ep.host.append("s3.").append(r.region).append(suffix);
  ep.host_header = ep.host;
  return ep;
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

Result<Endpoint> resolve_custom(const config::S3Replica& r, std::string* reason) {
  auto parsed = boost::urls::parse_absolute_uri(r.endpoint);
  if (!parsed) {
    return config_error(reason, "S3 endpoint is not an absolute URL like http://host:9000");
  }
  const boost::urls::url_view u = *parsed;
  Endpoint ep;
  ep.path_style = true;
  switch (u.scheme_id()) {
    case boost::urls::scheme::http:
      ep.tls = false;
      ep.port = 80;
      break;
    case boost::urls::scheme::https:
      ep.tls = true;
      ep.port = 443;
      break;
    default:
      return config_error(reason, "S3 endpoint scheme must be http or https");
  }
  const uint16_t default_port = ep.port;
  if (u.has_userinfo()) {
    return config_error(reason, "S3 endpoint must not contain user info (use access_key)");
  }
  if (u.has_query() || u.has_fragment()) {
    return config_error(reason, "S3 endpoint must not contain a query or fragment");
  }
  bool ipv6 = false;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      ep.host = std::string(u.encoded_host());
      break;
    case boost::urls::host_type::ipv6:
      ep.host = std::string(u.encoded_host_address());
      ipv6 = true;
      break;
    case boost::urls::host_type::name: {
      const std::string_view name = u.encoded_host();
      if (name.empty()) {
        return config_error(reason, "S3 endpoint has no host");
      }
      if (name.find('%') != std::string_view::npos) {
        return config_error(reason, "S3 endpoint host must not be percent-encoded");
      }
      ep.host.resize(name.size());
      std::transform(name.begin(), name.end(), ep.host.begin(), lower);
      break;
    }
    default:
      return config_error(reason, "S3 endpoint host is not a name, IPv4 or IPv6 address");
  }
  if (u.has_port() && !u.port().empty()) {
    const std::string_view p = u.port();
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (ec != std::errc{} || end != p.data() + p.size() || value == 0 || value > 65535) {
      return config_error(reason, "S3 endpoint port must be 1-65535");
    }
    ep.port = static_cast<uint16_t>(value);
  }
  ep.host_header = ipv6 ? "[" + ep.host + "]" : ep.host;
  // The Host header carries the port only when it differs from the scheme's default, as
  // HTTP clients (and so S3 servers verifying the signature) expect (RFC 9110 section 7.2).
  if (ep.port != default_port) {
    ep.host_header.append(":").append(std::to_string(ep.port));
  }
  std::string_view path = u.encoded_path();
  while (!path.empty() && path.back() == '/') {
    path.remove_suffix(1);
  }
  ep.base_path = std::string(path);
  return ep;
}

// The S3 query parameters that change what GetObject/HeadObject return for the same key
// (S3 API Reference, GetObject "URI Request Parameters").
constexpr std::array<std::string_view, 7> kForwardable = {
    "versionId",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
};

}  // namespace

Result<Endpoint> resolve_endpoint(const config::S3Replica& r, std::string* reason) {
  if (r.bucket.empty()) {
    return config_error(reason, "S3 bucket name is empty");
  }
  if (r.endpoint.empty()) {
    return resolve_aws(r, reason);
  }
  return resolve_custom(r, reason);
}

ObjectRequest build_object_request(std::string_view method, const Endpoint& ep,
                                   std::string_view bucket, std::string_view key,
                                   const HeaderList& query, const SigV4Signer& signer,
                                   SysTime now) {
  ObjectRequest out;
  std::string path;
  path.reserve(ep.base_path.size() + bucket.size() + key.size() * 3 / 2 + 2);
  path.append(ep.base_path);
  if (ep.path_style) {
    path.push_back('/');
    path.append(uri_encode(bucket, true));
  }
  path.push_back('/');
  // Each key byte is encoded exactly once; '/' stays a separator (S3 keys are flat, but the
  // encoded and unencoded slash are the same key to S3 and the plain one is what SDKs send).
  path.append(uri_encode(key, false));

  const std::string q = canonical_query(query);
  out.target.reserve(path.size() + 1 + q.size());
  out.target.append(path);
  if (!q.empty()) {
    out.target.push_back('?');
    out.target.append(q);
  }

  // S3 requires x-amz-content-sha256 on every SigV4 request; GET/HEAD have no body.
  out.headers.reserve(5);
  out.headers.emplace_back("host", ep.host_header);
  out.headers.emplace_back("x-amz-date", amz_date(now));
  out.headers.emplace_back("x-amz-content-sha256", std::string(kEmptyPayloadSha256));
  if (!signer.session_token().empty()) {
    out.headers.emplace_back("x-amz-security-token", signer.session_token().reveal());
  }

  SignRequest req;
  req.method = method;
  req.canonical_uri = path;
  req.query = query;
  req.headers = out.headers;
  req.payload_hash = kEmptyPayloadSha256;
  out.headers.emplace_back("authorization", signer.authorization(req, now));
  return out;
}

HeaderList forwardable_query(const HeaderList& client_query) {
  HeaderList out;
  for (const auto& [name, value] : client_query) {
    const bool allowed =
        std::find(kForwardable.begin(), kForwardable.end(), name) != kForwardable.end();
    if (!allowed) {
      continue;
    }
    const bool seen = std::any_of(out.begin(), out.end(),
                                  [&name = name](const auto& kv) { return kv.first == name; });
    if (!seen) {
      out.emplace_back(name, value);
    }
  }
  return out;
}

}  // namespace yg::s3
