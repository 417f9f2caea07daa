// Command encoding (RESP2 arrays of bulk strings), Endpoint and Errc names.
// RESP2: https://redis.io/docs/reference/protocol-spec/ ("Sending commands to a Redis server").
#include <charconv>
#include <cstring>

#include "redis/client.h"

namespace yg::redis {
namespace {

void append_bulk_header(std::string& out, std::size_t len) {
  char buf[24];
  buf[0] = '$';
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 2, len);
  (void)ec;  // 20 digits always fit
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, static_cast<std::size_t>(end - buf));
}

}  // namespace

std::string_view errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::ok:
      return "ok";
    case Errc::unavailable:
      return "unavailable";
    case Errc::timeout:
      return "timeout";
    case Errc::closed:
      return "closed";
    case Errc::protocol:
      return "protocol";
    case Errc::redirects:
      return "redirects";
  }
  return "unknown";
}

Command& Command::arg(std::string_view a) {
  return arg_concat({a});
}

Command& Command::arg(int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  return arg(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

Command& Command::arg_concat(std::initializer_list<std::string_view> parts) {
  std::size_t len = 0;
  for (auto p : parts) {
    len += p.size();
  }
  body_.reserve(body_.size() + len + 24);
  append_bulk_header(body_, len);
  if (key_index_ >= 0 && argc_ == static_cast<std::size_t>(key_index_)) {
    key_off_ = body_.size();
    key_len_ = len;
    key_set_ = true;
  }
  for (auto p : parts) {
    body_.append(p);
  }
  body_.append("\r\n", 2);
  ++argc_;
  return *this;
}

Command& Command::key_index(int i) {
  key_index_ = i;
  key_set_ = false;
  if (i < 0 || static_cast<std::size_t>(i) >= argc_) {
    return *this;  // keyless, or the key is appended later
  }
  // Walk the bulk headers ("$<len>\r\n<data>\r\n") to the i-th argument.
  std::size_t pos = 0;
  for (int n = 0;; ++n) {
    const std::size_t crlf = body_.find("\r\n", pos);
    std::size_t len = 0;
    std::from_chars(body_.data() + pos + 1, body_.data() + crlf, len);
    if (n == i) {
      key_off_ = crlf + 2;
      key_len_ = len;
      key_set_ = true;
      return *this;
    }
    pos = crlf + 2 + len + 2;
  }
}

std::string_view Command::key() const noexcept {
  if (!key_set_) {
    return {};
  }
  return std::string_view(body_).substr(key_off_, key_len_);
}

std::string Command::header() const {
  char buf[24];
  buf[0] = '*';
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 2, argc_);
  (void)ec;
  *end++ = '\r';
  *end++ = '\n';
  return std::string(buf, static_cast<std::size_t>(end - buf));
}

std::string Endpoint::to_string() const {
  std::string out;
  if (host.find(':') != std::string::npos) {
    out = "[" + host + "]";
  } else {
    out = host;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace yg::redis
