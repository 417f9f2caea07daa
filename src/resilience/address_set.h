#pragma once
// Client addresses: IPv4 and IPv6 in one 16-byte form (IPv4 as ::ffff:a.b.c.d), CIDR range sets
// for ip_filter and server.trusted_proxies, and the client address behind trusted proxies
// (FEATURES.md OPS-3, SEC-*).

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace yg::resilience {

using Addr16 = std::array<uint8_t, 16>;
Addr16 to_addr16(const boost::asio::ip::address& a);

// A set of addresses and CIDR ranges ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7").
class AddressSet {
 public:
  // nullopt when an entry does not parse (the config layer has already checked them).
  static std::optional<AddressSet> parse(const std::vector<std::string>& entries);
  bool contains(const boost::asio::ip::address& a) const;
  bool empty() const noexcept { return ranges_.empty(); }

 private:
  struct Range {
    Addr16 net{};
    unsigned bits = 0;  // prefix length in the 128-bit form
  };
  std::vector<Range> ranges_;
};

// The client's address: the peer itself unless the peer is a trusted proxy; then X-Forwarded-For
// is walked from the right (the hop our peer added) past every trusted proxy, and the first
// address that is not one is the client. A malformed entry stops the walk at the last good hop
// (never trusting what a client could have written). `xff` holds every X-Forwarded-For field
// value, comma-joined in order.
boost::asio::ip::address client_address(const boost::asio::ip::address& peer, std::string_view xff,
                                        const AddressSet& trusted);

}  // namespace yg::resilience
