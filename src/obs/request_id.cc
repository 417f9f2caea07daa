#include "obs/request_id.h"

#include <array>
#include <cstdint>
#include <random>

namespace yg::obs {

bool is_sane_request_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::string new_request_id() {
  thread_local std::mt19937_64 gen{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t v = gen();
    for (int i = 0; i < 16; ++i) {
      out[half * 16 + i] = kHex[v & 0xf];
      v >>= 4;
    }
  }
  return out;
}

std::string request_id_for(std::string_view client_value) {
  if (is_sane_request_id(client_value)) {
    return std::string(client_value);
  }
  return new_request_id();
}

}  // namespace yg::obs
