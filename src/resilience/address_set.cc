#include "resilience/address_set.h"

#include <charconv>

namespace yg::resilience {
namespace ip = boost::asio::ip;

Addr16 to_addr16(const ip::address& a) {
  if (a.is_v6()) {
    return a.to_v6().to_bytes();  // v4-mapped addresses are already in the common form
  }
  return ip::make_address_v6(ip::v4_mapped, a.to_v4()).to_bytes();
}

namespace {

bool in_range(const Addr16& a, const Addr16& net, unsigned bits) {
  unsigned i = 0;
  for (; bits >= 8; bits -= 8, ++i) {
    if (a[i] != net[i]) {
      return false;
    }
  }
  if (bits == 0) {
    return true;
  }
  const auto mask = static_cast<uint8_t>(0xFF << (8 - bits));
  return (a[i] & mask) == (net[i] & mask);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// An X-Forwarded-For hop: a bare address, or "[v6]" / "v4:port" as some proxies write them.
std::optional<ip::address> parse_hop(std::string_view s) {
  s = trim(s);
  if (s.size() > 2 && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    s = s.substr(1, close - 1);
  } else if (s.find(':') == s.rfind(':') && s.find(':') != std::string_view::npos &&
             s.find('.') != std::string_view::npos) {
    s = s.substr(0, s.find(':'));  // a.b.c.d:port
  }
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(s), ec);
  if (ec) {
    return std::nullopt;
  }
  return a;
}

}  // namespace

std::optional<AddressSet> AddressSet::parse(const std::vector<std::string>& entries) {
  AddressSet set;
  for (const auto& e : entries) {
    const auto slash = e.find('/');
    boost::system::error_code ec;
    const auto a = ip::make_address(e.substr(0, slash), ec);
    if (ec) {
      return std::nullopt;
    }
    const bool v4 = a.is_v4();
    unsigned bits = v4 ? 32 : 128;
    if (slash != std::string::npos) {
      const char* b = e.data() + slash + 1;
      const char* end = e.data() + e.size();
      auto [p, rc] = std::from_chars(b, end, bits);
      if (rc != std::errc{} || p != end || bits > (v4 ? 32u : 128u)) {
        return std::nullopt;
      }
    }
    set.ranges_.push_back({to_addr16(a), v4 ? bits + 96 : bits});
  }
  return set;
}

bool AddressSet::contains(const ip::address& a) const {
  const auto k = to_addr16(a);
  for (const auto& r : ranges_) {
    if (in_range(k, r.net, r.bits)) {
      return true;
    }
  }
  return false;
}

ip::address client_address(const ip::address& peer, std::string_view xff,
                           const AddressSet& trusted) {
  ip::address client = peer;
  if (trusted.empty() || !trusted.contains(peer)) {
    return client;
  }
  // Right to left: each hop was appended by the proxy in front of the next one.
  std::size_t end = xff.size();
  for (;;) {
    const auto comma = xff.rfind(',', end == 0 ? 0 : end - 1);
    const std::size_t begin = comma == std::string_view::npos || end == 0 ? 0 : comma + 1;
    const auto hop_text = xff.substr(begin, end - begin);
    if (trim(hop_text).empty()) {
      return client;
    }
    const auto hop = parse_hop(hop_text);
    if (!hop) {
      return client;
    }
    client = *hop;
    if (!trusted.contains(client) || begin == 0) {
      return client;
    }
    end = begin - 1;
  }
}

}  // namespace yg::resilience
