#pragma once
// Lowercase hex encoding (SigV4 hashes and signatures, request and trace ids).

#include <cstddef>
#include <string>

namespace yg {

inline void append_hex(std::string& out, const unsigned char* data, std::size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const std::size_t base = out.size();
  out.resize(base + 2 * len);
  for (std::size_t i = 0; i < len; ++i) {
    out[base + 2 * i] = kDigits[data[i] >> 4];
    out[base + 2 * i + 1] = kDigits[data[i] & 0x0f];
  }
}

}  // namespace yg
