#include "obs/request_id.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>

#include "core/hex.h"

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

void random_bytes(unsigned char* out, std::size_t n) {
  thread_local std::mt19937_64 gen = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }();
  for (std::size_t i = 0; i < n; i += 8) {
    uint64_t r = gen();
    for (std::size_t j = i; j < std::min(n, i + 8); ++j) {
      out[j] = static_cast<unsigned char>(r);
      r >>= 8;
    }
  }
}

std::string new_request_id() {
  unsigned char raw[16];
  random_bytes(raw, sizeof(raw));
  std::string out;
  append_hex(out, raw, sizeof(raw));
  return out;
}

std::string request_id_for(std::string_view client_value) {
  if (is_sane_request_id(client_value)) {
    return std::string(client_value);
  }
  return new_request_id();
}

}  // namespace yg::obs
