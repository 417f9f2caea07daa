#include "redis/slot.h"

namespace yg::redis {

uint16_t crc16(std::string_view data) noexcept {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<uint16_t>(crc ^ (c << 8));
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

uint16_t key_slot(std::string_view key) noexcept {
  // Cluster spec: hash only the substring between the first '{' and the first '}' after it,
  // if that substring is non-empty; otherwise the whole key.
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<uint16_t>(crc16(key) & (kSlots - 1));
}

}  // namespace yg::redis
