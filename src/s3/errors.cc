#include "s3/errors.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>

namespace yg::s3 {
namespace {

// S3 error bodies are a few hundred bytes; a body this large is not one, and scanning it all
// would let a misbehaving upstream make us do unbounded work.
constexpr std::size_t kMaxScan = 64 * 1024;

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Character data of a leaf element: the five predefined entities and numeric character
// references are decoded (XML 1.0 sections 4.1 and 4.6); anything unrecognised is kept as is.
std::string decode_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '&') {
      out.push_back(s[i++]);
      continue;
    }
    const std::size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) {
      out.push_back(s[i++]);
      continue;
    }
    const std::string_view ent = s.substr(i + 1, semi - i - 1);
    bool ok = true;
    if (ent == "amp") {
      out.push_back('&');
    } else if (ent == "lt") {
      out.push_back('<');
    } else if (ent == "gt") {
      out.push_back('>');
    } else if (ent == "quot") {
      out.push_back('"');
    } else if (ent == "apos") {
      out.push_back('\'');
    } else if (ent.size() > 1 && ent[0] == '#') {
      const bool hex = ent[1] == 'x' || ent[1] == 'X';
      const std::string_view digits = ent.substr(hex ? 2 : 1);
      uint32_t cp = 0;
      const auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      ok = !digits.empty() && ec == std::errc{} && end == digits.data() + digits.size() &&
           cp != 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
      if (ok) {
        append_utf8(out, cp);
      }
    } else {
      ok = false;
    }
    if (ok) {
      i = semi + 1;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// Finds the start tag <name> or <name ...> (or self-closing <name/>) at or after `from`.
// Returns the offset just past '>' and sets self_closing; npos when absent or truncated.
std::size_t find_start_tag(std::string_view xml, std::string_view name, std::size_t from,
                           bool& self_closing) {
  std::size_t pos = from;
  while ((pos = xml.find('<', pos)) != std::string_view::npos) {
    const std::size_t after_name = pos + 1 + name.size();
    if (xml.substr(pos + 1, name.size()) == name && after_name < xml.size()) {
      const char c = xml[after_name];
      if (c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        const std::size_t gt = xml.find('>', after_name);
        if (gt == std::string_view::npos) {
          return std::string_view::npos;
        }
        self_closing = xml[gt - 1] == '/';
        return gt + 1;
      }
    }
    ++pos;
  }
  return std::string_view::npos;
}

// Text of the first <name> child at or after `from`, up to its end tag. nullopt if the element
// is missing or its end tag never arrived (truncated body).
std::optional<std::string> child_text(std::string_view xml, std::string_view name,
                                      std::size_t from) {
  bool self_closing = false;
  const std::size_t start = find_start_tag(xml, name, from, self_closing);
  if (start == std::string_view::npos) {
    return std::nullopt;
  }
  if (self_closing) {
    return std::string();
  }
  const std::size_t end = xml.find("</", start);
  if (end == std::string_view::npos || xml.substr(end + 2, name.size()) != name) {
    return std::nullopt;
  }
  // The end tag must be complete ("</Code>", or "</Code >"), else the text may be cut short.
  std::size_t after = end + 2 + name.size();
  while (after < xml.size() &&
         (xml[after] == ' ' || xml[after] == '\t' || xml[after] == '\r' || xml[after] == '\n')) {
    ++after;
  }
  if (after >= xml.size() || xml[after] != '>') {
    return std::nullopt;
  }
  std::string_view text = xml.substr(start, end - start);
  // CDATA is legal XML even if S3 does not emit it; unwrap a single section.
  constexpr std::string_view kCdataOpen = "<![CDATA[";
  if (text.starts_with(kCdataOpen) && text.ends_with("]]>")) {
    return std::string(text.substr(kCdataOpen.size(), text.size() - kCdataOpen.size() - 3));
  }
  return decode_text(text);
}

template <std::size_t N>
bool one_of(std::string_view code, const std::array<std::string_view, N>& codes) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// S3 API Reference, "Error responses" - list of error codes.
constexpr std::array<std::string_view, 3> kNotFound = {"NoSuchKey", "NoSuchBucket",
                                                       "NoSuchVersion"};
constexpr std::array<std::string_view, 7> kAuth403 = {
    "SignatureDoesNotMatch", "InvalidAccessKeyId",   "AccessDenied",   "ExpiredToken",
    "InvalidToken",          "RequestTimeTooSkewed", "InvalidSecurity"};
constexpr std::array<std::string_view, 2> kAuth400 = {"AuthorizationHeaderMalformed",
                                                      "AuthorizationQueryParametersError"};

}  // namespace

std::optional<S3Error> parse_error_xml(std::string_view body) {
  body = body.substr(0, std::min(body.size(), kMaxScan));
  bool self_closing = false;
  const std::size_t root = find_start_tag(body, "Error", 0, self_closing);
  if (root == std::string_view::npos || self_closing) {
    return std::nullopt;
  }
  S3Error e;
  e.code = child_text(body, "Code", root).value_or("");
  if (e.code.empty()) {
    return std::nullopt;
  }
  e.message = child_text(body, "Message", root).value_or("");
  e.request_id = child_text(body, "RequestId", root).value_or("");
  return e;
}

Error map_s3_error(unsigned http_status, std::string_view s3_code) {
  constexpr Source kUp = Source::Upstream;
  if ((http_status >= 200 && http_status < 300) || http_status == 304) {
    return Error{};
  }
  switch (http_status) {
    case 404:
      if (s3_code.empty() || one_of(s3_code, kNotFound)) {
        return Error::of(errc::not_found, kUp);
      }
      break;
    case 403:
      if (s3_code.empty() || one_of(s3_code, kAuth403)) {
        return Error::of(errc::upstream_auth, kUp);
      }
      break;
    case 400:
      if (one_of(s3_code, kAuth400)) {
        return Error::of(errc::upstream_auth, kUp);
      }
      if (s3_code == "RequestTimeout") {
        return Error::of(errc::upstream_timeout, kUp, /*retryable=*/true);
      }
      if (s3_code == "InvalidArgument") {
        // e.g. a malformed ?versionId= from the client: the client can fix it.
        return Error::of(errc::bad_request, kUp);
      }
      break;
    case 412:
      return Error::of(errc::precondition_failed, kUp);
    case 416:
      return Error::of(errc::range_not_satisfiable, kUp);
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return Error::of(errc::upstream_unreachable, kUp, /*retryable=*/true);
    default:
      break;
  }
  return Error::of(errc::upstream_bad_response, kUp);
}

}  // namespace yg::s3
